// Unit tests of the interceptor against in-memory services (no Go server).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type Client,
  type ConnectRouter,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
import {
  AuthErrorSchema,
  AuthService,
  MemoryTokenStore,
  Reason,
  TokenPairSchema,
  authErrorOf,
  createAuthInterceptor,
  login,
  type TokenPair,
} from "../src/index.js";
import { ProtectedService } from "../src/gen/example/v1/example_pb.js";

function authError(reason: Reason, message: string): ConnectError {
  return new ConnectError(message, Code.Unauthenticated, undefined, [
    { desc: AuthErrorSchema, value: create(AuthErrorSchema, { reason, message }) },
  ]);
}

function pair(n: number): TokenPair {
  return create(TokenPairSchema, {
    accessToken: `access-${n}`,
    refreshToken: `refresh-${n}`,
    tokenType: "Bearer",
  });
}

/**
 * A fake backend: "access-N" tokens are valid when N >= validFrom, older ones
 * expired; "refresh-N" refreshes to N+1. Records what it saw.
 */
function backend(opts: { validFrom?: number; refreshDelayMs?: number; refreshFails?: boolean } = {}) {
  const state = {
    validFrom: opts.validFrom ?? 2,
    refreshCalls: 0,
    protectedCalls: 0,
    seenAuth: [] as (string | null)[],
  };
  function check(ctx: HandlerContext): string {
    const h = ctx.requestHeader.get("Authorization");
    state.seenAuth.push(h);
    if (h === null) throw authError(Reason.MISSING, "missing");
    const m = /^Bearer access-(\d+)$/.exec(h);
    if (m === null) throw authError(Reason.INVALID_SIGNATURE, "bad signature");
    if (Number(m[1]) < state.validFrom) throw authError(Reason.EXPIRED, "expired");
    return `user-${m[1]}`;
  }
  const routes = ({ service }: ConnectRouter) => {
    service(ProtectedService, {
      async protected(_req, ctx) {
        state.protectedCalls++;
        return { hello: "world", identity: check(ctx) };
      },
      async *protectedStream(req, ctx) {
        const identity = check(ctx);
        for (let i = 1; i <= Math.max(3, req.count); i++) {
          yield { hello: "world", sequence: i, identity };
        }
      },
      async collect(reqs, ctx) {
        const identity = check(ctx);
        const words: string[] = [];
        for await (const r of reqs) words.push(r.word);
        return { words, identity };
      },
      async *chat(reqs, ctx) {
        const identity = check(ctx);
        for await (const r of reqs) yield { text: r.text, identity };
      },
    });
    service(AuthService, {
      async login(req) {
        if (req.username !== "test" || req.password !== "test") {
          throw authError(Reason.INVALID_CREDENTIALS, "bad credentials");
        }
        return { tokens: pair(state.validFrom) };
      },
      async refresh(req, ctx) {
        state.refreshCalls++;
        state.seenAuth.push(`refresh:${ctx.requestHeader.get("Authorization")}`);
        if (opts.refreshDelayMs) await new Promise((r) => setTimeout(r, opts.refreshDelayMs));
        if (opts.refreshFails) throw authError(Reason.EXPIRED, "refresh token expired");
        const m = /^refresh-(\d+)$/.exec(req.refreshToken);
        if (m === null) throw authError(Reason.INVALID_SIGNATURE, "bad refresh token");
        return { tokens: pair(Number(m[1]) + 1) };
      },
    });
  };
  const transport = (...interceptors: Interceptor[]) =>
    createRouterTransport(routes, { transport: { interceptors } });
  return { state, transport };
}

