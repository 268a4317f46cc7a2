// End-to-end: the page in headless Chromium against the Go example, over
// gRPC-web and Connect, from the example's own origin and from a second
// origin allowed by -cors-origin (and a third one that is not allowed).
//
// Needs: Go, Chromium (/usr/bin/chromium or CHROMIUM_PATH) and a built page
// (`npm run build`; `npm test` builds it). Screenshots go to
// <repo>/artifacts/web-e2e/ (git-ignored), or $ARTIFACTS_DIR.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import {
  buildExample,
  distDir,
  launchBrowser,
  repoRoot,
  startExample,
  startStatic,
  type ExampleServer,
  type StaticServer,
} from "./support.js";

const ACCESS_TTL_S = 4; // short, so the test can wait for a token to expire
const ACTION_TIMEOUT_MS = 15_000;
const TEST_TIMEOUT_MS = 60_000;
const artifacts = process.env.ARTIFACTS_DIR || join(repoRoot, "artifacts", "web-e2e");

const hello = '{"hello":"world","identity":"test"}';
const stream = /3 messages: #1 hello world \(test\), #2 hello world \(test\), #3 hello world \(test\)/;

interface Result {
  state: string;
  text: string;
}

/** Clicks `selector` and waits for the action it starts to finish. */
async function act(page: Page, selector: string): Promise<Result> {
  const status = page.locator("#status");
  const before = Number(await status.getAttribute("data-seq"));
  await page.click(selector);
  await page.waitForFunction(
    (prev) => {
      const el = document.getElementById("status")!;
      return Number(el.dataset.seq) > prev && el.dataset.state !== "pending";
    },
    before,
    { timeout: ACTION_TIMEOUT_MS },
  );
  return { state: (await status.getAttribute("data-state")) ?? "", text: (await status.textContent()) ?? "" };
}

async function expectOk(page: Page, selector: string, want: string | RegExp): Promise<string> {
  const r = await act(page, selector);
  assert.equal(r.state, "ok", `${selector}: ${r.text}`);
  if (typeof want === "string") {
    assert.ok(r.text.includes(want), `${selector}: want ${want}, got ${r.text}`);
  } else {
    assert.match(r.text, want, selector);
  }
  return r.text;
}

async function expectError(page: Page, selector: string, ...want: string[]): Promise<string> {
  const r = await act(page, selector);
  assert.equal(r.state, "error", `${selector}: ${r.text}`);
  for (const w of want) {
    assert.ok(r.text.includes(w), `${selector}: want ${JSON.stringify(w)}, got ${r.text}`);
  }
  return r.text;
}

async function logIn(page: Page): Promise<void> {
  await page.fill("#username", "test");
  await page.fill("#password", "test");
  await expectOk(page, "#login", "Logged in as test.");
  assert.equal(await page.getAttribute("#session", "data-logged-in"), "true");
}

/** All four calls: both RPCs over gRPC-web and Connect. */
async function callAll(page: Page): Promise<void> {
  // Streams first: they are never refreshed, so they need a fresh token.
  await expectOk(page, "#stream-grpcweb", stream);
  await expectOk(page, "#stream-connect", stream);
  await expectOk(page, "#protected-grpcweb", `Protected over gRPC-web: ${hello}`);
  await expectOk(page, "#protected-connect", `Protected over Connect: ${hello}`);
}

interface Watched {
  page: Page;
  /** Uncaught page errors and CSP violations. */
  problems: string[];
  /** URLs of the RPCs the page made. */
  rpcs: string[];
}

async function openPage(context: BrowserContext, url: string): Promise<Watched> {
  const page = await context.newPage();
  page.setDefaultTimeout(ACTION_TIMEOUT_MS);
  const problems: string[] = [];
  const rpcs: string[] = [];
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (/Content Security Policy/i.test(msg.text())) {
      problems.push(`console: ${msg.text()}`);
    }
  });
  page.on("request", (req) => {
    if (/\/(connectjwt|example)\.v1\.\w+\/\w+$/.test(new URL(req.url()).pathname)) {
      rpcs.push(req.url());
    }
  });
  const res = await page.goto(url, { waitUntil: "load", timeout: ACTION_TIMEOUT_MS });
  assert.equal(res?.status(), 200, `GET ${url}`);
  await page.waitForSelector("#status[data-state=idle]");
  return { page, problems, rpcs };
}

async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, name), fullPage: true });
}

