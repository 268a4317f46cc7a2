package connectv2

import (
	"context"
	"errors"

	connectv1 "connectrpc.com/connect"
	"connectrpc.com/connect/v2"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/internal/frontend"
)

// A Loader turns a [connectjwt.Failure] into the error sent to the client,
// as the v1 interceptor's loaders do. The default for every kind is
// [DefaultError]; to keep the structured connectjwt.v1.AuthError detail,
// start from DefaultError(f) and change what you need. A loader that returns
// nil does not let the call through: DefaultError is sent instead. Loaders
// run on the request path and must not block.
type Loader func(ctx context.Context, f *connectjwt.Failure) *connect.Error

type loaderOption struct {
	which  frontend.Loader
	loader Loader
}

func (o loaderOption) applyToServer(c *serverConfig) { c.loaders[o.which] = o.loader }

// WithUnauthorizedLoader sets the loader for a missing token
// ([connectjwt.ErrMissing]). A nil loader keeps the default.
func WithUnauthorizedLoader(l Loader) Option { return loaderOption{frontend.Unauthorized, l} }

// WithExpiredTokenLoader sets the loader for an expired token
// ([connectjwt.ErrExpired]), also when a stream outlives its token.
func WithExpiredTokenLoader(l Loader) Option { return loaderOption{frontend.Expired, l} }

// WithInvalidTokenLoader sets the loader for every other token failure:
// malformed, not yet valid, bad signature, disallowed algorithm, invalid
// claims and wrong token type. The failure's Reason says which.
func WithInvalidTokenLoader(l Loader) Option { return loaderOption{frontend.Invalid, l} }

// WithRevokedTokenLoader sets the loader for a revoked token
// ([connectjwt.ErrRevoked]).
func WithRevokedTokenLoader(l Loader) Option { return loaderOption{frontend.Revoked, l} }

// WithNeedsFreshTokenLoader sets the loader for a non-fresh token on a
// procedure that requires a fresh one ([connectjwt.ErrFreshTokenRequired]).
func WithNeedsFreshTokenLoader(l Loader) Option { return loaderOption{frontend.NeedsFresh, l} }

// WithInsufficientScopeLoader sets the loader for a token without a
// required scope ([connectjwt.ErrInsufficientScope]).
func WithInsufficientScopeLoader(l Loader) Option {
	return loaderOption{frontend.InsufficientScope, l}
}

// WithAccessDeniedLoader sets the loader for a token refused by the
// validator's claims check ([connectjwt.ErrAccessDenied]).
func WithAccessDeniedLoader(l Loader) Option { return loaderOption{frontend.AccessDenied, l} }

// WithUnavailableLoader sets the loader for a token that could not be
// checked because a key server or revocation store was down
// ([connectjwt.ErrUnavailable]).
func WithUnavailableLoader(l Loader) Option { return loaderOption{frontend.Unavailable, l} }

// DefaultError is the error every default loader returns, the v2 form of
// [connectjwt.DefaultError]: the same code, message and
// connectjwt.v1.AuthError detail. Its cause is f, so errors.Is finds the
// sentinel on the server side; the cause is never sent.
func DefaultError(f *connectjwt.Failure) *connect.Error {
	return fromV1(connectjwt.DefaultError(f))
}

// fromV1 is the v2 error with the code, message and details of a v1 error
// built by the core (whose texts are safe to send), keeping it as the cause.
// An error that is not a *connectv1.Error becomes an internal error
// without its text.
func fromV1(err error) *connect.Error {
	var e *connectv1.Error
	if !errors.As(err, &e) {
		return connect.NewError(connect.CodeInternal, "internal error").WithCause(err)
	}
	out := connect.NewError(connect.Code(e.Code()), e.Message()).WithCause(err)
	for _, d := range e.Details() {
		out = out.WithDetail(&connect.ErrorDetail{Type: d.Type(), Value: d.Bytes()})
	}
	return out
}
