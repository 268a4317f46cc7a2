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
