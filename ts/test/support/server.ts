// Builds and runs the Go example server (go run ./example) for e2e tests;
// example/web's tests use it too.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** The repository root (this file is ts/test/support/server.ts). */
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

export const exampleMain = join(repoRoot, "example", "main.go");

/**
 * CONNECTJWT_EXAMPLE_BIN: an already built example server to run instead of
 * building ./example (for example in CI after `go build -o bin/example ./example`).
 */
const prebuilt = process.env.CONNECTJWT_EXAMPLE_BIN;

/** Whether the Go example (or a prebuilt binary) exists at all. */
export function exampleExists(): boolean {
  return prebuilt ? existsSync(prebuilt) : existsSync(exampleMain);
}

export interface ExampleServer {
  /** For example http://127.0.0.1:34567 */
  baseUrl: string;
  /** Everything the server wrote so far. */
  output(): string;
  stop(): Promise<void>;
}

const BUILD_TIMEOUT_MS = 240_000;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/** Servers still running; killed if the test process exits early. */
const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) {
    child.kill("SIGKILL");
  }
});

/**
 * Builds ./example into a temporary directory, or uses CONNECTJWT_EXAMPLE_BIN
 * when set. Shared by this package's tests and the browser page's
 * (example/web).
 */
export async function buildExample(): Promise<{ bin: string; cleanup: () => Promise<void> }> {
  if (prebuilt) {
    if (!existsSync(prebuilt)) {
      throw new Error(`CONNECTJWT_EXAMPLE_BIN=${prebuilt} does not exist`);
    }
    return { bin: prebuilt, cleanup: async () => {} };
  }
  const dir = await mkdtemp(join(tmpdir(), "connectjwt-example-"));
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

/**
 * Runs the built example with `-addr 127.0.0.1:0` (the server picks a free
 * port) plus `args`, with `env` added to the environment, and waits for its
 * "listening on http://HOST:PORT" line, which carries the actual address.
 */
export async function runExample(bin: string, args: string[] = [], env: Record<string, string> = {}): Promise<ExampleServer> {
  const child = spawn(bin, ["-addr", "127.0.0.1:0", ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let out = "";
  const stop = async () => {
    await kill(child, exited);
    children.delete(child);
  };
  try {
    const baseUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`example did not print "listening on http://..." within ${START_TIMEOUT_MS} ms; output:\n${out}`)),
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

/**
 * Builds the example and runs it with a random JWT_SECRET_KEY, which the
 * result carries so tests can mint their own tokens.
 */
export async function startExample(): Promise<ExampleServer & { secret: string }> {
  const built = await buildExample();
  const secret = randomBytes(32).toString("hex"); // 64 bytes of key material
  try {
    const server = await runExample(built.bin, [], { JWT_SECRET_KEY: secret });
    return {
      ...server,
      secret,
      stop: async () => {
        await server.stop();
        await built.cleanup();
      },
    };
  } catch (err) {
    await built.cleanup();
    throw err;
  }
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), STOP_TIMEOUT_MS).unref());
  if ((await Promise.race([exited, timeout])) === "timeout") {
    child.kill("SIGKILL");
    await exited;
  }
}
