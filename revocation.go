package connectjwt

import (
	"context"
	"sync"
	"time"
)

// A RevocationStore records revoked tokens (Flask's blocklist, with the
// writes that logout needs). Give it to [WithRevocationStore] in the options
// an [Issuer] and its [Validator] share: the validator checks every token
// against it, and the [AuthService] built on the issuer writes Logout and
// Revoke to it. A store shared by every server (see the redisstore module)
// makes a revocation effective across a fleet.
//
// IsRevoked reports a token as revoked when its jti was revoked, or when its
// identity was revoked at or after the token's iat (a token without iat
// counts as issued at the beginning of time). Identity revocations are keyed
// by identity alone: a validator that also trusts other issuers
// ([WithJWKS]) with the same store revokes their tokens of an equal identity
// too. [AuthService] only lets callers with tokens of its own issuer revoke.
// Implementations must fail closed: when they cannot answer, they return an
// error, and the call fails with [ErrUnavailable].
type RevocationStore interface {
	// IsRevoked reports whether the token with these verified claims has
	// been revoked.
	IsRevoked(ctx context.Context, claims *Claims) (bool, error)
	// RevokeToken revokes the token with this jti. The entry may be dropped
	// after until (the token's exp), when the token is dead anyway.
	RevokeToken(ctx context.Context, jti string, until time.Time) error
	// RevokeIdentity revokes every token of identity issued at or before
	// issuedBefore. Tokens of an [Issuer] carry iat in whole seconds, so
	// one issued later in the same second as issuedBefore is revoked too
	// (failing closed). The entry may be dropped after until (when the longest
	// lived token issued before then has expired).
	RevokeIdentity(ctx context.Context, identity string, issuedBefore, until time.Time) error
}

// DefaultStreamRevocationCheck is how often, by default, an open stream asks
// the revocation store again whether its token was revoked (see
// [WithStreamRevocationCheck]).
const DefaultStreamRevocationCheck = 30 * time.Second

// WithStreamRevocationCheck sets how often an open stream asks the
// [RevocationStore] ([WithRevocationStore]) again whether its token has been
// revoked, by default [DefaultStreamRevocationCheck]; zero or less turns it
// off, and a stream then sees a revocation only at its token's exp. A stream
// whose token is revoked ends as one whose token expires: its context is
// done, the next Send or Receive fails, and it ends with the revoked-token
// loader's error (REASON_REVOKED). A check that fails, panics or has not
// answered within the interval ends the stream with [ErrUnavailable]: fail
// closed. Unlike expiry, a revocation does not move the connection
// deadlines that [StreamDeadlines] sets, so a handler blocked in Send on a
// client that stopped reading is released only at exp plus one second.
// Without a revocation store it does nothing.
func WithStreamRevocationCheck(every time.Duration) ValidatorOption {
	return validatorOption(func(c *config) {
		c.streamRecheck = every
		c.streamRecheckOff = every <= 0
	})
}

// streamRecheckInterval is how often open streams ask the store again,
// or 0 for never.
func (c *config) streamRecheckInterval() time.Duration {
	if c.store == nil || c.streamRecheckOff {
		return 0
	}
	return c.streamRecheck
}

// MemoryStore is a [RevocationStore] in the memory of one process; its
// entries expire with the tokens they revoke. Use it for a single server or
// in tests; a fleet needs a shared store. Create it with [NewMemoryStore];
// it is safe for concurrent use.
type MemoryStore struct {
	now func() time.Time // the clock; nil means time.Now

	mu         sync.Mutex
	tokens     map[string]time.Time          // jti → until
	identities map[string]identityRevocation // identity → cutoff
	writes     int
}

type identityRevocation struct {
	issuedBefore, until time.Time
}

var _ RevocationStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

func (m *MemoryStore) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// IsRevoked implements [RevocationStore].
func (m *MemoryStore) IsRevoked(_ context.Context, c *Claims) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	if c.ID != "" {
		if until, ok := m.tokens[c.ID]; ok && now.Before(until) {
			return true, nil
		}
	}
	if r, ok := m.identities[c.Identity]; ok && now.Before(r.until) && !c.IssuedAt.After(r.issuedBefore) {
		return true, nil
	}
	return false, nil
}

// RevokeToken implements [RevocationStore].
func (m *MemoryStore) RevokeToken(_ context.Context, jti string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tokens == nil {
		m.tokens = map[string]time.Time{}
	}
	if until.After(m.tokens[jti]) {
		m.tokens[jti] = until
	}
	m.sweep()
	return nil
}

// RevokeIdentity implements [RevocationStore].
func (m *MemoryStore) RevokeIdentity(_ context.Context, identity string, issuedBefore, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.identities == nil {
		m.identities = map[string]identityRevocation{}
	}
	r := m.identities[identity]
	if issuedBefore.After(r.issuedBefore) {
		r.issuedBefore = issuedBefore
	}
	if until.After(r.until) {
		r.until = until
	}
	m.identities[identity] = r
	m.sweep()
	return nil
}

// sweep drops expired entries now and then, so memory follows the number of
// live revoked tokens.
func (m *MemoryStore) sweep() {
	m.writes++
	if m.writes%64 != 0 {
		return
	}
	now := m.clock()
	for k, until := range m.tokens {
		if !now.Before(until) {
			delete(m.tokens, k)
		}
	}
	for k, r := range m.identities {
		if !now.Before(r.until) {
			delete(m.identities, k)
		}
	}
}
