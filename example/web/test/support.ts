// Servers and the browser for the e2e test: the Go example, a static server
// for a second origin, and Debian's Chromium through playwright-core.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium, type Browser } from "playwright-core";

/** example/web (this file is example/web/test/support.ts). */
export const webRoot = fileURLToPath(new URL("../", import.meta.url));
export const repoRoot = resolve(webRoot, "..", "..");
export const distDir = join(webRoot, "dist");

const BUILD_TIMEOUT_MS = 240_000;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const LAUNCH_TIMEOUT_MS = 30_000;

/** Processes still running; killed if the test process exits early. */
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) {
    child.kill("SIGKILL");
  }
});

/**
 * Builds ./example into a temporary directory, or uses CONNECTJWT_EXAMPLE_BIN
 * when set (a binary built beforehand, e.g. by CI).
 */
export async function buildExample(): Promise<{ bin: string; cleanup: () => Promise<void> }> {
  const prebuilt = process.env.CONNECTJWT_EXAMPLE_BIN;
  if (prebuilt) {
    if (!existsSync(prebuilt)) {
      throw new Error(`CONNECTJWT_EXAMPLE_BIN=${prebuilt} does not exist`);
    }
    return { bin: prebuilt, cleanup: async () => {} };
  }
  const dir = await mkdtemp(join(tmpdir(), "connectjwt-web-"));
  const bin = join(dir, "example");
  try {
    await promisify(execFile)("go", ["build", "-o", bin, "./example"], {
      cwd: repoRoot,
      timeout: BUILD_TIMEOUT_MS,
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`go build ./example failed: ${e.stderr || e.message}`);
  }
  return { bin, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface ExampleServer {
  /** For example http://127.0.0.1:34567 */
  baseUrl: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the example on a free loopback port with `args` and `env` added,
 * and waits for its "listening on http://HOST:PORT" line.
 */
export async function startExample(bin: string, args: string[], env: Record<string, string>): Promise<ExampleServer> {
  const child = spawn(bin, ["-addr", "127.0.0.1:0", ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let out = "";
  const stop = async () => {
    await kill(child, exited);
    children.delete(child);
  };
  try {
    const baseUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`example did not start within ${START_TIMEOUT_MS} ms; output:\n${out}`)),
        START_TIMEOUT_MS,
      );
      child.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.stderr!.on("data", (chunk: Buffer) => {
        out += chunk.toString("utf8");
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`example exited early (code ${code}, signal ${signal}); output:\n${out}`));
      });
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    return { baseUrl, output: () => out, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return;
  }
  child.kill("SIGTERM");
  const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), STOP_TIMEOUT_MS).unref());
  if ((await Promise.race([exited, timeout])) === "timeout") {
    child.kill("SIGKILL");
    await exited;
  }
}

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
