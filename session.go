package connectjwt

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultRefreshReuseGrace is how long, by default, a refresh token that
// was just redeemed is answered REASON_REFRESH_CONFLICT rather than treated
// as stolen (see [WithRefreshReuseGrace]).
const DefaultRefreshReuseGrace = 10 * time.Second

// An AuthServiceOption configures an [AuthService].
type AuthServiceOption interface {
	applyToAuthService(*AuthService)
}

type authServiceOption func(*AuthService)

func (f authServiceOption) applyToAuthService(s *AuthService) { f(s) }

// WithRefreshReuseGrace sets the grace window of refresh-token rotation, by
// default [DefaultRefreshReuseGrace]. A refresh token presented again within
// this long after another Refresh redeemed it (two tabs of one client
// refreshing at once) is refused with REASON_REFRESH_CONFLICT
// (connect.CodeAborted): no tokens are issued and nothing is revoked, and
// the client should use the tokens the other Refresh returned. Presented
// later, it is a reuse and revokes the whole session. The grace never hands
// out tokens, so a thief racing within it gains nothing; it only delays
// the detection of a reuse by that long. Zero or less makes rotation
// strict: every reuse revokes the session.
func WithRefreshReuseGrace(d time.Duration) AuthServiceOption {
	return authServiceOption(func(s *AuthService) { s.reuseGrace = max(d, 0) })
}

// sessionOf returns the session that claims, a verified refresh or access
// token of this issuer, belongs to.
func sessionOf(c *Claims) (session, bool) {
	if c.SessionID == "" || c.AuthTime.IsZero() {
		return session{}, false
	}
	return session{id: c.SessionID, authTime: c.AuthTime}, true
}

// sessionEndOf is when every token of claims' session has expired: its
// absolute end, or claims' own exp for a token without a session.
func (is *Issuer) sessionEndOf(c *Claims) time.Time {
	if sess, ok := sessionOf(c); ok {
		return is.sessionEnd(sess)
	}
	return c.ExpiresAt
}

// rotate redeems the verified refresh token claims and returns the session
// the new pair continues, or the error to answer.
func (s *AuthService) rotate(ctx context.Context, claims *Claims) (session, error) {
	sess, ok := sessionOf(claims)
	if !ok || claims.ID == "" {
		// Issued before sessions existed, or by another issuer's code:
		// it cannot be rotated safely, so the user logs in again.
		return session{}, DefaultError(fail(fmt.Errorf("%w: refresh token has no session, log in again", ErrInvalidClaims), claims))
	}
	store := s.issuer.cfg.store
	if store == nil {
		return sess, nil
	}
	// The issuer's validator has already asked this store whether the
	// token or its session is revoked (WithRevocationStore is shared).
	now := s.issuer.cfg.now()
	first, redeemedAt, err := store.RedeemRefreshToken(ctx, claims, now)
	switch {
	case errors.Is(err, ErrExpired):
		return session{}, DefaultError(fail(ErrExpired, claims))
	case err != nil:
		return session{}, storeError(err)
	case first:
		return sess, nil
	case s.reuseGrace > 0 && now.Sub(redeemedAt) < s.reuseGrace:
		return session{}, DefaultError(fail(ErrRefreshConflict, nil))
	}
	// A reuse: someone holds a refresh token of this session that was
	// already used. End the session for everyone holding its tokens.
	if err := store.RevokeSession(ctx, sess.id, s.issuer.sessionEnd(sess)); err != nil {
		return session{}, storeError(err)
	}
	return session{}, DefaultError(fail(fmt.Errorf("%w: refresh token was used twice; the session is revoked", ErrRevoked), claims))
}
