package connectjwt

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// A RevocationStore records revoked tokens (Flask's blocklist, with the
// writes that logout needs) and the refresh tokens already redeemed. Give it
// to [WithRevocationStore] in the options an [Issuer] and its [Validator]
// share: the validator checks every token against it, and the [AuthService]
// built on the issuer uses it for refresh-token rotation and writes Logout
// and Revoke to it. A store shared by every server (see the redisstore
// module) makes revocations and refresh-token rotation hold across a fleet.
//
// IsRevoked reports a token as revoked when its jti was revoked, when its
// session (the sid claim, [Claims.SessionID]) was revoked, or when its
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
	// RevokeToken revokes the token c (its jti, c.ID) until c.ExpiresAt,
	// when the token is dead anyway. A store may instead revoke every
	// token of c.Identity issued at or before c.IssuedAt (more, never
	// less), to bound its memory.
	RevokeToken(ctx context.Context, c *Claims) error
	// RevokeIdentity revokes every token of identity issued at or before
	// issuedBefore. Tokens of an [Issuer] carry iat in whole seconds, so
	// one issued later in the same second as issuedBefore is revoked too
	// (failing closed). The entry may be dropped after until (when the longest
	// lived token issued before then has expired).
	RevokeIdentity(ctx context.Context, identity string, issuedBefore, until time.Time) error
	// RevokeSession revokes every token whose sid claim is session: the
	// whole family of tokens descended from one login. The entry may be
	// dropped after until (the end of the session's absolute lifetime).
	RevokeSession(ctx context.Context, session string, until time.Time) error
	// RedeemRefreshToken marks the refresh token c (its jti) as used, at
	// most once and atomically, even across a fleet: of two concurrent
	// calls for one jti exactly one reports first. It returns when the
	// token was first redeemed (at, when this call was first). The entry
	// may be dropped after c.ExpiresAt.
	RedeemRefreshToken(ctx context.Context, c *Claims, at time.Time) (first bool, redeemedAt time.Time, err error)
}

// ErrNoTokenID is returned by a [RevocationStore] for a token without a jti,
// which cannot be revoked or redeemed on its own.
var ErrNoTokenID = errors.New("connectjwt: token has no jti")

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
// closed. As at expiry, under [StreamDeadlines] a handler blocked in
// Receive is released at once and one blocked in Send a second later.
// Without a revocation store it does nothing.
func WithStreamRevocationCheck(every time.Duration) ValidatorOption {
	return validatorOption(func(c *config) {
		c.streamRecheck = max(every, 0)
	})
}

// streamRecheckInterval is how often open streams ask the store again,
// or 0 for never.
func (c *config) streamRecheckInterval() time.Duration {
	if c.store == nil {
		return 0
	}
	return c.streamRecheck
}

// MaxRevokedTokensPerIdentity bounds how many revoked tokens of one identity
// a [MemoryStore] remembers one by one. Revoking one more folds them all
// into an identity revocation: every token of that identity issued at or
// before the newest of them is revoked, until the last of them expires. A
// user who revokes more than this many live tokens is logged out of the
// sessions started before the newest revoked token; a revocation is never
// forgotten before its token expires.
const MaxRevokedTokensPerIdentity = 1024

// MemoryStore is a [RevocationStore] in the memory of one process; its
// entries expire with the tokens they revoke. Use it for a single server or
// in tests; a fleet needs a shared store. Create it with [NewMemoryStore]
// (the zero MemoryStore is ready to use too); it is safe for concurrent use.
//
// IsRevoked costs a few map lookups under a read lock. Expired entries are
// dropped a few at a time by each write, in order of expiry, so no
// call ever scans the whole store; memory follows the number of live
// entries, and the revoked tokens of one identity are bounded by
// [MaxRevokedTokensPerIdentity].
type MemoryStore struct {
	now func() time.Time // nil means time.Now

	// Every entry of the maps has exactly one item in expiry, which orders
	// them by the time they may be dropped.
	mu         sync.RWMutex
	tokens     map[string]*revokedToken       // jti → revocation
	identities map[string]*identityRevocation // identity → cutoff
	sessions   map[string]*expiryItem         // sid → until
	redeemed   map[string]*redemption         // refresh jti → when
	byIdentity map[string]map[string]struct{} // identity → its revoked jtis
	expiry     expiryHeap
}

