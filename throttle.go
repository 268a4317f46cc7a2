package connectjwt

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/netip"
	"sync"
	"time"
)

// A LoginLimiter throttles failed logins of [AuthService], per username and
// per peer (the client's network address), against password guessing. The
// default is an in-memory limiter ([NewLoginLimiter]); a fleet shares one in
// Redis (see the redisstore module). Implementations must be safe for
// concurrent use.
//
// Login asks Allow before checking the password, for every attempt, and
// reports the outcome with Fail or Succeed: the same calls whether or not
// the user exists, so the limiter adds no way to tell.
type LoginLimiter interface {
	// Allow returns how long a login for username from peer must wait,
	// or zero when it may be tried now. An error fails the login closed
	// as unavailable.
	Allow(ctx context.Context, username, peer string) (time.Duration, error)
	// Fail records a failed login.
	Fail(ctx context.Context, username, peer string) error
	// Succeed records a successful login: the username's failures are
	// forgotten (the peer's are not, so that one valid account does not
	// reset the count of a peer guessing others).
	Succeed(ctx context.Context, username, peer string) error
}

// LoginLimits configure [NewLoginLimiter] (and the Redis limiter of the
// redisstore module). Zero fields take the defaults.
//
// Each username and each peer may fail Limit times within Window (counted
// from its last failure); every further failure makes the next attempt wait
// twice as long as the one before, starting at one second, up to
// MaxBackoff. With the defaults a guesser gets 10 tries, then about 10 more
// over the next 17 minutes, then 4 an hour, per username; a user who
// mistyped waits a second after the 11th failure.
type LoginLimits struct {
	// PerUsername is how many failures a username may have before
	// attempts are delayed, by default 10; negative turns it off.
	PerUsername int
	// PerPeer is the same per peer address (IPv6 per /64), by default
	// 100; negative turns it off. Behind a proxy or load balancer every
	// client has the proxy's address: turn it off or raise it there.
	PerPeer int
	// Window is how long a failure is remembered after the last one, by
	// default 15 minutes.
	Window time.Duration
	// MaxBackoff caps the delay, by default Window.
	MaxBackoff time.Duration
	// MaxEntries bounds the memory of the in-memory limiter: it keeps the
	// most recently failing usernames and peers, by default 100,000
	// (about 20 MB at most).
	MaxEntries int
}

// Defaults of [LoginLimits].
const (
	DefaultLoginFailuresPerUsername = 10
	DefaultLoginFailuresPerPeer     = 100
	DefaultLoginFailureWindow       = 15 * time.Minute
	defaultLoginLimiterEntries      = 100_000
)

// WithDefaults returns l with its zero fields set to the defaults.
func (l LoginLimits) WithDefaults() LoginLimits {
	if l.PerUsername == 0 {
		l.PerUsername = DefaultLoginFailuresPerUsername
	}
	if l.PerPeer == 0 {
		l.PerPeer = DefaultLoginFailuresPerPeer
	}
	if l.Window <= 0 {
		l.Window = DefaultLoginFailureWindow
	}
	if l.MaxBackoff <= 0 {
		l.MaxBackoff = l.Window
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = defaultLoginLimiterEntries
	}
	return l
}

// Backoff returns how long the attempt after the given number of failures
// within the window must wait: zero up to limit, then one second doubling
// with each further failure, at most MaxBackoff.
func (l LoginLimits) Backoff(failures, limit int) time.Duration {
	if limit < 0 || failures <= limit {
		return 0
	}
	n := failures - limit - 1
	if n >= 40 {
		return l.MaxBackoff
	}
	return min(time.Second<<n, l.MaxBackoff)
}

// LoginKeys returns the keys a limiter counts failures under: the username
// (hashed when longer than 128 bytes, so keys stay small) and the peer's
// host (its /64 for IPv6, where one client holds a whole prefix). Either is
// empty when its limit is off.
func (l LoginLimits) LoginKeys(username, peer string) (user, host string) {
	if l.PerUsername >= 0 {
		if len(username) > 128 {
			sum := sha256.Sum256([]byte(username))
			username = "sha256:" + hex.EncodeToString(sum[:])
		}
		user = "user:" + username
	}
	if l.PerPeer >= 0 {
		host = "peer:" + peerHost(peer)
	}
	return user, host
}

