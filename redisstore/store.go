// Package redisstore is a [connectjwt.RevocationStore] in Redis, so that
// every server of a fleet sees the revocations made on any of them.
//
// Give one [Store] to [connectjwt.WithRevocationStore] in the options the
// issuer and the validator share; [connectjwt.AuthService] takes it from the
// issuer:
//
//	client := redis.NewClient(&redis.Options{Addr: "redis:6379", ContextTimeoutEnabled: true})
//	store, err := redisstore.New(ctx, client) // checks maxmemory-policy is noeviction
//	shared := connectjwt.WithOptions(connectjwt.WithKey(key), connectjwt.WithRevocationStore(store))
//	issuer, err := connectjwt.NewIssuer(shared)
//	validator, err := connectjwt.NewValidator(shared)
//
// The store answers exactly as [connectjwt.MemoryStore] does; its entries
// expire in Redis with the tokens they revoke. It fails closed: when Redis
// cannot answer within the store's timeout, IsRevoked returns an error and
// the call fails with [connectjwt.ErrUnavailable] (connect.CodeUnavailable),
// never letting a revoked token through.
//
// It is a module of its own, so that the connectjwt core does not depend on
// go-redis.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/connectjwt/connectjwt"
)

// Defaults of the options.
const (
	// DefaultPrefix is the prefix of every key the store writes.
	DefaultPrefix = "connectjwt:"
	// DefaultTimeout bounds every call of the store (see [WithTimeout]).
	DefaultTimeout = 500 * time.Millisecond
)

// Store is a [connectjwt.RevocationStore] in Redis. Create it with [New]; it
// is safe for concurrent use.
//
// A revoked token is a key prefix+"jti:"+jti that expires at the token's
// exp. A revoked identity is a key prefix+"sub:"+identity that holds the
// cutoff (tokens issued at or before it are revoked) as "<unix seconds>
// <nanoseconds> <expiry in unix milliseconds>" and expires when the last
// token it revokes has expired. Both are written by Lua scripts, so
// concurrent revocations never lower a cutoff or shorten an expiry. A
// revoked session is a key prefix+"sid:"+sid that expires at the session's
// end; a redeemed refresh token is a key prefix+"rt:"+jti holding the
// redemption time, set only if absent (atomically) and expiring with the
// token. Keys are
// not escaped: Redis keys are binary-safe, and the two namespaces differ in
// their prefix.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	logger  *slog.Logger
}

var _ connectjwt.RevocationStore = (*Store)(nil)

// An Option configures a [Store].
type Option func(*Store)

// WithPrefix sets the prefix of the store's keys, by default
// [DefaultPrefix]; services that share a Redis but not their tokens use
// different prefixes.
func WithPrefix(prefix string) Option {
	return func(s *Store) { s.prefix = prefix }
}

// WithTimeout bounds every call of the store, by default [DefaultTimeout]:
// a call returns an error when Redis has not answered by then (or by the
// context's own deadline, if that is earlier), so a hung Redis makes
// requests fail as unavailable instead of hanging them. Zero or less leaves
// only the context's deadline.
//
// go-redis honours context deadlines on its sockets only with
// redis.Options.ContextTimeoutEnabled; without it, the store still returns at
// the deadline, but the abandoned command holds its connection until the
// client's ReadTimeout.
func WithTimeout(d time.Duration) Option {
	return func(s *Store) { s.timeout = d }
}

// WithLogger sets where New logs that it could not check the eviction
// policy, by default [slog.Default].
func WithLogger(l *slog.Logger) Option {
	return func(s *Store) { s.logger = l }
}

// ErrEvictionPolicy is returned by [New] when Redis may evict the store's
// keys: its maxmemory-policy is not noeviction.
var ErrEvictionPolicy = errors.New("redisstore: Redis may evict revocations: set maxmemory-policy to noeviction")

