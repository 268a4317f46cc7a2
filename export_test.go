package connectjwt

import (
	"context"
	"time"
)

// NewMemoryStoreAt returns a MemoryStore on the clock now, for tests.
func NewMemoryStoreAt(now func() time.Time) *MemoryStore { return &MemoryStore{now: now} }

// MemoryStoreSizes returns how many entries m holds, for tests.
func MemoryStoreSizes(m *MemoryStore) (tokens, identities, sessions, redeemed, heap int) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.tokens), len(m.identities), len(m.sessions), len(m.redeemed), len(m.expiry)
}

// SetLoginLimiterClock sets the clock of a limiter from NewLoginLimiter.
func SetLoginLimiterClock(l LoginLimiter, now func() time.Time) {
	if m, ok := l.(*memoryLimiter); ok {
		m.now = now
	}
}

// LoginLimiterSize returns how many keys a limiter from NewLoginLimiter
// holds.
func LoginLimiterSize(l LoginLimiter) int {
	m, ok := l.(*memoryLimiter)
	if !ok {
		return -1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// RevokedFunc is a RevocationStore whose IsRevoked calls the function and
// whose writes do nothing (every refresh token is redeemed first), for
// tests.
type RevokedFunc func(ctx context.Context, c *Claims) (bool, error)

func (f RevokedFunc) IsRevoked(ctx context.Context, c *Claims) (bool, error) { return f(ctx, c) }

func (RevokedFunc) RevokeToken(context.Context, *Claims) error { return nil }

func (RevokedFunc) RevokeIdentity(context.Context, string, time.Time, time.Time) error { return nil }

func (RevokedFunc) RevokeSession(context.Context, string, time.Time) error { return nil }

func (RevokedFunc) RedeemRefreshToken(_ context.Context, _ *Claims, at time.Time) (bool, time.Time, error) {
	return true, at, nil
}

// SetMemoryStoreClock sets the clock of m, for tests.
func SetMemoryStoreClock(m *MemoryStore, now func() time.Time) { m.now = now }

// SetRefreshConflictWait sets how long s waits for another refresh's tokens.
func SetRefreshConflictWait(s *Session, d time.Duration) { s.conflictWait = d }