type revokedToken struct {
	expiryItem

	identity string
	issuedAt time.Time
}

type identityRevocation struct {
	expiryItem

	issuedBefore time.Time
}

type redemption struct {
	expiryItem

	at time.Time
}

var _ RevocationStore = (*MemoryStore)(nil)

// NewMemoryStore returns an empty [MemoryStore].
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

func (m *MemoryStore) clock() time.Time {
	if m.now != nil {
		return m.now()
	}
	return time.Now()
}

// IsRevoked implements [RevocationStore].
func (m *MemoryStore) IsRevoked(_ context.Context, c *Claims) (bool, error) {
	if c == nil {
		return false, errors.New("connectjwt: no claims")
	}
	now := m.clock()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if c.ID != "" {
		if r, ok := m.tokens[c.ID]; ok && now.Before(r.until) {
			return true, nil
		}
	}
	if c.SessionID != "" {
		if r, ok := m.sessions[c.SessionID]; ok && now.Before(r.until) {
			return true, nil
		}
	}
	if r, ok := m.identities[c.Identity]; ok && now.Before(r.until) && !c.IssuedAt.After(r.issuedBefore) {
		return true, nil
	}
	return false, nil
}

// RevokeToken implements [RevocationStore].
func (m *MemoryStore) RevokeToken(_ context.Context, c *Claims) error {
	if c == nil || c.ID == "" {
		return ErrNoTokenID
	}
	now := m.clock()
	if !now.Before(c.ExpiresAt) {
		return nil // dead anyway
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	if r, ok := m.tokens[c.ID]; ok {
		m.expiry.extend(&r.expiryItem, c.ExpiresAt)
		return nil
	}
	if m.tokens == nil {
		m.tokens = map[string]*revokedToken{}
		m.byIdentity = map[string]map[string]struct{}{}
	}
	r := &revokedToken{identity: c.Identity, issuedAt: c.IssuedAt, expiryItem: expiryItem{kind: expireToken, key: c.ID, until: c.ExpiresAt}}
	m.tokens[c.ID] = r
	m.expiry.add(&r.expiryItem)
	set := m.byIdentity[c.Identity]
	if set == nil {
		set = map[string]struct{}{}
		m.byIdentity[c.Identity] = set
	}
	set[c.ID] = struct{}{}
	if len(set) > MaxRevokedTokensPerIdentity {
		m.fold(c.Identity, set)
	}
	return nil
}

// fold replaces the revoked tokens of identity by one identity revocation
// that covers them all: O(MaxRevokedTokensPerIdentity log n), once per
// MaxRevokedTokensPerIdentity revocations.
func (m *MemoryStore) fold(identity string, set map[string]struct{}) {
	var cutoff, until time.Time
	for jti := range set {
		record := m.tokens[jti]
		if record.issuedAt.After(cutoff) {
			cutoff = record.issuedAt
		}
		if record.until.After(until) {
			until = record.until
		}
		m.expiry.remove(&record.expiryItem)
		delete(m.tokens, jti)
	}
	delete(m.byIdentity, identity)
	m.revokeIdentity(identity, cutoff, until)
}

// RevokeIdentity implements [RevocationStore].
func (m *MemoryStore) RevokeIdentity(_ context.Context, identity string, issuedBefore, until time.Time) error {
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	// A passed until still raises the cutoff of a live entry.
	if _, ok := m.identities[identity]; ok || now.Before(until) {
		m.revokeIdentity(identity, issuedBefore, until)
	}
	return nil
}

func (m *MemoryStore) revokeIdentity(identity string, issuedBefore, until time.Time) {
	if r, ok := m.identities[identity]; ok {
		if issuedBefore.After(r.issuedBefore) {
			r.issuedBefore = issuedBefore
		}
		m.expiry.extend(&r.expiryItem, until)
		return
	}
	if m.identities == nil {
		m.identities = map[string]*identityRevocation{}
	}
	r := &identityRevocation{issuedBefore: issuedBefore, expiryItem: expiryItem{kind: expireIdentity, key: identity, until: until}}
	m.identities[identity] = r
	m.expiry.add(&r.expiryItem)
}

// RevokeSession implements [RevocationStore].
func (m *MemoryStore) RevokeSession(_ context.Context, session string, until time.Time) error {
	if session == "" {
		return errors.New("connectjwt: no session to revoke")
	}
	now := m.clock()
	if !now.Before(until) {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	if r, ok := m.sessions[session]; ok {
		m.expiry.extend(r, until)
		return nil
	}
	if m.sessions == nil {
		m.sessions = map[string]*expiryItem{}
	}
	r := &expiryItem{kind: expireSession, key: session, until: until}
	m.sessions[session] = r
	m.expiry.add(r)
	return nil
}

// RedeemRefreshToken implements [RevocationStore].
func (m *MemoryStore) RedeemRefreshToken(_ context.Context, c *Claims, at time.Time) (bool, time.Time, error) {
	if c == nil || c.ID == "" {
		return false, time.Time{}, ErrNoTokenID
	}
	now := m.clock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expire(now)
	if r, ok := m.redeemed[c.ID]; ok {
		return false, r.at, nil
	}
	if !now.Before(c.ExpiresAt) {
		return false, time.Time{}, fmt.Errorf("%w: refresh token has expired", ErrExpired)
	}
	if m.redeemed == nil {
		m.redeemed = map[string]*redemption{}
	}
	r := &redemption{at: at, expiryItem: expiryItem{kind: expireRedemption, key: c.ID, until: c.ExpiresAt}}
	m.redeemed[c.ID] = r
	m.expiry.add(&r.expiryItem)
	return true, at, nil
}

// expireBatch is how many expired entries each write drops at most: more
// than the one entry a write adds, so expired entries never pile up while
// writes go on, and few enough that no write holds the lock for long.
const expireBatch = 4

// expire drops up to expireBatch entries whose time has come, earliest
// first: O(log n) each.
func (m *MemoryStore) expire(now time.Time) {
	for range expireBatch {
		if len(m.expiry) == 0 || now.Before(m.expiry[0].until) {
			return
		}
		entry := m.expiry[0]
		m.expiry.remove(entry)
		switch entry.kind {
		case expireToken:
			identity := m.tokens[entry.key].identity
			delete(m.tokens, entry.key)
			if set := m.byIdentity[identity]; set != nil {
				delete(set, entry.key)
				if len(set) == 0 {
					delete(m.byIdentity, identity)
				}
			}
		case expireIdentity:
			delete(m.identities, entry.key)
		case expireSession:
			delete(m.sessions, entry.key)
		case expireRedemption:
			delete(m.redeemed, entry.key)
		}
	}
}

type expiryKind uint8

const (
	expireToken expiryKind = iota
	expireIdentity
	expireSession
	expireRedemption
)

// An expiryItem is when the entry key of a MemoryStore map may be dropped,
// and its place in the heap.
type expiryItem struct {
	until time.Time
	kind  expiryKind
	key   string
	index int
}

// expiryHeap is an indexed min-heap of items by until.
type expiryHeap []*expiryItem

func (h *expiryHeap) Len() int           { return len(*h) }
func (h *expiryHeap) Less(i, j int) bool { return (*h)[i].until.Before((*h)[j].until) }
func (h *expiryHeap) Swap(i, j int) {
	s := *h
	s[i], s[j] = s[j], s[i]
	s[i].index, s[j].index = i, j
}

// Push and Pop implement heap.Interface; use add and remove.
func (h *expiryHeap) Push(x any) {
	e := x.(*expiryItem) //nolint:errcheck,forcetypeassert // add pushes only *expiryItem
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *expiryHeap) Pop() any {
	s := *h
	e := s[len(s)-1]
	s[len(s)-1] = nil
	*h = s[:len(s)-1]
	return e
}

func (h *expiryHeap) add(e *expiryItem)    { heap.Push(h, e) }
func (h *expiryHeap) remove(e *expiryItem) { heap.Remove(h, e.index) }

// extend moves e's time to until if that is later.
func (h *expiryHeap) extend(e *expiryItem, until time.Time) {
	if until.After(e.until) {
		e.until = until
		heap.Fix(h, e.index)
	}
}
