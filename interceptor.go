package connectjwt

import (
	"context"
	"net/http"

	"connectrpc.com/connect"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/internal/frontend"
)

// An Interceptor authenticates every RPC a Connect handler serves: unary,
// client-, server- and bidi-streaming, over the Connect, gRPC and gRPC-web
// protocols. It runs [Validator.Authenticate] (the token, the procedure's
// [Policy], the revocation store), puts the verified [Claims] in the context
// for the handler ([ClaimsFromContext]) and turns every failure into a
// *connect.Error through the loaders ([Loader]). On the client side it does
// nothing.
//
// Install it with [Interceptor.HandlerOption], which also registers it as a
// request gate, so unauthenticated calls are refused before any request
// message is read or decoded. Gate and interceptor share one validation: a
// call the gate admitted is not validated again.
//
// A stream does not outlive its token: its handler runs with
// [Validator.StreamContext], so once exp (plus leeway) passes, the
// handler's context is done with [context.DeadlineExceeded] (its Deadline
// reports the expiry, and [context.Cause] is the expired *[Failure]), the
// next Send or Receive fails, and the stream ends with the expired-token
// error. Wrap the service's HTTP handler with [StreamDeadlines] so
// that a handler blocked on a client that stopped sending (in Receive) is
// released at expiry, and one blocked on a client that stopped reading (in
// Send) one second later; without it, such a handler waits until the client
// moves or a server timeout fires, since a blocked read or write of the HTTP
// stream does not watch any context.
//
// The zero Interceptor refuses every call.
type Interceptor struct {
	v       *Validator
	loaders loaders
}

var _ connect.Interceptor = (*Interceptor)(nil)

// NewInterceptor returns an Interceptor that authenticates calls with v.
// Every procedure requires a valid access token unless v's policies say
// otherwise ([WithPublicProcedures], [WithOptionalProcedures],
// [WithProcedurePolicy], the .proto options). With a nil v the interceptor
// refuses every call.
func NewInterceptor(v *Validator, opts ...InterceptorOption) *Interceptor {
	i := &Interceptor{v: v}
	for _, o := range opts {
		if o != nil {
			o.applyToInterceptor(&i.loaders)
		}
	}
	return i
}

// Validator returns the validator the interceptor uses.
func (i *Interceptor) Validator() *Validator { return i.v }

// HandlerOption returns the recommended way to install the interceptor: as a
// request gate (see [Interceptor.RequestGate]) and as the outermost
// interceptor. Pass it before any other interceptor option.
func (i *Interceptor) HandlerOption() connect.HandlerOption {
	return connect.WithHandlerOptions(i.RequestGate(), connect.WithInterceptors(i))
}

// RequestGate returns the pre-decode check as a handler option
// ([connect.WithRequestGate]): it runs once the request headers arrive,
// before any message is read, so an unauthenticated caller cannot make the
// server decode its body. Use it together with the interceptor, which then
// reuses the gate's result.
func (i *Interceptor) RequestGate() connect.HandlerOption {
	return connect.WithRequestGate(func(ctx context.Context, spec connect.Spec, peer connect.Peer, h http.Header) (context.Context, error) {
		if i.admitted(ctx) { // the same gate installed twice
			return ctx, nil
		}
		ctx, err := i.authenticate(ctx, spec, peer, h)
		if err != nil {
			return nil, err
		}
		return ctx, nil
	})
}

// WrapUnary implements [connect.Interceptor].
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		spec := req.Spec()
		if spec.IsClient || i.admitted(ctx) {
			return next(ctx, req)
		}
		ctx, err := i.authenticate(ctx, spec, req.Peer(), req.Header())
		if err != nil {
			return nil, err
		}
		return next(ctx, req)
	}
}

// WrapStreamingClient implements [connect.Interceptor]; it does nothing.
func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements [connect.Interceptor].
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if !i.admitted(ctx) {
			var err error
			ctx, err = i.authenticate(ctx, conn.Spec(), conn.Peer(), conn.RequestHeader())
			if err != nil {
				return err
			}
		}
		claims, ok := ClaimsFromContext(ctx)
		if !ok {
			return next(ctx, conn)
		}
		return i.untilExpiry(ctx, conn, claims, next)
	}
}

// authenticate runs the whole check for one call and returns the context
// for the handler, or the loader's error. Its callers skip it for a call
// this interceptor already admitted ([Interceptor.admitted]).
func (i *Interceptor) authenticate(ctx context.Context, spec connect.Spec, peer connect.Peer, h http.Header) (context.Context, error) {
	// A nil or zero Validator refuses every call (fail closed).
	v := i.validator()
	ctx, f := v.Authenticate(ctx, Call{Procedure: spec.Procedure, Schema: spec.Schema, Header: h[v.HeaderName()]})
	if f != nil {
		return ctx, i.reject(ctx, f, peer)
	}
	return ctx, nil
}

// admitted reports whether this interceptor's validator already admitted
// the call that ctx belongs to.
func (i *Interceptor) admitted(ctx context.Context) bool {
	st, ok := ctx.Value(claimsKey{}).(*authState)
	return ok && i != nil && i.v != nil && st.v == i.v
}

// reject builds the error for f through its loader and, where the protocol
// can carry it, adds the RFC 6750 WWW-Authenticate header.
func (i *Interceptor) reject(ctx context.Context, f *Failure, peer connect.Peer) *connect.Error {
	var ls loaders
	if i != nil {
		ls = i.loaders
	}
	err := ls.load(ctx, f)
	// On gRPC, error metadata travels as trailers, where Go's HTTP/2 server
	// drops WWW-Authenticate; the AuthError detail carries the same facts.
	if peer.Protocol != connect.ProtocolGRPC && err.Meta().Get("WWW-Authenticate") == "" {
		err.Meta().Set("WWW-Authenticate", wwwAuthenticate(i.validator().HeaderScheme(), f))
	}
	return err
}

// validator returns the interceptor's validator; nil for a nil Interceptor,
// whose methods then fail closed like a zero Validator's.
func (i *Interceptor) validator() *Validator {
	if i == nil {
		return nil
	}
	return i.v
}

// wwwAuthenticate renders the RFC 6750 §3 challenge for f under scheme
// (every front end's, internal/frontend). It names the error code only; no
// token or expected value is ever included.
func wwwAuthenticate(scheme string, f *Failure) string {
	return frontend.Challenge(scheme, connectjwtv1.Reason(f.Reason))
}
