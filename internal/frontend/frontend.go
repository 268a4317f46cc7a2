// Package frontend holds the decisions that connectjwt's front ends (the
// connect-go v1 interceptor and the v2 one in the connectv2 module) make the
// same way: which loader answers a failure, and the RFC 6750 challenge sent
// with it. It is internal: nested modules under the connectjwt path may use
// it, applications may not.
package frontend

import connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"

// Loader names the loader that answers a failure reason, one per
// flask-jwt-extended callback.
type Loader uint8

// The loaders, in the order of the options that set them.
const (
	Invalid Loader = iota // malformed, bad signature, wrong type, ...
	Unauthorized
	Expired
	Revoked
	NeedsFresh
	InsufficientScope
	AccessDenied
	Unavailable

	// NumLoaders sizes an array indexed by Loader.
	NumLoaders
)

// LoaderFor returns the loader that answers a failure with reason r; every
// reason without its own loader is answered by [Invalid].
func LoaderFor(r connectjwtv1.Reason) Loader {
	switch r {
	case connectjwtv1.Reason_REASON_MISSING:
		return Unauthorized
	case connectjwtv1.Reason_REASON_EXPIRED:
		return Expired
	case connectjwtv1.Reason_REASON_REVOKED:
		return Revoked
	case connectjwtv1.Reason_REASON_FRESH_TOKEN_REQUIRED:
		return NeedsFresh
	case connectjwtv1.Reason_REASON_INSUFFICIENT_SCOPE:
		return InsufficientScope
	case connectjwtv1.Reason_REASON_ACCESS_DENIED:
		return AccessDenied
	case connectjwtv1.Reason_REASON_UNAVAILABLE:
		return Unavailable
	default:
		return Invalid
	}
}

// Challenge renders the RFC 6750 §3 WWW-Authenticate value for a failure
// with reason r under scheme ("Bearer" when empty). It names the error code
// only; no token or expected value is ever included.
func Challenge(scheme string, r connectjwtv1.Reason) string {
	if scheme == "" {
		scheme = "Bearer"
	}
	switch r {
	case connectjwtv1.Reason_REASON_MISSING, connectjwtv1.Reason_REASON_ACCESS_DENIED, connectjwtv1.Reason_REASON_UNAVAILABLE,
		// AuthService's own answers about a refresh or a login: the
		// token, if any, is not what is wrong.
		connectjwtv1.Reason_REASON_REFRESH_CONFLICT, connectjwtv1.Reason_REASON_TOO_MANY_ATTEMPTS:
		return scheme
	case connectjwtv1.Reason_REASON_INSUFFICIENT_SCOPE:
		return scheme + ` error="insufficient_scope"`
	default:
		return scheme + ` error="invalid_token"`
	}
}