// New returns a Store that keeps revocations in client, which may be a
// single server, a sentinel failover or a cluster client.
//
// The store needs a Redis that never evicts its keys: an evicted revocation
// makes a revoked token valid again, and an evicted redemption lets a
// refresh token be used twice. New asks every server (every master of a
// cluster) for its maxmemory-policy with CONFIG GET and returns an error
// wrapping [ErrEvictionPolicy] when one is not noeviction; when Redis
// cannot be reached, it returns that error. Managed Redis services often
// refuse CONFIG: then New logs a warning (see [WithLogger]) and returns the
// store, and making sure of noeviction, or of a dedicated instance that
// never fills, is the deployer's job.
func New(ctx context.Context, client redis.UniversalClient, opts ...Option) (*Store, error) {
	store := &Store{client: client, prefix: DefaultPrefix, timeout: DefaultTimeout, logger: slog.Default()}
	for _, o := range opts {
		if o != nil {
			o(store)
		}
	}
	if client == nil {
		return nil, errors.New("redisstore: no Redis client")
	}
	if err := store.checkEvictionPolicy(ctx); err != nil {
		return nil, err
	}
	return store, nil
}

// checkEvictionPolicy is New's startup check.
func (s *Store) checkEvictionPolicy(ctx context.Context) error {
	check := func(ctx context.Context, c redis.Cmdable) error {
		config, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		var rerr redis.Error
		if errors.As(err, &rerr) && !isNetworkError(err) {
			// CONFIG is disabled or not allowed (managed Redis, ACLs).
			s.logger.Warn("redisstore: cannot check Redis's maxmemory-policy; it must be noeviction, "+
				"or Redis may evict revocations and make revoked tokens valid again", "error", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("redisstore: checking maxmemory-policy: %w", err)
		}
		if policy, ok := config["maxmemory-policy"]; !ok || policy != "noeviction" {
			return fmt.Errorf("%w (it is %q)", ErrEvictionPolicy, policy)
		}
		return nil
	}
	_, err := do(ctx, s, func(ctx context.Context) (struct{}, error) {
		if cc, ok := s.client.(*redis.ClusterClient); ok {
			return struct{}{}, cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return check(ctx, c) })
		}
		return struct{}{}, check(ctx, s.client)
	})
	return err
}

// isNetworkError reports whether err is a failure to talk to Redis rather
// than an answer from it.
func isNetworkError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

func (s *Store) tokenKey(jti string) string         { return s.prefix + "jti:" + jti }
func (s *Store) identityKey(identity string) string { return s.prefix + "sub:" + identity }
func (s *Store) sessionKey(session string) string   { return s.prefix + "sid:" + session }
func (s *Store) redeemedKey(jti string) string      { return s.prefix + "rt:" + jti }

// IsRevoked implements [connectjwt.RevocationStore] in one round trip (one
// per node, in parallel, when the keys are on different cluster nodes): a
// token is revoked when its jti or its session (sid) was revoked, or when
// its identity was revoked with a cutoff at or after its iat (a token
// without iat counts as issued at the
// beginning of time). Any Redis error is returned, so the call fails closed.
func (s *Store) IsRevoked(ctx context.Context, claims *connectjwt.Claims) (bool, error) {
	if claims == nil {
		return false, errors.New("redisstore: no claims")
	}
	return do(ctx, s, func(ctx context.Context) (bool, error) {
		// A pipeline rather than MGET: the two keys may live in different
		// cluster slots.
		var token, session *redis.IntCmd
		var identity *redis.StringCmd
		_, err := s.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			if claims.ID != "" {
				token = pipe.Exists(ctx, s.tokenKey(claims.ID))
			}
			if claims.SessionID != "" {
				session = pipe.Exists(ctx, s.sessionKey(claims.SessionID))
			}
			identity = pipe.Get(ctx, s.identityKey(claims.Identity))
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return false, err
		}
		for _, cmd := range []*redis.IntCmd{token, session} {
			if cmd == nil {
				continue
			}
			n, err := cmd.Result()
			if err != nil {
				return false, err
			}
			if n > 0 {
				return true, nil
			}
		}
		revocation, err := identity.Result()
		switch {
		case errors.Is(err, redis.Nil):
			return false, nil
		case err != nil:
			return false, err
		}
		cutoff, err := parseCutoff(revocation)
		if err != nil {
			return false, err
		}
		return !claims.IssuedAt.After(cutoff), nil
	})
}

