// Package connectv2 protects connect-go v2 (connectrpc.com/connect/v2)
// servers and clients with connectjwt: [NewServerInterceptor] checks the
// token of every call before any request message is read, and
// [NewClientInterceptor] attaches one and refreshes it once when it expired.
//
// Validation, keys, JWKS, the token cache, policies (including the
// connectjwt.v1 .proto options), revocation and every failure kind live in
// the core package, github.com/connectjwt/connectjwt; a [connectjwt.Validator]
// shared with the v1 interceptor gives the same answers, with one cache, one
// JWKS fetch and one revocation store, in a process serving both.
package connectv2

import (
	"context"

	"connectrpc.com/connect/v2"

	"github.com/connectjwt/connectjwt"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/internal/frontend"
)

// An Option configures [NewServerInterceptor].
type Option interface {
	applyToServer(*serverConfig)
}

type serverConfig struct {
	loaders [frontend.NumLoaders]Loader
}

// NewServerInterceptor returns a server interceptor that authenticates every
// call of the [connect.Server] it is given to: unary, client-, server- and
// bidi-streaming, over any transport (connecthttp's Connect, gRPC and
// gRPC-web, or connectinprocess). Pass it first to [connect.NewServer], so
// that it surrounds every other interceptor.
//
// It runs before the request message is read: a refused caller cannot make
// the server read, decompress or decode its body. It applies the procedure's
// policy (from the validator's options and the connectjwt.v1 .proto options
// of generated code), puts the verified claims in the handler's context
// ([connectjwt.ClaimsFromContext]) and answers every failure through the
// loaders ([Loader]) with the connectjwt.v1.AuthError detail; on the Connect
// and gRPC-web protocols the answer also carries an RFC 6750
// WWW-Authenticate response header.
//
// A stream does not outlive its token: its context ends at the token's exp
// (plus leeway), or when the validator's revocation check finds the token
// revoked ([connectjwt.WithStreamRevocationCheck]); Send and Receive then
// fail and the stream ends with the expired (or revoked) error, whatever the
// handler returned. A handler blocked in Receive on a client that sends
// nothing is released by the HTTP stream's read deadline, which
// [connectjwt.StreamDeadlines] sets when it wraps the HTTP handler the server
// is mounted on; on other transports it waits for the client or the call's
// own context.
//
// A nil validator is the zero [connectjwt.Validator], which refuses every call.
func NewServerInterceptor(validator *connectjwt.Validator, opts ...Option) connect.ServerInterceptor {
	if validator == nil {
		validator = new(connectjwt.Validator)
	}
	cfg := &serverConfig{}
	for _, o := range opts {
		if o != nil {
			o.applyToServer(cfg)
		}
	}
	scheme := validator.HeaderScheme()
	return func(next connect.ServerFunc) connect.ServerFunc {
		return func(ctx context.Context, spec connect.Spec, stream connect.ServerStream) error {
			info, _ := connect.CallInfoForServerContext(ctx)
			var header []string
			if info != nil {
				header = info.RequestHeader().Values(validator.HeaderName())
			}
			authed, failure := validator.Authenticate(ctx, connectjwt.Call{Procedure: spec.Procedure, Schema: spec.Schema, Header: header})
			if failure != nil {
				return cfg.reject(ctx, info, scheme, failure)
			}
			if spec.StreamType == connect.StreamTypeUnary {
				return next(authed, spec, stream)
			}
			if _, ok := connectjwt.ClaimsFromContext(authed); !ok {
				return next(authed, spec, stream) // public, or anonymous on an optional procedure
			}
			sctx, cancel := validator.StreamContext(authed)
			err := next(sctx, spec, &endingStream{ServerStream: stream, ctx: sctx})
			cancel()
			if f := endedBy(sctx); f != nil {
				// StreamContext's failure names the procedure already.
				return cfg.reject(ctx, info, scheme, f)
			}
			return err
		}
	}
}

// reject answers failure through its loader and, where the protocol carries it,
// adds the WWW-Authenticate challenge. On gRPC the error travels in
// trailers, where Go's HTTP/2 server drops WWW-Authenticate; the AuthError
// detail carries the same facts on every protocol.
func (c *serverConfig) reject(ctx context.Context, info *connect.CallInfo, scheme string, failure *connectjwt.Failure) *connect.Error {
	var err *connect.Error
	if l := c.loaders[frontend.LoaderFor(connectjwtv1.Reason(failure.Reason))]; l != nil {
		err = l(ctx, failure)
	}
	if err == nil {
		err = DefaultError(failure)
	}
	if info != nil && info.Protocol != connect.ProtocolNameGRPC {
		if h := info.ResponseHeader(); h.Get("Www-Authenticate") == "" {
			h.Set("Www-Authenticate", frontend.Challenge(scheme, connectjwtv1.Reason(failure.Reason)))
		}
	}
	return err
}
