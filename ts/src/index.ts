/**
 * Connect-ES client helpers for servers protected by connectjwt.
 *
 * - {@link authErrorOf} reads the `connectjwt.v1.AuthError` detail that
 *   connectjwt attaches to every authentication or authorization error.
 * - {@link createAuthInterceptor} sends `Authorization: Bearer <access token>`
 *   from a {@link TokenStore} and, when a unary call fails because the access
 *   token expired, refreshes it once (shared by concurrent calls) and retries.
 * - {@link login} calls `AuthService.Login` and stores the returned pair.
 *
 * The generated `connectjwt.v1` types (AuthError, Reason, AuthService,
 * TokenPair, ...) are re-exported.
 *
 * @packageDocumentation
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { CallOptions, Client, Interceptor } from "@connectrpc/connect";
import {
  AuthErrorSchema,
  Reason,
  type AuthError,
} from "./gen/connectjwt/v1/auth_error_pb.js";
import {
  AuthService,
  type TokenPair,
} from "./gen/connectjwt/v1/auth_service_pb.js";

export * from "./gen/connectjwt/v1/auth_error_pb.js";
export * from "./gen/connectjwt/v1/auth_service_pb.js";

/**
 * Returns the `connectjwt.v1.AuthError` detail of an error thrown by a
 * Connect client, or `undefined` if the error is not a ConnectError or
 * carries no such detail (for example a network failure).
 *
 * @example
 * ```ts
 * try {
 *   await client.protected({});
 * } catch (err) {
 *   if (authErrorOf(err)?.reason === Reason.EXPIRED) {
 *     // refresh and retry
 *   }
 * }
 * ```
 */
export function authErrorOf(err: unknown): AuthError | undefined {
  if (err === undefined || err === null) {
    return undefined;
  }
  return ConnectError.from(err).findDetails(AuthErrorSchema)[0];
}

/**
 * The tokens the interceptor reads. A `TokenPair` from `Login` or `Refresh`
 * satisfies it.
 */
export interface StoredTokens {
  /** Sent as `Authorization: Bearer <accessToken>`. */
  readonly accessToken: string;
  /** Exchanged for a new pair when the access token expires; may be empty. */
  readonly refreshToken: string;
}

/**
 * Where the interceptor reads the current tokens and writes refreshed ones.
 * Implement it to persist tokens elsewhere; {@link MemoryTokenStore} keeps
 * them in memory.
 */
export interface TokenStore {
  /** The current tokens, or `undefined` when logged out. */
  get(): StoredTokens | undefined;
  /** Replaces the tokens (after login or refresh); `undefined` clears them. */
  set(tokens: TokenPair | undefined): void;
}

/** A {@link TokenStore} that keeps the tokens in memory. */
export class MemoryTokenStore implements TokenStore {
  private tokens: StoredTokens | undefined;

  /** @param initial - tokens to start with, e.g. restored from storage. */
  constructor(initial?: StoredTokens) {
    this.tokens = initial;
  }

  get(): StoredTokens | undefined {
    return this.tokens;
  }

  /** Accepts a `TokenPair` or any {@link StoredTokens}. */
  set(tokens: StoredTokens | undefined): void {
    this.tokens = tokens;
  }
}

/**
 * Exchanges a refresh token for a new token pair. Should throw (preferably a
 * ConnectError) when the refresh token is refused.
 */
export type RefreshFunction = (refreshToken: string) => Promise<TokenPair>;

/** Options for {@link createAuthInterceptor}. */
export interface AuthInterceptorOptions {
  /** Where the access and refresh tokens are read and refreshed ones written. */
  store: TokenStore;
  /**
   * How to refresh an expired access token: an `AuthService` client, or a
   * function. Without it, expired tokens are not refreshed.
   *
   * The `AuthService` client may use a transport that has this interceptor:
   * calls to `connectjwt.v1.AuthService` are passed through untouched.
   */
  refresh?: Client<typeof AuthService> | RefreshFunction;
  /** Call options for `AuthService.Refresh` when `refresh` is a client. */
  refreshCallOptions?: CallOptions;
  /**
   * How long a refresh answered `Reason.REFRESH_CONFLICT` waits for the
   * store to hold the tokens of the refresh that won, in milliseconds; by
   * default 2000.
   */
  refreshConflictWaitMs?: number;
}

const DEFAULT_REFRESH_CONFLICT_WAIT_MS = 2000;
const CONFLICT_POLL_MS = 25;

/**
 * Creates a Connect interceptor that authenticates calls with the access token
 * of `options.store`.
 *
 * - Every call (unary and streaming) gets `Authorization: Bearer <access>`,
 *   unless the store is empty or the call already sets `Authorization`.
 * - A unary call that fails with `Code.Unauthenticated` and
 *   `Reason.EXPIRED` is retried once after the token is refreshed through
 *   `options.refresh`. Concurrent failures share a single refresh, and a call
 *   whose token was already replaced by a finished refresh is retried without
 *   refreshing again. The refreshed pair is written to the store.
 * - No other error is retried, and streaming calls are never retried (their
 *   request messages may already have been consumed).
 * - If the refresh fails, the call rejects with the refresh error (a
 *   ConnectError; its {@link authErrorOf} says why, e.g. an expired or
 *   revoked refresh token means the user must log in again). If the store
 *   holds no refresh token or `options.refresh` is unset, the original error
 *   is thrown.
 * - Refresh tokens rotate on the server: each is good for one refresh. Tabs
 *   or windows of one app must therefore share token storage (a
 *   {@link TokenStore} over `localStorage`, say), not copies of it. When two
 *   of them refresh the same token at once, the server answers one with
 *   `Code.Aborted` / `Reason.REFRESH_CONFLICT`; that one waits up to
 *   `refreshConflictWaitMs` for the store to hold the other's new tokens and
 *   retries with them. If none arrive, the call rejects with the conflict
 *   error (nothing was revoked; a later call refreshes again).
 * - Calls to `connectjwt.v1.AuthService` are passed through unchanged.
 */
