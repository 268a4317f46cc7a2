package connectjwt

import "time"

// SetMemoryStoreClock sets the clock of m, for tests.
func SetMemoryStoreClock(m *MemoryStore, now func() time.Time) { m.now = now }

// MemoryStoreSizes returns how many entries m holds, for tests.
func MemoryStoreSizes(m *MemoryStore) (tokens, identities, sessions, redeemed, heap int) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.tokens), len(m.identities), len(m.sessions), len(m.redeemed), len(m.expiry)
}

// SetLoginLimiterClock sets the clock of a limiter from NewLoginLimiter.
func SetLoginLimiterClock(l LoginLimiter, now func() time.Time) { l.(*memoryLimiter).now = now }

// LoginLimiterSize returns how many keys a limiter from NewLoginLimiter
// holds.
func LoginLimiterSize(l LoginLimiter) int {
	m := l.(*memoryLimiter)
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
