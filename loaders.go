package connectjwt

import (
	"context"

	"connectrpc.com/connect"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/internal/frontend"
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

// loaders holds the configured loaders, indexed by the kind of failure they
// answer (internal/frontend, shared with the connectv2 module).
type loaders [frontend.NumLoaders]Loader

// WithUnauthorizedLoader sets the loader for a missing token
// ([ErrMissing]), Flask's unauthorized_loader.
func WithUnauthorizedLoader(l Loader) InterceptorOption {
	return setLoader(l, frontend.Unauthorized)
}

// WithExpiredTokenLoader sets the loader for an expired token
// ([ErrExpired]), Flask's expired_token_loader. The failure's Claims are set:
// the token's signature verified.
func WithExpiredTokenLoader(l Loader) InterceptorOption {
	return setLoader(l, frontend.Expired)
}

// WithInvalidTokenLoader sets the loader for every other token failure:
// malformed, not yet valid, bad signature, disallowed algorithm, invalid
// claims and wrong token type (Flask's invalid_token_loader). The failure's
// Reason says which.
func WithInvalidTokenLoader(l Loader) InterceptorOption {
	return setLoader(l, frontend.Invalid)
}

// WithRevokedTokenLoader sets the loader for a revoked token ([ErrRevoked]),
// flask-jwt-extended's revoked_token_loader.
func WithRevokedTokenLoader(l Loader) InterceptorOption {
	return setLoader(l, frontend.Revoked)
}

// WithNeedsFreshTokenLoader sets the loader for a non-fresh token on a
// procedure that requires a fresh one ([ErrFreshTokenRequired]),
// flask-jwt-extended's needs_fresh_token_loader.
func WithNeedsFreshTokenLoader(l Loader) InterceptorOption {
	return setLoader(l, frontend.NeedsFresh)
}

// WithInsufficientScopeLoader sets the loader for a token without a required
// scope ([ErrInsufficientScope]).
func WithInsufficientScopeLoader(l Loader) InterceptorOption {
	return setLoader(l, frontend.InsufficientScope)
}

// WithAccessDeniedLoader sets the loader for a token refused by the
// [WithClaimsCheck] function ([ErrAccessDenied]), flask-jwt-extended's
// token_verification_failed_loader.
func WithAccessDeniedLoader(l Loader) InterceptorOption {
	return setLoader(l, frontend.AccessDenied)
}

// WithUnavailableLoader sets the loader for a token that could not be checked
// because a key server or revocation store was down ([ErrUnavailable]).
func WithUnavailableLoader(l Loader) InterceptorOption {
	return setLoader(l, frontend.Unavailable)
}

// An InterceptorOption configures an [Interceptor] ([NewInterceptor]).
type InterceptorOption interface {
	applyToInterceptor(*loaders)
}

type loaderOption func(*loaders)

func (o loaderOption) applyToInterceptor(ls *loaders) { o(ls) }

// setLoader returns the option that sets one loader; nil means the default.
func setLoader(l Loader, which frontend.Loader) InterceptorOption {
	return loaderOption(func(ls *loaders) { ls[which] = l })
}

// load runs the loader for f's kind and never returns nil.
func (ls *loaders) load(ctx context.Context, f *Failure) *connect.Error {
	if l := ls[frontend.LoaderFor(connectjwtv1.Reason(f.Reason))]; l != nil {
		if err := l(ctx, f); err != nil {
			return err
		}
	}
	return DefaultError(f)
}
