// End-to-end tests against the Go example server (go run ./example) over the
// Connect, gRPC-web and gRPC transports of @connectrpc/connect-node.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  Code,
  ConnectError,
  createClient,
  type Client,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import {
  AuthService,
  MemoryTokenStore,
  Reason,
  authErrorOf,
  createAuthInterceptor,
  login,
  type TokenPair,
} from "../src/index.js";
import {
  ExpiredTokenErrorSchema,
  ProtectedService,
} from "../src/gen/example/v1/example_pb.js";
import { decodeJwt, expiredCopy, reSignJwt, verifyJwt } from "./support/jwt.js";
import { exampleExists, exampleMain, startExample, type ExampleServer } from "./support/server.js";

const CALL_TIMEOUT_MS = 10_000;
const TEST_TIMEOUT_MS = 30_000;

type MakeTransport = (baseUrl: string, interceptors: Interceptor[]) => Transport;

const transports: { name: string; make: MakeTransport; h2: boolean }[] = [
  {
    name: "Connect over HTTP/1.1",
    h2: false,
    make: (baseUrl, interceptors) =>
      createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors, defaultTimeoutMs: CALL_TIMEOUT_MS }),
  },
  {
    name: "Connect over HTTP/2",
    h2: true,
    make: (baseUrl, interceptors) =>
      createConnectTransport({ baseUrl, httpVersion: "2", interceptors, defaultTimeoutMs: CALL_TIMEOUT_MS }),
  },
  {
    name: "gRPC-web over HTTP/1.1",
    h2: false,
    make: (baseUrl, interceptors) =>
      createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors, defaultTimeoutMs: CALL_TIMEOUT_MS }),
  },
  {
    name: "gRPC (HTTP/2)",
    h2: true,
    make: (baseUrl, interceptors) =>
      // The gRPC transport always uses HTTP/2 (h2c for http:// URLs).
      createGrpcTransport({ baseUrl, interceptors, defaultTimeoutMs: CALL_TIMEOUT_MS }),
  },
];

/** Sends a fixed Authorization header (or none) on every call. */
function bearer(token: string | undefined): Interceptor {
  return (next) => async (req) => {
    if (token !== undefined) req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };
}

/** Counts calls to AuthService.Refresh made through a transport. */
function refreshCounter(): { count: number; interceptor: Interceptor } {
  const c = {
    count: 0,
    interceptor: ((next) => async (req) => {
      if (req.method.name === "Refresh") c.count++;
      return next(req);
    }) as Interceptor,
  };
  return c;
}

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const m of it) out.push(m);
  return out;
}

function assertAuthError(err: unknown, code: Code, reason: Reason): ConnectError {
  assert.ok(err instanceof ConnectError, `expected a ConnectError, got ${String(err)}`);
  assert.equal(Code[err.code], Code[code], `code (message: ${err.rawMessage})`);
  const detail = authErrorOf(err);
  assert.ok(detail !== undefined, `no connectjwt.v1.AuthError detail on: ${err.message}`);
  assert.equal(Reason[detail.reason], Reason[reason], `reason (message: ${err.rawMessage})`);
  return err;
}

