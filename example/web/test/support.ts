// Servers and the browser for the e2e test: the Go example, a static server
// for a second origin, and Debian's Chromium through playwright-core.
import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";

/** example/web (this file is example/web/test/support.ts). */
export const webRoot = fileURLToPath(new URL("../", import.meta.url));
export const repoRoot = resolve(webRoot, "..", "..");
export const distDir = join(webRoot, "dist");

const LAUNCH_TIMEOUT_MS = 30_000;

// The Go example is built and run by the TypeScript package's test support,
// shared with its own end-to-end tests.
export {
  buildExample,
  runExample as startExample,
  type ExampleServer,
} from "../../../ts/test/support/server.js";

export interface StaticServer {
  /** For example http://127.0.0.1:45678 */
  origin: string;
  close(): Promise<void>;
}

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * Serves the files of `dir` on a free loopback port: a second origin for the
 * same page, as a separate web server (a CDN, a Vite dev server) would.
 */
export async function startStatic(dir: string): Promise<StaticServer> {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
      const file = resolve(root, "." + (path === "/" ? "/index.html" : path));
      if (req.method !== "GET" || !file.startsWith(root + sep) || !(await stat(file)).isFile()) {
        throw new Error("not found");
      }
      const body = await readFile(file);
      res.writeHead(200, {
        "Content-Type": contentTypes[extname(file)] ?? "application/octet-stream",
        "Cache-Control": "no-cache",
      });
      res.end(body);
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not found\n");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Debian's chromium by default; CHROMIUM_PATH overrides. */
export const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/**
 * Launches headless Chromium. Playwright passes --headless and a fresh
 * --user-data-dir; the rest keeps Chromium off the network (this machine
 * has none) and fast to start.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    timeout: LAUNCH_TIMEOUT_MS,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