describe("authErrorOf", () => {
  it("returns the AuthError detail of a ConnectError", () => {
    const err = authError(Reason.EXPIRED, "token expired");
    assert.equal(authErrorOf(err)?.reason, Reason.EXPIRED);
    assert.equal(authErrorOf(err)?.message, "token expired");
  });
  it("returns undefined without the detail", () => {
    assert.equal(authErrorOf(new ConnectError("x", Code.Unauthenticated)), undefined);
    assert.equal(authErrorOf(new Error("x")), undefined);
    assert.equal(authErrorOf("x"), undefined);
    assert.equal(authErrorOf(undefined), undefined);
    assert.equal(authErrorOf(null), undefined);
  });
  it("reads timestamps", () => {
    const at = new Date("2026-01-02T03:04:05Z");
    const err = new ConnectError("expired", Code.Unauthenticated, undefined, [
      { desc: AuthErrorSchema, value: create(AuthErrorSchema, { reason: Reason.EXPIRED, expiredAt: timestampFromDate(at) }) },
    ]);
    assert.equal(authErrorOf(err)?.expiredAt?.seconds, BigInt(at.getTime() / 1000));
  });
});

describe("createAuthInterceptor", () => {
  function setup(opts: Parameters<typeof backend>[0] & { refresh?: "client" | "function" | "none" } = {}) {
    const b = backend(opts);
    const store = new MemoryTokenStore();
    const authClient = createClient(AuthService, b.transport());
    const refreshMode = opts.refresh ?? "client";
    const interceptor = createAuthInterceptor({
      store,
      ...(refreshMode === "client" ? { refresh: authClient } : {}),
      ...(refreshMode === "function"
        ? { refresh: async (rt: string) => (await authClient.refresh({ refreshToken: rt })).tokens! }
        : {}),
    });
    const client = createClient(ProtectedService, b.transport(interceptor));
    return { ...b, store, authClient, client };
  }

  it("logs in and stores the pair", async () => {
    const s = setup();
    const tokens = await login(s.authClient, "test", "test", s.store);
    assert.equal(tokens.accessToken, "access-2");
    assert.equal(s.store.get()?.refreshToken, "refresh-2");
  });

  it("rejects bad credentials with INVALID_CREDENTIALS and leaves the store alone", async () => {
    const s = setup();
    await assert.rejects(login(s.authClient, "test", "nope", s.store), (err) => {
      assert.equal(ConnectError.from(err).code, Code.Unauthenticated);
      assert.equal(authErrorOf(err)?.reason, Reason.INVALID_CREDENTIALS);
      return true;
    });
    assert.equal(s.store.get(), undefined);
  });

  it("sends no header when the store is empty", async () => {
    const s = setup();
    await assert.rejects(s.client.protected({}), (err) => authErrorOf(err)?.reason === Reason.MISSING);
    assert.deepEqual(s.state.seenAuth, [null]);
  });

  it("attaches the bearer token to unary and streaming calls", async () => {
    const s = setup();
    s.store.set(pair(2));
    assert.equal((await s.client.protected({})).identity, "user-2");
    const got = [];
    for await (const m of s.client.protectedStream({ count: 3 })) got.push(m.sequence);
    assert.deepEqual(got, [1, 2, 3]);
    const res = await s.client.collect(
      (async function* () {
        yield { word: "a" };
        yield { word: "b" };
      })(),
    );
    assert.deepEqual(res.words, ["a", "b"]);
    assert.deepEqual(s.state.seenAuth, ["Bearer access-2", "Bearer access-2", "Bearer access-2"]);
  });

  for (const mode of ["client", "function"] as const) {
    it(`refreshes an expired token once and retries (refresh ${mode})`, async () => {
      const s = setup({ refresh: mode });
      s.store.set(pair(1));
      const res = await s.client.protected({});
      assert.equal(res.identity, "user-2");
      assert.equal(s.state.refreshCalls, 1);
      assert.equal(s.store.get()?.accessToken, "access-2");
      assert.equal(s.store.get()?.refreshToken, "refresh-2");
      // Later calls use the new token without refreshing.
      await s.client.protected({});
      assert.equal(s.state.refreshCalls, 1);
    });
  }

  it("passes AuthService calls through when one transport serves both clients", async () => {
    const b = backend();
    const store = new MemoryTokenStore(pair(1));
    const shared: { auth?: Client<typeof AuthService> } = {};
    const transport = b.transport(createAuthInterceptor({ store, refresh: (rt) => shared.auth!.refresh({ refreshToken: rt }).then((r) => r.tokens!) }));
    shared.auth = createClient(AuthService, transport);
    const client = createClient(ProtectedService, transport);
    assert.equal((await client.protected({})).identity, "user-2");
    assert.equal(b.state.refreshCalls, 1);
    assert.deepEqual(b.state.seenAuth, ["Bearer access-1", "refresh:null", "Bearer access-2"]);
  });

  it("shares one refresh between concurrent failing calls", async () => {
    const s = setup({ refreshDelayMs: 50 });
    s.store.set(pair(1));
    const results = await Promise.all(Array.from({ length: 8 }, () => s.client.protected({})));
    assert.equal(s.state.refreshCalls, 1);
    for (const r of results) assert.equal(r.identity, "user-2");
  });

  it("does not refresh again for a call that failed after another call's refresh", async () => {
    const s = setup();
    s.store.set(pair(1));
    // Simulate: this call used access-1, but by the time it fails the store already holds access-2.
    const slow = createAuthInterceptor({
      store: s.store,
      refresh: async () => {
        throw new Error("must not refresh");
      },
    });
    const c = createClient(
      ProtectedService,
      s.transport(slow, (next) => async (req) => {
        try {
          return await next(req);
        } finally {
          s.store.set(pair(2));
        }
      }),
    );
    assert.equal((await c.protected({})).identity, "user-2");
  });

  it("retries at most once", async () => {
    const s = setup({ validFrom: 100 }); // refreshed tokens are still "expired"
    s.store.set(pair(1));
    await assert.rejects(s.client.protected({}), (err) => authErrorOf(err)?.reason === Reason.EXPIRED);
    assert.equal(s.state.refreshCalls, 1);
    assert.equal(s.state.protectedCalls, 2);
  });

  it("never refreshes for other reasons", async () => {
    const s = setup();
    s.store.set({ accessToken: "forged", refreshToken: "refresh-1" });
    await assert.rejects(s.client.protected({}), (err) => authErrorOf(err)?.reason === Reason.INVALID_SIGNATURE);
    assert.equal(s.state.refreshCalls, 0);
    assert.equal(s.state.protectedCalls, 1);
  });

  it("does not retry streams", async () => {
    const s = setup();
    s.store.set(pair(1));
    await assert.rejects(
      (async () => {
        for await (const _ of s.client.protectedStream({ count: 3 })) {
          // drain
        }
      })(),
      (err) => authErrorOf(err)?.reason === Reason.EXPIRED,
    );
    assert.equal(s.state.refreshCalls, 0);
  });

  it("surfaces the refresh error when the refresh fails", async () => {
    const s = setup({ refreshFails: true });
    s.store.set(pair(1));
    await assert.rejects(s.client.protected({}), (err) => {
      assert.equal(ConnectError.from(err).rawMessage, "refresh token expired");
      return true;
    });
    assert.equal(s.state.refreshCalls, 1);
    assert.equal(s.store.get()?.accessToken, "access-1");
  });

  it("throws the original error without a refresh token or refresh option", async () => {
    const s = setup({ refresh: "none" });
    s.store.set(pair(1));
    await assert.rejects(s.client.protected({}), (err) => authErrorOf(err)?.reason === Reason.EXPIRED);
    const s2 = setup();
    s2.store.set({ accessToken: "access-1", refreshToken: "" });
    await assert.rejects(s2.client.protected({}), (err) => authErrorOf(err)?.reason === Reason.EXPIRED);
    assert.equal(s2.state.refreshCalls, 0);
  });

  it("keeps an explicit Authorization header", async () => {
    const s = setup();
    s.store.set(pair(2));
    await assert.rejects(
      s.client.protected({}, { headers: { Authorization: "Bearer other" } }),
      (err) => authErrorOf(err)?.reason === Reason.INVALID_SIGNATURE,
    );
  });
});