// revokeTokenScript sets KEYS[1] to ARGV[1], the entry's expiry in Unix
// milliseconds, and expires it then, unless it already holds a later one.
// An expiry in the past deletes the key.
//
//nolint:gochecknoglobals // read-only; a Script computes its SHA once and runs by EVALSHA
var revokeTokenScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '')
if cur and cur >= tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
`)

// RevokeToken implements [connectjwt.RevocationStore]: the key of c's jti
// expires at c's exp (the later one, when the token was already revoked). A
// token whose exp has passed is not written: it is dead anyway.
func (s *Store) RevokeToken(ctx context.Context, c *connectjwt.Claims) error {
	if c == nil || c.ID == "" {
		return connectjwt.ErrNoTokenID
	}
	return s.revokeUntil(ctx, s.tokenKey(c.ID), c.ExpiresAt)
}

// RevokeSession implements [connectjwt.RevocationStore]: the key of
// session expires at until (the later one, when it was already revoked).
func (s *Store) RevokeSession(ctx context.Context, session string, until time.Time) error {
	if session == "" {
		return errors.New("redisstore: no session to revoke")
	}
	return s.revokeUntil(ctx, s.sessionKey(session), until)
}

func (s *Store) revokeUntil(ctx context.Context, key string, until time.Time) error {
	if !time.Now().Before(until) {
		return nil
	}
	_, err := do(ctx, s, func(ctx context.Context) (struct{}, error) {
		ms := strconv.FormatInt(unixMilli(until), 10)
		return struct{}{}, revokeTokenScript.Run(ctx, s.client, []string{key}, ms).Err()
	})
	return err
}

// redeemScript sets KEYS[1] to ARGV[1], the redemption time in Unix
// milliseconds, expiring at ARGV[2], unless it exists; it returns {1, time}
// when it set it and {0, the time already there} otherwise. One script on
// one key: atomic on a single server and on a cluster.
//
//nolint:gochecknoglobals // read-only; a Script computes its SHA once and runs by EVALSHA
var redeemScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  return {1, ARGV[1]}
end
return {0, redis.call('GET', KEYS[1])}
`)

// RedeemRefreshToken implements [connectjwt.RevocationStore] with one
// atomic script, so that of two servers redeeming one refresh token at once
// exactly one is first. The entry (prefix+"rt:"+jti) expires with the
// token.
func (s *Store) RedeemRefreshToken(ctx context.Context, claims *connectjwt.Claims, redeemedAt time.Time) (bool, time.Time, error) {
	if claims == nil || claims.ID == "" {
		return false, time.Time{}, connectjwt.ErrNoTokenID
	}
	if !time.Now().Before(claims.ExpiresAt) {
		return false, time.Time{}, fmt.Errorf("redisstore: %w", connectjwt.ErrExpired)
	}
	type result struct {
		first bool
		at    time.Time
	}
	res, err := do(ctx, s, func(ctx context.Context) (result, error) {
		reply, err := redeemScript.Run(ctx, s.client, []string{s.redeemedKey(claims.ID)},
			strconv.FormatInt(unixMilli(redeemedAt), 10), strconv.FormatInt(unixMilli(claims.ExpiresAt), 10)).Slice()
		if err != nil {
			return result{}, err
		}
		if len(reply) != 2 {
			return result{}, errors.New("malformed redemption")
		}
		first, _ := reply[0].(int64)
		str, _ := reply[1].(string)
		ms, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return result{}, errors.New("malformed redemption")
		}
		return result{first == 1, time.UnixMilli(ms)}, nil
	})
	return res.first, res.at, err
}

