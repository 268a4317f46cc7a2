package connectjwt

import (
	"context"

	"connectrpc.com/connect"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

// A Loader turns a [Failure] into the error sent to the client, as Flask's
// expired_token_loader, invalid_token_loader and unauthorized_loader do. The
// default for every kind is [DefaultError]. A custom loader may return any
// *connect.Error; to keep the structured [connectjwtv1.AuthError] detail, start
// from DefaultError(f) and change what you need.
//
// A loader that returns nil does not let the call through: [DefaultError] is
// sent instead. Loaders run on the request path and must not block. Return a
// new error on every call: the interceptor adds WWW-Authenticate to its
// metadata, so a shared *connect.Error would be written concurrently.
type Loader func(ctx context.Context, f *Failure) *connect.Error

type loaders struct {
	unauthorized, expired, invalid, revoked, needsFresh, insufficientScope, accessDenied, unavailable Loader
}

// WithUnauthorizedLoader sets the loader for a missing token
// ([ErrMissing]), Flask's unauthorized_loader.
func WithUnauthorizedLoader(l Loader) Option {
	return loaderOption("WithUnauthorizedLoader", l, func(ls *loaders) *Loader { return &ls.unauthorized })
}

// WithExpiredTokenLoader sets the loader for an expired token
// ([ErrExpired]), Flask's expired_token_loader. The failure's Claims are set:
// the token's signature verified.
func WithExpiredTokenLoader(l Loader) Option {
	return loaderOption("WithExpiredTokenLoader", l, func(ls *loaders) *Loader { return &ls.expired })
}

// WithInvalidTokenLoader sets the loader for every other token failure:
// malformed, not yet valid, bad signature, disallowed algorithm, invalid
// claims and wrong token type (Flask's invalid_token_loader). The failure's
// Reason says which.
func WithInvalidTokenLoader(l Loader) Option {
	return loaderOption("WithInvalidTokenLoader", l, func(ls *loaders) *Loader { return &ls.invalid })
}

// WithRevokedTokenLoader sets the loader for a revoked token ([ErrRevoked]),
// flask-jwt-extended's revoked_token_loader.
func WithRevokedTokenLoader(l Loader) Option {
	return loaderOption("WithRevokedTokenLoader", l, func(ls *loaders) *Loader { return &ls.revoked })
}

// WithNeedsFreshTokenLoader sets the loader for a non-fresh token on a
// procedure that requires a fresh one ([ErrFreshTokenRequired]),
// flask-jwt-extended's needs_fresh_token_loader.
func WithNeedsFreshTokenLoader(l Loader) Option {
	return loaderOption("WithNeedsFreshTokenLoader", l, func(ls *loaders) *Loader { return &ls.needsFresh })
}

// WithInsufficientScopeLoader sets the loader for a token without a required
// scope ([ErrInsufficientScope]).
func WithInsufficientScopeLoader(l Loader) Option {
	return loaderOption("WithInsufficientScopeLoader", l, func(ls *loaders) *Loader { return &ls.insufficientScope })
}

// WithAccessDeniedLoader sets the loader for a token refused by the
// [WithClaimsCheck] function ([ErrAccessDenied]), flask-jwt-extended's
// token_verification_failed_loader.
func WithAccessDeniedLoader(l Loader) Option {
	return loaderOption("WithAccessDeniedLoader", l, func(ls *loaders) *Loader { return &ls.accessDenied })
}

// WithUnavailableLoader sets the loader for a token that could not be checked
// because a key server or revocation store was down ([ErrUnavailable]).
func WithUnavailableLoader(l Loader) Option {
	return loaderOption("WithUnavailableLoader", l, func(ls *loaders) *Loader { return &ls.unavailable })
}

func loaderOption(name string, l Loader, field func(*loaders) *Loader) Option {
	return option{scopeInterceptor, name, func(c *config) {
		if l == nil {
			c.errorf("%s needs a function", name)
		}
		*field(&c.loaders) = l
	}}
}

// load runs the loader for f's kind and never returns nil.
func (ls *loaders) load(ctx context.Context, f *Failure) *connect.Error {
	var l Loader
	switch f.Reason {
	case connectjwtv1.Reason_REASON_MISSING:
		l = ls.unauthorized
	case connectjwtv1.Reason_REASON_EXPIRED:
		l = ls.expired
	case connectjwtv1.Reason_REASON_REVOKED:
		l = ls.revoked
	case connectjwtv1.Reason_REASON_FRESH_TOKEN_REQUIRED:
		l = ls.needsFresh
	case connectjwtv1.Reason_REASON_INSUFFICIENT_SCOPE:
		l = ls.insufficientScope
	case connectjwtv1.Reason_REASON_ACCESS_DENIED:
		l = ls.accessDenied
	case connectjwtv1.Reason_REASON_UNAVAILABLE:
		l = ls.unavailable
	default:
		l = ls.invalid
	}
	if l != nil {
		if err := l(ctx, f); err != nil {
			return err
		}
	}
	return DefaultError(f)
}