describe("Go example server", { skip: exampleExists() ? false : `${exampleMain} does not exist yet`, timeout: 300_000 }, () => {
  let server: ExampleServer & { secret: string };

  before(async () => {
    server = await startExample();
  }, { timeout: 300_000 });

  after(async () => {
    await server?.stop();
  });

  /** Logs in with test/test over a plain transport. */
  async function freshTokens(make: MakeTransport): Promise<TokenPair> {
    const auth = createClient(AuthService, make(server.baseUrl, []));
    return login(auth, "test", "test", new MemoryTokenStore());
  }

  it("signs access and refresh tokens with JWT_SECRET_KEY (HS256, at+jwt / refresh+jwt)", async () => {
    const tokens = await freshTokens(transports[0]!.make);
    assert.equal(tokens.tokenType, "Bearer");
    assert.ok(tokens.expiresIn > 0n, "expires_in");
    assert.ok(tokens.accessTokenExpiresAt !== undefined, "access_token_expires_at");
    assert.ok(tokens.refreshTokenExpiresAt !== undefined, "refresh_token_expires_at");
    const access = decodeJwt(tokens.accessToken);
    const refresh = decodeJwt(tokens.refreshToken);
    assert.equal(access.header.alg, "HS256");
    assert.equal(access.header.typ, "at+jwt");
    assert.equal(refresh.header.typ, "refresh+jwt");
    assert.equal(access.payload.sub, "test");
    for (const claim of ["iat", "nbf", "exp", "jti"]) {
      assert.ok(claim in access.payload, `access token claim ${claim}`);
    }
    assert.equal(access.payload.fresh, true);
    assert.ok(
      verifyJwt(tokens.accessToken, server.secret),
      "the access token is not HS256-signed with the raw JWT_SECRET_KEY bytes; forged-token tests cannot work",
    );
    assert.ok(verifyJwt(tokens.refreshToken, server.secret), "refresh token signature");
  });

  for (const { name, make, h2 } of transports) {
    describe(name, { timeout: 120_000 }, () => {
      function protectedClient(...interceptors: Interceptor[]): Client<typeof ProtectedService> {
        return createClient(ProtectedService, make(server.baseUrl, interceptors));
      }
      function authClient(...interceptors: Interceptor[]): Client<typeof AuthService> {
        return createClient(AuthService, make(server.baseUrl, interceptors));
      }

      it("logs in and calls Protected and ProtectedStream with the token", { timeout: TEST_TIMEOUT_MS }, async () => {
        const store = new MemoryTokenStore();
        const tokens = await login(authClient(), "test", "test", store);
        assert.ok(tokens.accessToken.length > 0);
        assert.equal(store.get()?.accessToken, tokens.accessToken);
        const client = protectedClient(createAuthInterceptor({ store }));

        const res = await client.protected({});
        assert.equal(res.hello, "world");
        assert.equal(res.identity, "test");

        const msgs = await drain(client.protectedStream({ count: 3 }));
        assert.ok(msgs.length >= 3, `got ${msgs.length} stream messages`);
        for (const [i, m] of msgs.entries()) {
          assert.equal(m.hello, "world");
          assert.equal(m.sequence, i + 1);
          assert.equal(m.identity, "test");
        }
        assert.equal((await drain(client.protectedStream({ count: 0 }))).length, 3, "count 0 means 3");
        assert.equal((await drain(client.protectedStream({ count: 5 }))).length, 5);
      });

      if (h2) {
        it("authenticates client and bidi streams", { timeout: TEST_TIMEOUT_MS }, async () => {
          const store = new MemoryTokenStore();
          await login(authClient(), "test", "test", store);
          const client = protectedClient(createAuthInterceptor({ store }));
          const words = async function* () {
            yield { word: "a" };
            yield { word: "b" };
            yield { word: "c" };
          };
          const collected = await client.collect(words());
          assert.deepEqual(collected.words, ["a", "b", "c"]);
          assert.equal(collected.identity, "test");
          const texts = async function* () {
            yield { text: "one" };
            yield { text: "two" };
          };
          const echoed = await drain(client.chat(texts()));
          assert.deepEqual(echoed.map((m) => m.text), ["one", "two"]);
          assert.ok(echoed.every((m) => m.identity === "test"));
        });
      }

      it("rejects a missing token with REASON_MISSING", { timeout: TEST_TIMEOUT_MS }, async () => {
        const client = protectedClient();
        await assert.rejects(client.protected({}), (err) => {
          assertAuthError(err, Code.Unauthenticated, Reason.MISSING);
          return true;
        });
        await assert.rejects(drain(client.protectedStream({ count: 3 })), (err) => {
          assertAuthError(err, Code.Unauthenticated, Reason.MISSING);
          return true;
        });
      });

      it("rejects an expired token with REASON_EXPIRED and the example's ExpiredTokenError", { timeout: TEST_TIMEOUT_MS }, async () => {
        const tokens = await freshTokens(make);
        const expired = expiredCopy(tokens.accessToken, server.secret);
        const client = protectedClient(bearer(expired));
        await assert.rejects(client.protected({}), (err) => {
          const ce = assertAuthError(err, Code.Unauthenticated, Reason.EXPIRED);
          const detail = authErrorOf(ce)!;
          assert.ok(detail.expiredAt !== undefined, "AuthError.expired_at is set");
          assert.equal(detail.expiredAt.seconds, BigInt(decodeJwt(expired).payload.exp as number));
          const [custom] = ce.findDetails(ExpiredTokenErrorSchema);
          assert.ok(custom !== undefined, "no example.v1.ExpiredTokenError detail");
          assert.equal(custom.status, 401);
          assert.equal(custom.title, "Expired JWT");
          assert.equal(custom.detail, "The JWT has expired");
          return true;
        });
        await assert.rejects(drain(client.protectedStream({ count: 3 })), (err) => {
          const ce = assertAuthError(err, Code.Unauthenticated, Reason.EXPIRED);
          assert.equal(ce.findDetails(ExpiredTokenErrorSchema)[0]?.title, "Expired JWT");
          return true;
        });
      });

      it("rejects a bad signature with REASON_INVALID_SIGNATURE", { timeout: TEST_TIMEOUT_MS }, async () => {
        const tokens = await freshTokens(make);
        const forged = reSignJwt(tokens.accessToken, "a-different-key-of-at-least-32-bytes!!");
        const client = protectedClient(bearer(forged));
        await assert.rejects(client.protected({}), (err) => {
          assertAuthError(err, Code.Unauthenticated, Reason.INVALID_SIGNATURE);
          return true;
        });
      });

      it("rejects bad credentials with REASON_INVALID_CREDENTIALS", { timeout: TEST_TIMEOUT_MS }, async () => {
        const store = new MemoryTokenStore();
        for (const [user, pass] of [["test", "wrong"], ["nobody", "test"], ["", ""]] as const) {
          await assert.rejects(login(authClient(), user, pass, store), (err) => {
            assertAuthError(err, Code.Unauthenticated, Reason.INVALID_CREDENTIALS);
            return true;
          });
        }
        assert.equal(store.get(), undefined);
      });

      it("refreshes an expired token once via AuthService.Refresh and retries", { timeout: TEST_TIMEOUT_MS }, async () => {
        const tokens = await freshTokens(make);
        const expired = expiredCopy(tokens.accessToken, server.secret);
        const store = new MemoryTokenStore({ accessToken: expired, refreshToken: tokens.refreshToken });
        const counter = refreshCounter();
        const client = protectedClient(createAuthInterceptor({ store, refresh: authClient(counter.interceptor) }));

        const res = await client.protected({});
        assert.equal(res.hello, "world");
        assert.equal(res.identity, "test");
        assert.equal(counter.count, 1);
        const stored = store.get()!;
        assert.notEqual(stored.accessToken, expired);
        assert.notEqual(stored.refreshToken, "");
        assert.equal(decodeJwt(stored.accessToken).payload.fresh, false, "a refreshed access token is not fresh");

        // The refreshed token keeps working, without another refresh.
        assert.equal((await client.protected({})).hello, "world");
        assert.ok((await drain(client.protectedStream({ count: 3 }))).length >= 3);
        assert.equal(counter.count, 1);
      });

      it("shares one Refresh between concurrent calls", { timeout: TEST_TIMEOUT_MS }, async () => {
        const tokens = await freshTokens(make);
        const store = new MemoryTokenStore({
          accessToken: expiredCopy(tokens.accessToken, server.secret),
          refreshToken: tokens.refreshToken,
        });
        let refreshes = 0;
        const auth = authClient();
        const client = protectedClient(
          createAuthInterceptor({
            store,
            refresh: async (refreshToken) => {
              refreshes++;
              const res = await auth.refresh({ refreshToken });
              return res.tokens!;
            },
          }),
        );
        const results = await Promise.all(Array.from({ length: 8 }, () => client.protected({})));
        assert.equal(refreshes, 1);
        for (const r of results) assert.equal(r.hello, "world");
      });

      /**
       * Two tabs: their own interceptors, the given stores, refreshes that
       * start together (so both present the same refresh token). Returns
       * what each refresh threw, and the results of one call per tab.
       */
      async function twoTabs(stores: [MemoryTokenStore, MemoryTokenStore], refreshConflictWaitMs?: number) {
        const auth = authClient();
        const refreshErrors: unknown[] = [];
        let arrived = 0;
        let release!: () => void;
        const bothIn = new Promise<void>((resolve) => (release = resolve));
        const tab = (store: MemoryTokenStore) =>
          protectedClient(
            createAuthInterceptor({
              store,
              refreshConflictWaitMs,
              refresh: async (refreshToken) => {
                if (++arrived === 2) release();
                await bothIn;
                try {
                  return (await auth.refresh({ refreshToken })).tokens!;
                } catch (err) {
                  refreshErrors.push(err);
                  throw err;
                }
              },
            }),
          );
        const results = await Promise.allSettled(stores.map((store) => tab(store).protected({})));
        return { refreshErrors, results };
      }

      it("two tabs sharing token storage: the loser of a refresh race (REFRESH_CONFLICT) uses the winner's tokens", { timeout: TEST_TIMEOUT_MS }, async () => {
        const tokens = await freshTokens(make);
        const shared = new MemoryTokenStore({
          accessToken: expiredCopy(tokens.accessToken, server.secret),
          refreshToken: tokens.refreshToken,
        });
        const { refreshErrors, results } = await twoTabs([shared, shared]);
        assert.equal(refreshErrors.length, 1, "exactly one of the two refreshes loses");
        assertAuthError(refreshErrors[0], Code.Aborted, Reason.REFRESH_CONFLICT);
        for (const r of results) {
          assert.equal(r.status, "fulfilled", r.status === "rejected" ? String(r.reason) : "");
          assert.equal(r.status === "fulfilled" && r.value.hello, "world");
        }
        assert.notEqual(shared.get()?.refreshToken, tokens.refreshToken, "the store holds the winner's tokens");
        // The conflict revoked nothing: the winner's refresh token still works.
        const next = await authClient().refresh({ refreshToken: shared.get()!.refreshToken });
        assert.ok(next.tokens?.accessToken);
      });

      it("two tabs with copies of the tokens: the loser rejects with REFRESH_CONFLICT", { timeout: TEST_TIMEOUT_MS }, async () => {
        const tokens = await freshTokens(make);
        const copy = () =>
          new MemoryTokenStore({ accessToken: expiredCopy(tokens.accessToken, server.secret), refreshToken: tokens.refreshToken });
        const stores: [MemoryTokenStore, MemoryTokenStore] = [copy(), copy()];
        const { refreshErrors, results } = await twoTabs(stores, 200);
        assert.equal(refreshErrors.length, 1);
        const rejected = results.filter((r) => r.status === "rejected");
        assert.equal(rejected.length, 1, "one tab succeeds, one rejects");
        assertAuthError((rejected[0] as PromiseRejectedResult).reason, Code.Aborted, Reason.REFRESH_CONFLICT);
      });

      it("does not retry streams, and never refreshes for other reasons", { timeout: TEST_TIMEOUT_MS }, async () => {
        const tokens = await freshTokens(make);
        const counter = refreshCounter();
        const expiredStore = new MemoryTokenStore({
          accessToken: expiredCopy(tokens.accessToken, server.secret),
          refreshToken: tokens.refreshToken,
        });
        const streaming = protectedClient(createAuthInterceptor({ store: expiredStore, refresh: authClient(counter.interceptor) }));
        await assert.rejects(drain(streaming.protectedStream({ count: 3 })), (err) => {
          assertAuthError(err, Code.Unauthenticated, Reason.EXPIRED);
          return true;
        });
        assert.equal(counter.count, 0);

        const badStore = new MemoryTokenStore({
          accessToken: reSignJwt(tokens.accessToken, "a-different-key-of-at-least-32-bytes!!"),
          refreshToken: tokens.refreshToken,
        });
        const bad = protectedClient(createAuthInterceptor({ store: badStore, refresh: authClient(counter.interceptor) }));
        await assert.rejects(bad.protected({}), (err) => {
          assertAuthError(err, Code.Unauthenticated, Reason.INVALID_SIGNATURE);
          return true;
        });
        assert.equal(counter.count, 0);
      });

      it("surfaces the Refresh error when the refresh token is refused", { timeout: TEST_TIMEOUT_MS }, async () => {
        const tokens = await freshTokens(make);
        const counter = refreshCounter();
        const expired = expiredCopy(tokens.accessToken, server.secret);
        const store = new MemoryTokenStore({
          accessToken: expired,
          // A refresh token that does not verify.
          refreshToken: reSignJwt(tokens.refreshToken, "a-different-key-of-at-least-32-bytes!!"),
        });
        const client = protectedClient(createAuthInterceptor({ store, refresh: authClient(counter.interceptor) }));
        await assert.rejects(client.protected({}), (err) => {
          assertAuthError(err, Code.Unauthenticated, Reason.INVALID_SIGNATURE);
          return true;
        });
        assert.equal(counter.count, 1);
        assert.equal(store.get()?.accessToken, expired, "the store is unchanged");
      });
    });
  }
});