// revokeIdentityScript merges the revocation ARGV = {cutoff seconds, cutoff
// nanoseconds, expiry in Unix milliseconds} into KEYS[1], which holds the
// same three numbers separated by spaces: the later cutoff and the later
// expiry win. Numbers are compared as Lua doubles, which are exact for all
// three (seconds and milliseconds stay far below 2^53), and written back as
// the strings they came as. An expiry in the past deletes the key.
//
//nolint:dupword,gochecknoglobals // Lua closes each block with "end"; read-only, a Script computes its SHA once
var revokeIdentityScript = redis.NewScript(`
local sec, nsec, untl = ARGV[1], ARGV[2], ARGV[3]
local cur = redis.call('GET', KEYS[1])
if cur then
  local s, n, u = string.match(cur, '^(%-?%d+) (%d+) (%-?%d+)$')
  if not s then
    return redis.error_reply('redisstore: malformed identity revocation')
  end
  if tonumber(s) > tonumber(sec) or (tonumber(s) == tonumber(sec) and tonumber(n) > tonumber(nsec)) then
    sec, nsec = s, n
  end
  if tonumber(u) > tonumber(untl) then
    untl = u
  end
end
redis.call('SET', KEYS[1], sec .. ' ' .. nsec .. ' ' .. untl)
redis.call('PEXPIREAT', KEYS[1], untl)
return 1
`)

// RevokeIdentity implements [connectjwt.RevocationStore]: it revokes every
// token of identity issued at or before issuedBefore, until until. An
// existing revocation keeps the later cutoff and the later expiry, even
// when revocations race.
func (s *Store) RevokeIdentity(ctx context.Context, identity string, issuedBefore, until time.Time) error {
	_, err := do(ctx, s, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, revokeIdentityScript.Run(ctx, s.client, []string{s.identityKey(identity)},
			strconv.FormatInt(issuedBefore.Unix(), 10),
			strconv.Itoa(issuedBefore.Nanosecond()),
			strconv.FormatInt(unixMilli(until), 10),
		).Err()
	})
	return err
}

// do runs call with the store's timeout and returns when call does or when the
// deadline passes, whichever is first, so a client that ignores context
// deadlines on its sockets cannot hold the caller. Errors are wrapped with
// the package name.
func do[T any](ctx context.Context, store *Store, call func(context.Context) (T, error)) (T, error) {
	var zero T
	if store == nil || store.client == nil {
		return zero, errors.New("redisstore: no Redis client")
	}
	if store.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, store.timeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return zero, fmt.Errorf("redisstore: %w", err)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := call(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return zero, fmt.Errorf("redisstore: %w", r.err)
		}
		return r.v, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("redisstore: %w", ctx.Err())
	}
}

// unixMilli is when in Unix milliseconds, kept within what Redis and Lua's
// doubles represent exactly: at least 1 (an expiry in the past) and at most
// 2^53-1 (the year 287396).
func unixMilli(when time.Time) int64 {
	const maxMilli = 1<<53 - 1
	switch {
	case when.Before(time.UnixMilli(1)):
		return 1
	case when.After(time.UnixMilli(maxMilli)):
		return maxMilli
	}
	return when.UnixMilli()
}

// parseCutoff reads the cutoff of an identity revocation, "sec nsec until".
func parseCutoff(v string) (time.Time, error) {
	f := strings.Fields(v)
	if len(f) != 3 {
		return time.Time{}, errors.New("malformed identity revocation")
	}
	sec, err1 := strconv.ParseInt(f[0], 10, 64)
	nsec, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || nsec < 0 || nsec >= 1e9 {
		return time.Time{}, errors.New("malformed identity revocation")
	}
	return time.Unix(sec, nsec), nil
}