describe("browser page", { timeout: 5 * TEST_TIMEOUT_MS }, () => {
  let cleanupBin: (() => Promise<void>) | undefined;
  let api: ExampleServer | undefined;
  let second: StaticServer | undefined; // allowed by -cors-origin
  let third: StaticServer | undefined; // not allowed
  let browser: Browser | undefined;

  before(
    async () => {
      assert.ok(existsSync(join(distDir, "index.html")), "the page is not built: run `npm run build` first");
      const built = await buildExample();
      cleanupBin = built.cleanup;
      second = await startStatic(distDir);
      third = await startStatic(distDir);
      api = await startExample(built.bin, ["-cors-origin", second.origin, "-web-dir", distDir], {
        JWT_SECRET_KEY: randomBytes(32).toString("hex"),
        JWT_ACCESS_TTL: `${ACCESS_TTL_S}s`,
      });
      browser = await launchBrowser();
    },
    { timeout: 300_000 },
  );

  after(
    async () => {
      await browser?.close().catch(() => {});
      await api?.stop();
      await second?.close();
      await third?.close();
      await cleanupBin?.();
    },
    { timeout: 30_000 },
  );

  test("same origin: log in, call both protocols, expired token shows the custom detail", { timeout: TEST_TIMEOUT_MS }, async () => {
    const context = await browser!.newContext({ viewport: { width: 1000, height: 900 } });
    try {
      const { page, problems, rpcs } = await openPage(context, `${api!.baseUrl}/`);
      assert.equal(await page.textContent("#api-origin"), api!.baseUrl);

      await logIn(page);
      await callAll(page);

      // Without auto-refresh, an expired token reaches the page as the
      // example's custom error: Flask's {status, title, detail}.
      await page.uncheck("#auto-refresh");
      const expiresAt = Number(await page.getAttribute("#session", "data-expires-at"));
      assert.ok(expiresAt > 0, "the page shows when the token expires");
      await page.waitForTimeout(Math.max(0, expiresAt - Date.now()) + 1_200);
      const expired = ["Expired JWT: The JWT has expired (status 401)", "AuthError: REASON_EXPIRED", "WWW-Authenticate: Bearer"];
      await expectError(page, "#protected-connect", "[unauthenticated] The JWT has expired", ...expired);
      await expectError(page, "#protected-grpcweb", ...expired);
      await expectError(page, "#stream-connect", ...expired);
      await screenshot(page, "same-origin-expired.png");

      // With auto-refresh, the interceptor refreshes once and retries.
      await page.check("#auto-refresh");
      await expectOk(page, "#protected-grpcweb", "refreshed and retried");
      await expectOk(page, "#protected-connect", hello);

      await screenshot(page, "same-origin.png");
      assert.deepEqual(problems, []);
      assert.ok(rpcs.length > 0 && rpcs.every((u) => u.startsWith(`${api!.baseUrl}/`)), rpcs.join("\n"));
    } finally {
      await context.close();
    }
  });

  test("second origin allowed by -cors-origin: both protocols work cross-origin", { timeout: TEST_TIMEOUT_MS }, async () => {
    const context = await browser!.newContext({ viewport: { width: 1000, height: 900 } });
    try {
      const url = `${second!.origin}/?api=${encodeURIComponent(api!.baseUrl)}`;
      const { page, problems, rpcs } = await openPage(context, url);
      assert.equal(await page.textContent("#api-origin"), api!.baseUrl);
      assert.equal(await page.textContent("#api-warning"), "");

      await logIn(page);
      await callAll(page);

      // Error details cross-origin: the AuthError of a gRPC-web error without
      // a body is in the Grpc-Status-Details-Bin header and WWW-Authenticate
      // is a header too; the page reads both only because they are exposed.
      await expectOk(page, "#logout", "Logged out");
      await expectError(page, "#protected-grpcweb", "AuthError: REASON_MISSING", "WWW-Authenticate: Bearer");
      await expectError(page, "#protected-connect", "AuthError: REASON_MISSING", "WWW-Authenticate: Bearer");

      await screenshot(page, "cross-origin.png");
      assert.deepEqual(problems, []);
      assert.ok(rpcs.length >= 7, rpcs.join("\n"));
      for (const u of rpcs) {
        assert.ok(u.startsWith(`${api!.baseUrl}/`), `cross-origin call went to ${u}`);
      }
      assert.notEqual(new URL(page.url()).origin, api!.baseUrl);
    } finally {
      await context.close();
    }
  });

  test("an origin not allowed: the browser blocks the calls", { timeout: TEST_TIMEOUT_MS }, async () => {
    const context = await browser!.newContext();
    try {
      const url = `${third!.origin}/?api=${encodeURIComponent(api!.baseUrl)}`;
      const { page } = await openPage(context, url);
      await page.fill("#username", "test");
      await page.fill("#password", "test");
      await expectError(page, "#login", "Login failed", "network or CORS failure");
      assert.equal(await page.getAttribute("#session", "data-logged-in"), "false");
    } finally {
      await context.close();
    }
  });

  test("?api= accepts loopback origins only", { timeout: TEST_TIMEOUT_MS }, async () => {
    const context = await browser!.newContext();
    try {
      const { page } = await openPage(context, `${api!.baseUrl}/?api=${encodeURIComponent("https://attacker.example")}`);
      assert.equal(await page.textContent("#api-origin"), api!.baseUrl);
      assert.match((await page.textContent("#api-warning")) ?? "", /only loopback hosts/);
    } finally {
      await context.close();
    }
  });
});
