package connectv2

import (
	"context"
	"errors"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connectproto"

	"github.com/connectjwt/connectjwt"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

// A refresher replaces an access token that the server found expired; a
// [connectjwt.Session] is one.
type refresher interface {
	Refresh(ctx context.Context, stale string) error
}

// NewClientInterceptor returns a client interceptor that sends the access
// token from src as "Authorization: Bearer <token>" on every call. Pass it
// to [connect.NewClient].
//
// When src is a [connectjwt.Session] (see [NewSession]), a unary call that
// the server answers with REASON_EXPIRED refreshes the token once,
// concurrent calls sharing one refresh, and is sent again once with the new
// token; when the refresh fails the call returns its original error. Streams
// are not sent again (their messages may have been consumed); the next
// stream uses the refreshed token once any unary call refreshed it.
//
// A unary call without a token fails with [connect.CodeUnauthenticated]
// before it is sent; a stream goes out without one, and the server's
// REASON_MISSING answer is what the caller sees.
func NewClientInterceptor(src connectjwt.TokenSource) connect.ClientInterceptor {
	ref, _ := src.(refresher)
	return func(next connect.ClientFunc) connect.ClientFunc {
		return func(ctx context.Context, spec connect.Spec) (connect.ClientStream, error) {
			info, ok := connect.CallInfoForClientContext(ctx)
			if !ok {
				ctx, info = connect.NewClientContext(ctx)
			}
			token, err := src.AccessToken(ctx)
			switch {
			case err == nil:
				setBearer(info, token)
			case spec.StreamType == connect.StreamTypeUnary:
				return nil, connect.NewError(connect.CodeUnauthenticated, err.Error()).WithCause(err)
			}
			stream, err := next(ctx, spec)
			if err != nil || ref == nil || spec.StreamType != connect.StreamTypeUnary || token == "" {
				return stream, err
			}
			return &refreshingUnary{ClientStream: stream, ctx: ctx, spec: spec, next: next, info: info, src: src, ref: ref, token: token}, nil
		}
	}
}

func setBearer(info *connect.CallInfo, token string) {
	info.RequestHeader().Set(connectjwt.DefaultHeaderName, connectjwt.DefaultHeaderScheme+" "+token)
}

// refreshingUnary is a unary call that is sent again, once, with a
// refreshed token when the server answers REASON_EXPIRED.
type refreshingUnary struct {
	connect.ClientStream

	ctx   context.Context //nolint:containedctx // the call's, for the one Refresh and resend
	spec  connect.Spec
	next  connect.ClientFunc
	info  *connect.CallInfo
	src   connectjwt.TokenSource
	ref   refresher
	token string
	req   any
	sent  bool // sent again already
}

func (s *refreshingUnary) Send(msg any) error {
	s.req = msg
	return s.ClientStream.Send(msg)
}

func (s *refreshingUnary) Receive(msg any) error {
	err := s.ClientStream.Receive(msg)
	if err == nil || s.sent || s.req == nil || !isExpired(err) {
		return err
	}
	s.sent = true
	if rerr := s.ref.Refresh(s.ctx, s.token); rerr != nil {
		return err
	}
	fresh, terr := s.src.AccessToken(s.ctx)
	if terr != nil {
		return err
	}
	_ = s.Close()
	setBearer(s.info, fresh)
	stream, nerr := s.next(s.ctx, s.spec)
	if nerr != nil {
		return nerr
	}
	s.ClientStream = stream
	if err := stream.Send(s.req); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	return stream.Receive(msg)
}

// isExpired reports whether err is the server's REASON_EXPIRED answer.
func isExpired(err error) bool {
	ae, ok := AuthErrorOf(err)
	return ok && connect.CodeOf(err) == connect.CodeUnauthenticated && ae.GetReason() == connectjwtv1.Reason_REASON_EXPIRED
}

// AuthErrorOf returns the connectjwt.v1.AuthError detail that describes
// err, and whether there is one: the detail of a v2 *connect.Error (one a
// client received, or one built by [DefaultError] or a loader), or what
// [connectjwt.AuthErrorOf] finds for any other error (a
// [connectjwt.Failure], a v1 error).
func AuthErrorOf(err error) (*connectjwtv1.AuthError, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return connectjwt.AuthErrorOf(err)
	}
	for _, d := range ce.Details() {
		if m, derr := connectproto.UnmarshalErrorDetail(d); derr == nil {
			if ae, ok := m.(*connectjwtv1.AuthError); ok {
				return ae, true
			}
		}
	}
	return nil, false
}
