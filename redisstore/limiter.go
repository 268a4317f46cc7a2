package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/connectjwt/connectjwt"
)

// LoginLimiter is a [connectjwt.LoginLimiter] in Redis, so that every
// server of a fleet counts the same failed logins: give it to
// [connectjwt.WithLoginLimiter]. It applies [connectjwt.LoginLimits] exactly
// as the in-memory limiter does, on the clock of Redis (so the servers'
// clocks do not matter). A username or peer is a hash at
// prefix+"login:"+key that expires a window plus the longest delay after
// its last failure. Like [Store], it fails closed: when Redis cannot
// answer, logins fail as unavailable.
type LoginLimiter struct {
	s      *Store
	limits connectjwt.LoginLimits
}

var _ connectjwt.LoginLimiter = (*LoginLimiter)(nil)

// NewLoginLimiter returns a LoginLimiter in client with limits (zero fields
// take the defaults); [WithPrefix] and [WithTimeout] apply. Its keys are
// small and few (one per failing username and peer, expiring), and an
// evicted one only forgets some failures, so it needs no eviction check.
func NewLoginLimiter(client redis.UniversalClient, limits connectjwt.LoginLimits, opts ...Option) *LoginLimiter {
	store := &Store{client: client, prefix: DefaultPrefix, timeout: DefaultTimeout}
	for _, o := range opts {
		if o != nil {
			o(store)
		}
	}
	return &LoginLimiter{s: store, limits: limits.WithDefaults()}
}

func (l *LoginLimiter) key(k string) string { return l.s.prefix + "login:" + k }

// Allow implements [connectjwt.LoginLimiter].
func (l *LoginLimiter) Allow(ctx context.Context, username, peer string) (time.Duration, error) {
	user, host := l.limits.LoginKeys(username, peer)
	return do(ctx, l.s, func(ctx context.Context) (time.Duration, error) {
		var now *redis.TimeCmd
		var until []*redis.StringCmd
		_, err := l.s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			now = p.Time(ctx)
			for _, k := range [...]string{user, host} {
				if k != "" {
					until = append(until, p.HGet(ctx, l.key(k), "until"))
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, err
		}
		redisNow, err := now.Result()
		if err != nil {
			return 0, err
		}
		var wait time.Duration
		for _, cmd := range until {
			untilMilli, err := cmd.Int64()
			switch {
			case errors.Is(err, redis.Nil):
				continue
			case err != nil:
				return 0, err
			}
			wait = max(wait, time.UnixMilli(untilMilli).Sub(redisNow))
		}
		return wait, nil
	})
}

// failScript records a failure of KEYS[1] at Redis's time. ARGV = {window
// ms, limit (negative: off), longest delay ms}. The delay is one second
// doubling with each failure over the limit, as
// connectjwt.LoginLimits.Backoff.
//
//nolint:gochecknoglobals // read-only; a Script computes its SHA once and runs by EVALSHA
var failScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit, maxb = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'n', 'last', 'until')
local n, last, untl = tonumber(v[1]) or 0, tonumber(v[2]) or 0, tonumber(v[3]) or 0
if now - last > window then
  n = 0
end
n = n + 1
if limit >= 0 and n > limit then
  local e = n - limit - 1
  local d = maxb
  if e < 40 then
    d = math.min(1000 * 2 ^ e, maxb)
  end
  untl = math.max(untl, now + d)
end
redis.call('HSET', KEYS[1], 'n', n, 'last', now, 'until', string.format('%d', untl))
redis.call('PEXPIRE', KEYS[1], window + maxb)
return n
`)

// Fail implements [connectjwt.LoginLimiter].
func (l *LoginLimiter) Fail(ctx context.Context, username, peer string) error {
	user, host := l.limits.LoginKeys(username, peer)
	window := strconv.FormatInt(l.limits.Window.Milliseconds(), 10)
	maxb := strconv.FormatInt(l.limits.MaxBackoff.Milliseconds(), 10)
	_, err := do(ctx, l.s, func(ctx context.Context) (struct{}, error) {
		for k, limit := range map[string]int{user: l.limits.PerUsername, host: l.limits.PerPeer} {
			if k == "" {
				continue
			}
			if err := failScript.Run(ctx, l.s.client, []string{l.key(k)}, window, strconv.Itoa(limit), maxb).Err(); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
	return err
}

// Succeed implements [connectjwt.LoginLimiter]: it forgets the username's
// failures.
func (l *LoginLimiter) Succeed(ctx context.Context, username, peer string) error {
	user, _ := l.limits.LoginKeys(username, peer)
	if user == "" {
		return nil
	}
	_, err := do(ctx, l.s, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, l.s.client.Del(ctx, l.key(user)).Err()
	})
	return err
}
