/**
 * The example's browser client: log in, then call ProtectedService over
 * gRPC-web and over Connect with @connectrpc/connect-web, authenticated by
 * the @connectjwt/connectjwt interceptor.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  AuthService,
  MemoryTokenStore,
  createAuthInterceptor,
  login,
  type StoredTokens,
  type TokenPair,
} from "@connectjwt/connectjwt";
import {
  ProtectedResponseSchema,
  ProtectedService,
} from "../../../ts/src/gen/example/v1/example_pb.js";
import { resolveApiBase } from "./api.js";
import { describeError } from "./describe.js";
import "./app.css";

const CALL_TIMEOUT_MS = 10_000;
const STREAM_COUNT = 3;
const LOG_ENTRIES = 8;

function element<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) {
    throw new Error(`#${id} is missing from index.html`);
  }
  return el as T;
}

const ui = {
  apiOrigin: element("api-origin"),
  apiWarning: element("api-warning"),
  pageOrigin: element("page-origin"),
  form: element<HTMLFormElement>("login-form"),
  username: element<HTMLInputElement>("username"),
  password: element<HTMLInputElement>("password"),
  logout: element<HTMLButtonElement>("logout"),
  session: element("session"),
  autoRefresh: element<HTMLInputElement>("auto-refresh"),
  status: element<HTMLOutputElement>("status"),
  log: element<HTMLOListElement>("log"),
};

const api = resolveApiBase(location.href);
ui.apiOrigin.textContent = api.baseUrl;
ui.apiWarning.textContent = api.warning ?? "";
ui.pageOrigin.textContent = location.origin;

/**
 * Tokens are kept in memory only, never in localStorage or sessionStorage.
 * Web storage is readable by every script that runs on this origin: one XSS
 * bug or one compromised dependency could copy the refresh token, which stays
 * valid for 30 days and outlives the tab. In memory the tokens die with the
 * page (a reload means logging in again). Memory does not make XSS harmless
 * (injected code can still call the API while the page is open), but it
 * keeps the long-lived refresh token from being lifted and used elsewhere
 * later. An app that must survive reloads should keep the refresh token in
 * an HttpOnly, Secure, SameSite cookie set by its own backend instead.
 *
 * This store also shows on the page who is logged in and when the access
 * token expires, including after the interceptor refreshes it.
 */
class PageTokenStore extends MemoryTokenStore {
  username = "";

  override set(tokens: StoredTokens | TokenPair | undefined): void {
    super.set(tokens);
    showSession(this.username, tokens);
  }
}

const store = new PageTokenStore();

// Login and Refresh need no access token. The interceptor passes
// AuthService calls through untouched anyway.
const authClient = createClient(AuthService, createConnectTransport({ baseUrl: api.baseUrl }));

// With refresh: an expired access token is refreshed once (shared by
// concurrent calls) and the unary call retried. Without: the plain bearer
// interceptor, so the server's expired-token error reaches the page.
const withRefresh = createAuthInterceptor({ store, refresh: authClient });
const bearerOnly = createAuthInterceptor({ store });

type Protocol = "grpcweb" | "connect";
const protocolName: Record<Protocol, string> = { grpcweb: "gRPC-web", connect: "Connect" };

function protectedClient(protocol: Protocol, refresh: boolean): Client<typeof ProtectedService> {
  const options = { baseUrl: api.baseUrl, interceptors: [refresh ? withRefresh : bearerOnly] };
  const transport = protocol === "grpcweb" ? createGrpcWebTransport(options) : createConnectTransport(options);
  return createClient(ProtectedService, transport);
}

const clients = {
  refresh: { grpcweb: protectedClient("grpcweb", true), connect: protectedClient("connect", true) },
  plain: { grpcweb: protectedClient("grpcweb", false), connect: protectedClient("connect", false) },
};

function client(protocol: Protocol): Client<typeof ProtectedService> {
  return (ui.autoRefresh.checked ? clients.refresh : clients.plain)[protocol];
}

function showSession(username: string, tokens: StoredTokens | TokenPair | undefined): void {
  if (tokens === undefined || tokens.accessToken === "") {
    ui.session.dataset.loggedIn = "false";
    delete ui.session.dataset.expiresAt;
    ui.session.textContent = "Not logged in.";
    return;
  }
  ui.session.dataset.loggedIn = "true";
  let text = `Logged in as ${username}.`;
  if ("accessTokenExpiresAt" in tokens && tokens.accessTokenExpiresAt !== undefined) {
    const expiresAt = timestampDate(tokens.accessTokenExpiresAt);
    ui.session.dataset.expiresAt = String(expiresAt.getTime());
    text += ` Access token expires at ${expiresAt.toLocaleTimeString()}.`;
  }
  ui.session.textContent = text;
}

let seq = 0;

/** Runs one action and shows its result (or why it failed) in #status. */
async function run(label: string, action: () => Promise<string>): Promise<void> {
  const mySeq = ++seq;
  const before = store.get()?.accessToken;
  ui.status.dataset.state = "pending";
  ui.status.dataset.seq = String(mySeq);
  ui.status.textContent = `${label}…`;
  let state: "ok" | "error";
  let text: string;
  try {
    text = await action();
    state = "ok";
    const after = store.get()?.accessToken;
    if (before !== undefined && after !== undefined && before !== after) {
      text += "\n(the access token had expired: refreshed and retried)";
    }
  } catch (err) {
    text = `${label} failed: ${describeError(err)}`;
    state = "error";
  }
  if (mySeq !== seq) {
    return; // a later action owns the status now
  }
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  const entry = document.createElement("li");
  entry.textContent = `${new Date().toLocaleTimeString()} ${state === "ok" ? "ok" : "error"}: ${text.split("\n")[0]}`;
  ui.log.prepend(entry);
  while (ui.log.children.length > LOG_ENTRIES) {
    ui.log.lastElementChild?.remove();
  }
}

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  const username = ui.username.value;
  const password = ui.password.value;
  void run("Login", async () => {
    store.username = username;
    await login(authClient, username, password, store, { timeoutMs: CALL_TIMEOUT_MS });
    ui.password.value = "";
    return `Logged in as ${username}.`;
  });
});

ui.logout.addEventListener("click", () => {
  void run("Logout", async () => {
    store.set(undefined);
    return "Logged out: the tokens were dropped from memory.";
  });
});

for (const protocol of ["grpcweb", "connect"] as const) {
  element(`protected-${protocol}`).addEventListener("click", () => {
    const label = `Protected over ${protocolName[protocol]}`;
    void run(label, async () => {
      const res = await client(protocol).protected({}, { timeoutMs: CALL_TIMEOUT_MS });
      return `${label}: ${JSON.stringify(toJson(ProtectedResponseSchema, res))}`;
    });
  });
  element(`stream-${protocol}`).addEventListener("click", () => {
    const label = `ProtectedStream over ${protocolName[protocol]}`;
    void run(label, async () => {
      const got: string[] = [];
      const stream = client(protocol).protectedStream({ count: STREAM_COUNT }, { timeoutMs: CALL_TIMEOUT_MS });
      for await (const msg of stream) {
        got.push(`#${msg.sequence} hello ${msg.hello} (${msg.identity})`);
      }
      return `${label}: ${got.length} messages: ${got.join(", ")}`;
    });
  });
}