func peerHost(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	addrIP, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addrIP = addrIP.Unmap()
	if addrIP.Is6() {
		p, _ := addrIP.Prefix(64)
		return p.String()
	}
	return addrIP.String()
}

// NewLoginLimiter returns the in-memory [LoginLimiter] of one process,
// bounded to limits.MaxEntries usernames and peers (the least recently
// failing are forgotten first). [NewAuthService] uses one with the default
// limits unless given [WithLoginLimiter].
func NewLoginLimiter(limits LoginLimits) LoginLimiter {
	return &memoryLimiter{limits: limits.WithDefaults(), entries: map[string]*list.Element{}, lru: list.New(), now: time.Now}
}

type memoryLimiter struct {
	limits LoginLimits
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // of *failures
	lru     *list.List               // front: most recent failure
}

type failures struct {
	key          string
	count        int
	last         time.Time
	blockedUntil time.Time
}

// Allow implements [LoginLimiter].
func (m *memoryLimiter) Allow(_ context.Context, username, peer string) (time.Duration, error) {
	user, host := m.limits.LoginKeys(username, peer)
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var wait time.Duration
	for _, k := range [...]string{user, host} {
		if e, ok := m.entries[k]; ok && k != "" {
			wait = max(wait, e.Value.(*failures).blockedUntil.Sub(now)) //nolint:errcheck,forcetypeassert // the list holds only *failures
		}
	}
	return wait, nil
}

// Fail implements [LoginLimiter].
func (m *memoryLimiter) Fail(_ context.Context, username, peer string) error {
	user, host := m.limits.LoginKeys(username, peer)
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, limit := range map[string]int{user: m.limits.PerUsername, host: m.limits.PerPeer} {
		if key == "" {
			continue
		}
		var fails *failures
		if e, ok := m.entries[key]; ok {
			fails = e.Value.(*failures) //nolint:errcheck,forcetypeassert // the list holds only *failures
			m.lru.MoveToFront(e)
		} else {
			if m.lru.Len() >= m.limits.MaxEntries {
				old := m.lru.Remove(m.lru.Back()).(*failures) //nolint:errcheck,forcetypeassert // the list holds only *failures
				delete(m.entries, old.key)
			}
			fails = &failures{key: key}
			m.entries[key] = m.lru.PushFront(fails)
		}
		if now.Sub(fails.last) > m.limits.Window {
			fails.count = 0
		}
		fails.count++
		fails.last = now
		if d := m.limits.Backoff(fails.count, limit); d > 0 {
			fails.blockedUntil = now.Add(d)
		}
	}
	return nil
}

// Succeed implements [LoginLimiter].
func (m *memoryLimiter) Succeed(_ context.Context, username, peer string) error {
	user, _ := m.limits.LoginKeys(username, peer)
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[user]; ok && user != "" {
		m.lru.Remove(e)
		delete(m.entries, user)
	}
	return nil
}

// WithLoginLimiter sets how [AuthService] throttles failed logins, by
// default [NewLoginLimiter] with the default [LoginLimits]. A login that
// must wait is refused before its password is checked, with
// connect.CodeResourceExhausted and REASON_TOO_MANY_ATTEMPTS, its
// AuthError's retry_after saying how long. nil turns throttling off (for a
// deployment that throttles in front of the service).
func WithLoginLimiter(l LoginLimiter) AuthServiceOption {
	return authServiceOption(func(s *AuthService) { s.limiter = l })
}

// throttled returns the failure to answer when the login must wait, or nil.
func (s *AuthService) throttled(ctx context.Context, username, peer string) *Failure {
	if s.limiter == nil {
		return nil
	}
	wait, err := s.limiter.Allow(ctx, username, peer)
	if err != nil {
		return failCause(ErrUnavailable, nil, err)
	}
	if wait <= 0 {
		return nil
	}
	f := fail(ErrTooManyAttempts, nil)
	f.RetryAfter = max(wait.Round(time.Second), time.Second)
	return f
}
