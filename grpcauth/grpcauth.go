// Package grpcauth authenticates grpc-go servers with a
// [connectjwt.Validator], so grpc-go services next to Connect ones share one
// validator, one policy and one error contract.
//
// Install both interceptors, first in the chain:
//
//	srv := grpc.NewServer(
//		grpc.ChainUnaryInterceptor(grpcauth.UnaryServerInterceptor(v)),
//		grpc.ChainStreamInterceptor(grpcauth.StreamServerInterceptor(v)),
//	)
//
// A call is authenticated as the Connect interceptor authenticates it: the
// token comes from the validator's header ([connectjwt.Validator.HeaderName],
// lower-cased as gRPC metadata keys are), the procedure is the gRPC full
// method name, and the method's .proto policy options apply when its
// descriptor is registered (see [WithFiles]). A refused call fails with the
// same code as over Connect (unauthenticated, permission_denied or
// unavailable) and the same [connectjwtv1.AuthError] detail, which a client
// reads from status.FromError(err).Details(). Handlers read the caller with
// [connectjwt.ClaimsFromContext].
//
// A stream does not outlive its token: once exp (plus leeway) passes, or
// the token is found revoked, the handler's context is done, a RecvMsg
// waiting for a silent client and a SendMsg waiting for a client that
// stopped reading return at once, every further SendMsg and RecvMsg fails,
// and the stream ends with the refusal's status.
package grpcauth

