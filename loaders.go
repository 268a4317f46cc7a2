package connectjwt

import (
	"context"

	"connectrpc.com/connect"
)

// A Loader turns a [Failure] into the error sent to the client, as Flask's
// expired_token_loader, invalid_token_loader and unauthorized_loader do. The
// default for every kind is [DefaultError]. A custom loader may return any
// *connect.Error; to keep the structured AuthError detail, start from
// DefaultError(f) and change what you need.
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
func WithUnauthorizedLoader(l Loader) InterceptorOption {
	return setLoader(l, func(ls *loaders) *Loader { return &ls.unauthorized })
}

// WithExpiredTokenLoader sets the loader for an expired token
// ([ErrExpired]), Flask's expired_token_loader. The failure's Claims are set:
// the token's signature verified.
func WithExpiredTokenLoader(l Loader) InterceptorOption {
	return setLoader(l, func(ls *loaders) *Loader { return &ls.expired })
}

// WithInvalidTokenLoader sets the loader for every other token failure:
// malformed, not yet valid, bad signature, disallowed algorithm, invalid
// claims and wrong token type (Flask's invalid_token_loader). The failure's
// Reason says which.
func WithInvalidTokenLoader(l Loader) InterceptorOption {
	return setLoader(l, func(ls *loaders) *Loader { return &ls.invalid })
}

// WithRevokedTokenLoader sets the loader for a revoked token ([ErrRevoked]),
// flask-jwt-extended's revoked_token_loader.
func WithRevokedTokenLoader(l Loader) InterceptorOption {
	return setLoader(l, func(ls *loaders) *Loader { return &ls.revoked })
}

// WithNeedsFreshTokenLoader sets the loader for a non-fresh token on a
// procedure that requires a fresh one ([ErrFreshTokenRequired]),
// flask-jwt-extended's needs_fresh_token_loader.
func WithNeedsFreshTokenLoader(l Loader) InterceptorOption {
	return setLoader(l, func(ls *loaders) *Loader { return &ls.needsFresh })
}

// WithInsufficientScopeLoader sets the loader for a token without a required
// scope ([ErrInsufficientScope]).
func WithInsufficientScopeLoader(l Loader) InterceptorOption {
	return setLoader(l, func(ls *loaders) *Loader { return &ls.insufficientScope })
}

// WithAccessDeniedLoader sets the loader for a token refused by the
// [WithClaimsCheck] function ([ErrAccessDenied]), flask-jwt-extended's
// token_verification_failed_loader.
func WithAccessDeniedLoader(l Loader) InterceptorOption {
	return setLoader(l, func(ls *loaders) *Loader { return &ls.accessDenied })
}

// WithUnavailableLoader sets the loader for a token that could not be checked
// because a key server or revocation store was down ([ErrUnavailable]).
func WithUnavailableLoader(l Loader) InterceptorOption {
	return setLoader(l, func(ls *loaders) *Loader { return &ls.unavailable })
}

// An InterceptorOption configures an [Interceptor] ([NewInterceptor]).
type InterceptorOption interface {
	applyToInterceptor(*loaders)
}

type loaderOption func(*loaders)

func (o loaderOption) applyToInterceptor(ls *loaders) { o(ls) }

// setLoader returns the option that sets one loader; nil means the default.
func setLoader(l Loader, field func(*loaders) *Loader) InterceptorOption {
	return loaderOption(func(ls *loaders) { *field(ls) = l })
}

// load runs the loader for f's kind and never returns nil.
func (ls *loaders) load(ctx context.Context, f *Failure) *connect.Error {
	var l Loader
	switch f.Reason {
	case ReasonMissing:
		l = ls.unauthorized
	case ReasonExpired:
		l = ls.expired
	case ReasonRevoked:
		l = ls.revoked
	case ReasonFreshTokenRequired:
		l = ls.needsFresh
	case ReasonInsufficientScope:
		l = ls.insufficientScope
	case ReasonAccessDenied:
		l = ls.accessDenied
	case ReasonUnavailable:
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
