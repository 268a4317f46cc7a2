package connectjwt

import (
	"errors"
	"time"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

// Sentinel errors, one per failure kind. Every error that [Validator] returns
// wraps exactly one of them inside a [*Failure]; test with [errors.Is]. Their
// texts are what clients see by default, so they never contain the token, key
// material or expected claim values.
var (
	// ErrMissing: no token (no header, an empty one, or another scheme).
	ErrMissing = errors.New("missing authorization token")
	// ErrMalformed: the header or the token cannot be parsed.
	ErrMalformed = errors.New("malformed token")
	// ErrExpired: the signature verified, but exp (plus leeway) has passed.
	ErrExpired = errors.New("token has expired")
	// ErrNotYetValid: the signature verified, but nbf or iat is in the future.
	ErrNotYetValid = errors.New("token is not yet valid")
	// ErrInvalidSignature: the signature does not verify or no key matches.
	ErrInvalidSignature = errors.New("signature verification failed")
	// ErrInvalidAlgorithm: the token's alg is not allowed.
	ErrInvalidAlgorithm = errors.New("token algorithm is not allowed")
	// ErrInvalidClaims: a registered claim is missing, mistyped or wrong.
	ErrInvalidClaims = errors.New("invalid token claims")
	// ErrWrongTokenType: the typ header does not match, e.g. a refresh token
	// used as an access token.
	ErrWrongTokenType = errors.New("wrong token type")
	// ErrRevoked: the token was revoked.
	ErrRevoked = errors.New("token has been revoked")
	// ErrFreshTokenRequired: the procedure needs a token minted from a login.
	ErrFreshTokenRequired = errors.New("fresh token required")
	// ErrInsufficientScope: the token lacks a scope the procedure requires.
	ErrInsufficientScope = errors.New("insufficient scope")
	// ErrAccessDenied: an application check (see [WithClaimsCheck]) refused
	// a valid token.
	ErrAccessDenied = errors.New("access denied")
	// ErrInvalidCredentials: a login with a wrong username or password.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrUnavailable: a key server or revocation store could not be reached.
	ErrUnavailable = errors.New("token could not be checked, try again")
	// ErrRefreshConflict: a Refresh with a refresh token that another
	// Refresh redeemed within the grace window (see
	// [WithRefreshReuseGrace]); nothing was issued or revoked.
	ErrRefreshConflict = errors.New("refresh token was just used by another refresh; use the tokens it returned")
	// ErrTooManyAttempts: too many failed logins for the username or from
	// the peer (see [LoginLimiter]).
	ErrTooManyAttempts = errors.New("too many failed login attempts, try again later")
)

// Reason is the failure kind carried by the [connectjwtv1.AuthError] detail.
type Reason = connectjwtv1.Reason

// A Failure is why a token was refused. It is what [Validator] returns and
// what every loader receives. Err wraps the sentinel for the kind; Claims is
// set only when the token's signature verified and its claims parsed
// (invalid issuer or audience, expired, not yet valid, revoked, fresh, scope,
// access-denied and unavailable failures), so a loader may use them; it is nil
// for every failure before that, including a wrong token type.
type Failure struct {
	// Reason is the failure kind, matching the sentinel in Err.
	Reason Reason
	// Err wraps one of the sentinel errors; its text is safe to send.
	Err error
	// Claims are the token's verified claims, or nil.
	Claims *Claims
	// Procedure is the Connect procedure being called, when known.
	Procedure string
	// MissingScopes lists the required scopes the token lacks.
	MissingScopes []string
	// RetryAfter is how long to wait before trying again, for
	// [ErrTooManyAttempts].
	RetryAfter time.Duration
	// Cause is the application's or store's error behind an access-denied
	// or unavailable failure, for logs. It is never sent to the client by
	// the default loaders.
	Cause error
}

// Error returns the text of the wrapped error.
func (f *Failure) Error() string {
	if f == nil || f.Err == nil {
		return "connectjwt: authentication failed"
	}
	return f.Err.Error()
}

// Unwrap returns the wrapped error, so [errors.Is] finds the sentinel.
func (f *Failure) Unwrap() error { return f.Err }

// reasons maps each sentinel to its wire reason, in one place.
var reasons = []struct {
	sentinel error
	reason   Reason
}{
	{ErrMissing, connectjwtv1.Reason_REASON_MISSING},
	{ErrMalformed, connectjwtv1.Reason_REASON_MALFORMED},
	{ErrExpired, connectjwtv1.Reason_REASON_EXPIRED},
	{ErrNotYetValid, connectjwtv1.Reason_REASON_NOT_YET_VALID},
	{ErrInvalidSignature, connectjwtv1.Reason_REASON_INVALID_SIGNATURE},
	{ErrInvalidAlgorithm, connectjwtv1.Reason_REASON_INVALID_ALGORITHM},
	{ErrInvalidClaims, connectjwtv1.Reason_REASON_INVALID_CLAIMS},
	{ErrWrongTokenType, connectjwtv1.Reason_REASON_WRONG_TOKEN_TYPE},
	{ErrRevoked, connectjwtv1.Reason_REASON_REVOKED},
	{ErrFreshTokenRequired, connectjwtv1.Reason_REASON_FRESH_TOKEN_REQUIRED},
	{ErrInsufficientScope, connectjwtv1.Reason_REASON_INSUFFICIENT_SCOPE},
	{ErrAccessDenied, connectjwtv1.Reason_REASON_ACCESS_DENIED},
	{ErrInvalidCredentials, connectjwtv1.Reason_REASON_INVALID_CREDENTIALS},
	{ErrUnavailable, connectjwtv1.Reason_REASON_UNAVAILABLE},
	{ErrRefreshConflict, connectjwtv1.Reason_REASON_REFRESH_CONFLICT},
	{ErrTooManyAttempts, connectjwtv1.Reason_REASON_TOO_MANY_ATTEMPTS},
}

// ReasonOf returns the failure kind of err: the reason of the first sentinel
// that err wraps, or REASON_UNSPECIFIED when it wraps none.
func ReasonOf(err error) Reason {
	var f *Failure
	if errors.As(err, &f) && f.Reason != connectjwtv1.Reason_REASON_UNSPECIFIED {
		return f.Reason
	}
	for _, r := range reasons {
		if errors.Is(err, r.sentinel) {
			return r.reason
		}
	}
	return connectjwtv1.Reason_REASON_UNSPECIFIED
}

// fail builds a Failure for a sentinel, optionally wrapping a more precise
// (and equally safe) error built with fmt.Errorf("%w: ...", sentinel).
func fail(err error, claims *Claims) *Failure {
	return &Failure{Reason: ReasonOf(err), Err: err, Claims: claims}
}

// failCause is fail keeping the underlying error (an application's, a
// store's or a key server's) as the Failure's Cause, for loaders and logs;
// the default loaders never send it.
func failCause(err error, claims *Claims, cause error) *Failure {
	f := fail(err, claims)
	f.Cause = cause
	return f
}
