package connectjwt

import (
	"errors"
	"time"

	"connectrpc.com/connect"

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

// A Reason is a failure kind: one per sentinel error, and the value of the
// reason field of the [connectjwtv1.AuthError] detail that clients receive.
// Its numbers are those of the connectjwt.v1.Reason enum.
type Reason int32

// The failure kinds. Their numbers are those of the connectjwt.v1.Reason
// enum on the wire.
const (
	ReasonUnspecified        Reason = iota // not an authentication failure
	ReasonMissing                          // [ErrMissing]
	ReasonMalformed                        // [ErrMalformed]
	ReasonExpired                          // [ErrExpired]
	ReasonNotYetValid                      // [ErrNotYetValid]
	ReasonInvalidSignature                 // [ErrInvalidSignature]
	ReasonInvalidAlgorithm                 // [ErrInvalidAlgorithm]
	ReasonInvalidClaims                    // [ErrInvalidClaims]
	ReasonWrongTokenType                   // [ErrWrongTokenType]
	ReasonRevoked                          // [ErrRevoked]
	ReasonFreshTokenRequired               // [ErrFreshTokenRequired]
	ReasonInsufficientScope                // [ErrInsufficientScope]
	ReasonInvalidCredentials               // [ErrInvalidCredentials]
	ReasonAccessDenied                     // [ErrAccessDenied]
	ReasonUnavailable                      // [ErrUnavailable]
	ReasonRefreshConflict                  // [ErrRefreshConflict]
	ReasonTooManyAttempts                  // [ErrTooManyAttempts]
)

// String returns the reason's name on the wire, as in the .proto and every
// client: "REASON_EXPIRED" for [ReasonExpired].
func (r Reason) String() string { return connectjwtv1.Reason(r).String() }

// Code returns the Connect code connectjwt sends for the reason:
// unavailable for [ReasonUnavailable] (retryable), permission_denied for
// authorization failures ([ReasonInsufficientScope], [ReasonAccessDenied]),
// aborted for [ReasonRefreshConflict], resource_exhausted for
// [ReasonTooManyAttempts] (retryable after the delay in the detail), and
// unauthenticated for everything else.
func (r Reason) Code() connect.Code {
	switch r {
	case ReasonUnavailable:
		return connect.CodeUnavailable
	case ReasonInsufficientScope, ReasonAccessDenied:
		return connect.CodePermissionDenied
	case ReasonRefreshConflict:
		return connect.CodeAborted
	case ReasonTooManyAttempts:
		return connect.CodeResourceExhausted
	default:
		return connect.CodeUnauthenticated
	}
}

// A Failure is why a token was refused. It is what [Validator] returns and
// what every loader receives. Err wraps the sentinel for the kind; Claims is
// set only when the token's signature verified and its claims parsed
// (invalid issuer or audience, expired, not yet valid, revoked, fresh, scope,
// access-denied and unavailable failures), so a loader may use them; it is nil
// for every failure before that, including a wrong token type.
type Failure struct { //nolint:errname // public API: loaders and observers receive a Failure as a value
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
var reasons = []struct { //nolint:gochecknoglobals // read-only table
	sentinel error
	reason   Reason
}{
	{ErrMissing, ReasonMissing},
	{ErrMalformed, ReasonMalformed},
	{ErrExpired, ReasonExpired},
	{ErrNotYetValid, ReasonNotYetValid},
	{ErrInvalidSignature, ReasonInvalidSignature},
	{ErrInvalidAlgorithm, ReasonInvalidAlgorithm},
	{ErrInvalidClaims, ReasonInvalidClaims},
	{ErrWrongTokenType, ReasonWrongTokenType},
	{ErrRevoked, ReasonRevoked},
	{ErrFreshTokenRequired, ReasonFreshTokenRequired},
	{ErrInsufficientScope, ReasonInsufficientScope},
	{ErrAccessDenied, ReasonAccessDenied},
	{ErrInvalidCredentials, ReasonInvalidCredentials},
	{ErrUnavailable, ReasonUnavailable},
	{ErrRefreshConflict, ReasonRefreshConflict},
	{ErrTooManyAttempts, ReasonTooManyAttempts},
}

// ReasonOf returns the failure kind of err, which may be a [*Failure], an
// error wrapping one of the sentinel errors, or a *connect.Error a client
// received (its [connectjwtv1.AuthError] detail says). It returns
// [ReasonUnspecified] for any other error.
func ReasonOf(err error) Reason {
	if ae, ok := authErrorDetail(err); ok {
		return Reason(ae.GetReason())
	}
	return sentinelReason(err)
}

// sentinelReason is ReasonOf without the wire detail.
func sentinelReason(err error) Reason {
	if f, ok := errors.AsType[*Failure](err); ok && f.Reason != ReasonUnspecified {
		return f.Reason
	}
	for _, r := range reasons {
		if errors.Is(err, r.sentinel) {
			return r.reason
		}
	}
	return ReasonUnspecified
}

// fail builds a Failure for a sentinel, optionally wrapping a more precise
// (and equally safe) error built with fmt.Errorf("%w: ...", sentinel).
func fail(err error, claims *Claims) *Failure {
	return &Failure{Reason: sentinelReason(err), Err: err, Claims: claims}
}

// failCause is fail keeping the underlying error (an application's, a
// store's or a key server's) as the Failure's Cause, for loaders and logs;
// the default loaders never send it.
func failCause(err error, claims *Claims, cause error) *Failure {
	f := fail(err, claims)
	f.Cause = cause
	return f
}