export function createAuthInterceptor(
  options: AuthInterceptorOptions,
): Interceptor {
  const { store } = options;
  const refresh = toRefreshFunction(options);
  const conflictWaitMs = options.refreshConflictWaitMs ?? DEFAULT_REFRESH_CONFLICT_WAIT_MS;
  let inflight: Promise<StoredTokens> | undefined;

  // Single flight: concurrent callers share one refresh.
  function refreshOnce(
    refresh: RefreshFunction,
    refreshToken: string,
  ): Promise<StoredTokens> {
    if (inflight !== undefined) {
      return inflight;
    }
    const p = (async () => {
      let tokens: TokenPair;
      try {
        tokens = await refresh(refreshToken);
      } catch (err) {
        if (!isRefreshConflict(err)) {
          throw err;
        }
        const other = await otherRefresh(store, refreshToken, conflictWaitMs);
        if (other === undefined) {
          throw err;
        }
        return other;
      }
      store.set(tokens);
      return tokens;
    })();
    const clear = () => {
      if (inflight === p) {
        inflight = undefined;
      }
    };
    inflight = p;
    p.then(clear, clear);
    return p;
  }

  return (next) => async (req) => {
    if (
      req.service.typeName === AuthService.typeName ||
      req.header.has("Authorization")
    ) {
      return next(req);
    }
    const used = store.get();
    if (used === undefined || used.accessToken === "") {
      return next(req);
    }
    req.header.set("Authorization", bearer(used.accessToken));
    if (req.stream || refresh === undefined) {
      return next(req);
    }
    try {
      return await next(req);
    } catch (err) {
      if (!isExpired(err)) {
        throw err;
      }
      const current = store.get();
      let fresh: StoredTokens;
      if (current === undefined) {
        throw err; // logged out meanwhile
      } else if (current.accessToken !== used.accessToken) {
        fresh = current; // another call already refreshed
      } else if (inflight !== undefined) {
        fresh = await inflight;
      } else if (current.refreshToken !== "") {
        fresh = await refreshOnce(refresh, current.refreshToken);
      } else {
        throw err;
      }
      const header = new Headers(req.header);
      header.set("Authorization", bearer(fresh.accessToken));
      return next({ ...req, header });
    }
  };
}

/**
 * Calls `AuthService.Login` with the credentials, stores the returned token
 * pair in `store` and returns it. Wrong credentials reject with a
 * ConnectError whose {@link authErrorOf} reason is
 * `Reason.INVALID_CREDENTIALS`.
 */
export async function login(
  client: Client<typeof AuthService>,
  username: string,
  password: string,
  store: TokenStore,
  callOptions?: CallOptions,
): Promise<TokenPair> {
  const res = await client.login({ username, password }, callOptions);
  const tokens = requireTokens(res.tokens, "Login");
  store.set(tokens);
  return tokens;
}

function toRefreshFunction(
  options: AuthInterceptorOptions,
): RefreshFunction | undefined {
  const r = options.refresh;
  if (r === undefined || typeof r === "function") {
    return r;
  }
  return async (refreshToken) => {
    const res = await r.refresh({ refreshToken }, options.refreshCallOptions);
    return requireTokens(res.tokens, "Refresh");
  };
}

function requireTokens(tokens: TokenPair | undefined, rpc: string): TokenPair {
  if (tokens === undefined || tokens.accessToken === "") {
    throw new ConnectError(
      `connectjwt: ${rpc} response has no access token`,
      Code.Internal,
    );
  }
  return tokens;
}

/**
 * Waits up to waitMs for the store to hold tokens other than the ones with
 * refresh token `used`: those of the refresh that redeemed it first.
 */
async function otherRefresh(
  store: TokenStore,
  used: string,
  waitMs: number,
): Promise<StoredTokens | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const current = store.get();
    if (current === undefined) {
      return undefined; // logged out meanwhile
    }
    if (current.refreshToken !== used && current.accessToken !== "") {
      return current;
    }
    if (Date.now() >= deadline) {
      return undefined;
    }
    await new Promise((resolve) => setTimeout(resolve, CONFLICT_POLL_MS));
  }
}

function isRefreshConflict(err: unknown): boolean {
  return (
    err instanceof ConnectError &&
    err.code === Code.Aborted &&
    authErrorOf(err)?.reason === Reason.REFRESH_CONFLICT
  );
}

function isExpired(err: unknown): boolean {
  return (
    err instanceof ConnectError &&
    err.code === Code.Unauthenticated &&
    authErrorOf(err)?.reason === Reason.EXPIRED
  );
}

function bearer(accessToken: string): string {
  return `Bearer ${accessToken}`;
}