import (
	"context"
	"errors"
	"strings"
	"sync"

	"connectrpc.com/connect"
	"github.com/connectjwt/connectjwt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// An Option configures the interceptors.
type Option interface {
	apply(*auth)
}

type optionFunc func(*auth)

func (f optionFunc) apply(a *auth) { f(a) }

// WithFiles sets the registry in which method descriptors are looked up, so
// the methods' .proto policy options apply; by default
// [protoregistry.GlobalFiles], where generated code registers itself. A
// method whose descriptor is not found gets only the validator's Go-option
// policies (and otherwise requires a valid token).
func WithFiles(files *protoregistry.Files) Option {
	return optionFunc(func(a *auth) { a.files = files })
}

// UnaryServerInterceptor returns an interceptor that authenticates every
// unary call with validator.
func UnaryServerInterceptor(validator *connectjwt.Validator, opts ...Option) grpc.UnaryServerInterceptor {
	authn := newAuth(validator, opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := authn.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns an interceptor that authenticates every
// stream with validator and ends it when its token expires or is found
// revoked.
func StreamServerInterceptor(validator *connectjwt.Validator, opts ...Option) grpc.StreamServerInterceptor {
	authn := newAuth(validator, opts)
	return func(srv any, stream grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := authn.authenticate(stream.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if _, ok := connectjwt.ClaimsFromContext(ctx); !ok {
			// Public or anonymous: nothing can expire.
			return handler(srv, &serverStream{ServerStream: stream, ctx: ctx})
		}
		ctx, cancel := authn.v.StreamContext(ctx)
		defer cancel()
		s := &serverStream{ServerStream: stream, ctx: ctx, live: true}
		herr := handler(srv, s)
		if err := s.ended(); err != nil {
			// The token expired or was revoked: that, not whatever the
			// handler made of its ended context, is why the stream ended.
			return err
		}
		return herr
	}
}

// auth is what both interceptors share.
type auth struct {
	v       *connectjwt.Validator
	header  string // the metadata key: lower case
	files   *protoregistry.Files
	schemas sync.Map // full method → protoreflect.MethodDescriptor
}

func newAuth(validator *connectjwt.Validator, opts []Option) *auth {
	authn := &auth{v: validator, files: protoregistry.GlobalFiles}
	for _, o := range opts {
		if o != nil {
			o.apply(authn)
		}
	}
	if validator != nil {
		authn.header = strings.ToLower(validator.HeaderName())
	}
	return authn
}

// authenticate runs the validator for one call and returns the handler's
// context, or the refusal as a status error.
func (a *auth) authenticate(ctx context.Context, fullMethod string) (context.Context, error) {
	if a.v == nil {
		return ctx, status.Error(codes.Unauthenticated, "connectjwt: interceptor is not configured")
	}
	var values []string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		values = md[a.header]
	}
	ctx, f := a.v.Authenticate(ctx, connectjwt.Call{Procedure: fullMethod, Schema: a.schema(fullMethod), Header: values})
	if f != nil {
		return ctx, statusError(f)
	}
	return ctx, nil
}

// schema returns the registered descriptor of the method, or nil.
func (a *auth) schema(fullMethod string) any {
	if method, ok := a.schemas.Load(fullMethod); ok {
		return method
	}
	if a.files == nil || !strings.HasPrefix(fullMethod, "/") {
		return nil
	}
	name := protoreflect.FullName(strings.Replace(fullMethod[1:], "/", ".", 1))
	d, err := a.files.FindDescriptorByName(name)
	if err != nil {
		return nil
	}
	method, ok := d.(protoreflect.MethodDescriptor)
	if !ok {
		return nil
	}
	// Only found methods are remembered: with an unknown-service handler,
	// the name of a method that is not found is the client's choice.
	a.schemas.Store(fullMethod, method)
	return method
}

// statusError turns a refusal into the gRPC status a Connect server would
// send: the same code, message and details.
func statusError(f *connectjwt.Failure) error {
	return statusOf(connectjwt.DefaultError(f))
}

// statusOf converts a Connect error to a gRPC status error. Connect's codes
// are gRPC's, number for number.
func statusOf(cerr *connect.Error) error {
	st := status.New(codes.Code(cerr.Code()), cerr.Message()).Proto()
	for _, d := range cerr.Details() {
		st.Details = append(st.Details, &anypb.Any{TypeUrl: "type.googleapis.com/" + d.Type(), Value: d.Bytes()})
	}
	return status.FromProto(st).Err()
}

// serverStream gives the handler the authenticated context and, for a
// stream with a token, stops it once that context ends.
//
//nolint:containedctx // a grpc.ServerStream hands its handler a context only through Context()
type serverStream struct {
	grpc.ServerStream

	ctx context.Context
	// live: the context ends at the token's expiry or revocation.
	live bool
	// abandoned is set once a RecvMsg returned before the message it
	// waited for, or a SendMsg before its message was written: from then on
	// the stream is dead (grpc-go forbids concurrent calls of either).
	mu        sync.Mutex
	abandoned bool
	results   chan error // RecvMsg's
	sent      chan error // SendMsg's
}

func (s *serverStream) Context() context.Context { return s.ctx }

// ended returns the refusal that ended the stream's context, or nil.
func (s *serverStream) ended() error {
	if !s.live || s.ctx.Err() == nil {
		return nil
	}
	if f, ok := errors.AsType[*connectjwt.Failure](context.Cause(s.ctx)); ok {
		return statusError(f)
	}
	return nil
}

// SendMsg sends a message. grpc-go's SendMsg waits for the client's flow
// control window, not on the handler's context: on a stream with a token it
// runs on its own goroutine, so a SendMsg waiting for a client that stopped
// reading returns when the token expires or is found revoked. The abandoned
// send returns when the handler returns and grpc-go tears the stream down;
// as grpc-go requires anyway, msg must not be modified after SendMsg.
func (s *serverStream) SendMsg(msg any) error {
	if err := s.ended(); err != nil {
		return err
	}
	if !s.live {
		return s.ServerStream.SendMsg(msg)
	}
	sent, err := s.begin(&s.sent)
	if err != nil {
		return err
	}
	go func() { sent <- s.ServerStream.SendMsg(msg) }()
	select {
	case err := <-sent:
		return err
	case <-s.ctx.Done():
		return s.abandon()
	}
}

// errStreamEnded is what SendMsg and RecvMsg return once an earlier call was
// abandoned and the stream's context ended for another reason than its
// token.
var errStreamEnded = status.Error(codes.Canceled, "connectjwt: stream has ended")

// begin returns the channel on which a SendMsg or RecvMsg waits for
// grpc-go's (*waits, made on first use), or an error once an earlier call was
// abandoned.
func (s *serverStream) begin(waits *chan error) (chan error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.abandoned {
		return nil, errStreamEnded
	}
	if *waits == nil {
		*waits = make(chan error, 1)
	}
	return *waits, nil
}

// abandon marks the stream dead after a SendMsg or RecvMsg stopped waiting
// for grpc-go's, and returns why the stream ended.
func (s *serverStream) abandon() error {
	s.mu.Lock()
	s.abandoned = true
	s.mu.Unlock()
	if err := s.ended(); err != nil {
		return err
	}
	return status.FromContextError(s.ctx.Err()).Err()
}

// RecvMsg receives the next message. grpc-go's RecvMsg waits on the
// transport stream, not on the handler's context: on a stream with a token
// it runs on its own goroutine, decoding into a fresh message that is copied
// into msg only when it arrived in time, so a RecvMsg waiting for a silent
// client returns when the token expires, and an abandoned one can never
// write into msg. It returns when the handler returns and grpc-go tears the
// stream down.
func (s *serverStream) RecvMsg(msg any) error {
	if !s.live {
		return s.ServerStream.RecvMsg(msg)
	}
	if err := s.ended(); err != nil {
		return err
	}
	dst, ok := msg.(proto.Message)
	if !ok {
		// Not a protobuf message (a custom codec): no safe copy, so
		// receive directly; expiry is still seen before and after.
		if err := s.ServerStream.RecvMsg(msg); err != nil {
			return err
		}
		return s.ended()
	}
	results, err := s.begin(&s.results)
	if err != nil {
		return err
	}
	fresh := dst.ProtoReflect().New().Interface()
	go func() { results <- s.ServerStream.RecvMsg(fresh) }()
	select {
	case err := <-results:
		if err != nil {
			return err
		}
		if err := s.ended(); err != nil {
			return err
		}
		proto.Reset(dst)
		proto.Merge(dst, fresh)
		return nil
	case <-s.ctx.Done():
		return s.abandon()
	}
}
