package main

import (
	"context"
	"errors"
	"net/http"

	connectv1 "connectrpc.com/connect"
	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectv2"
	"github.com/connectjwt/connectjwt/connectv2/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/connectv2/gen/connectjwt/v1/connectjwtv1connect"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/internal/exampleapp"
)

// newServer returns the example's handler on connect-go v2: AuthService
// (Login and Refresh need no token, per their .proto options) and
// ProtectedService (an access token on every call), registered on one
// connect.Server behind connectv2.NewServerInterceptor, next to the routes
// every version shares ([exampleapp.App.Mount]).
func newServer(cfg exampleapp.Config) (http.Handler, error) {
	app, err := exampleapp.New(cfg)
	if err != nil {
		return nil, err
	}
	// The interceptor refuses a call before any message is decoded, puts
	// the claims in the context and ends streams at exp. Flask's
	// @jwt.expired_token_loader: only expired tokens get the custom answer.
	server := connect.NewServer(connectv2.NewServerInterceptor(app.Validator,
		connectv2.WithExpiredTokenLoader(expiredTokenLoader),
	))
	connectjwtv1connect.RegisterAuthServiceHandler(server, connectv2.NewAuthServiceHandler(app.AuthService))
	examplev1connect.RegisterProtectedServiceHandler(server, protectedService{})

	mux := http.NewServeMux()
	connecthttp.Mount(mux, server, connecthttp.WithReadMaxBytes(exampleapp.MaxReadBytes))
	if err := app.Mount(mux); err != nil {
		return nil, err
	}
	// StreamDeadlines lets an expired stream release its connection even
	// when the client stopped reading or sending.
	return connectjwt.StreamDeadlines(mux), nil
}

// expiredTokenLoader is [exampleapp.ExpiredTokenLoader] as a v2 error.
func expiredTokenLoader(ctx context.Context, f *connectjwt.Failure) *connect.Error {
	return fromV1Error(exampleapp.ExpiredTokenLoader(ctx, f))
}

// fromV1 turns the connect-go v1 errors of [exampleapp] into v2 errors.
// Other errors (a stream's, the context's) pass through.
func fromV1(err error) error {
	var e *connectv1.Error
	if !errors.As(err, &e) {
		return err
	}
	return fromV1Error(e)
}

// fromV1Error is the v2 error with e's code, message and details.
func fromV1Error(e *connectv1.Error) *connect.Error {
	out := connect.NewError(connect.Code(e.Code()), e.Message())
	for _, d := range e.Details() {
		out = out.WithDetail(&connect.ErrorDetail{Type: d.Type(), Value: d.Bytes()})
	}
	return out
}

// protectedService serves [exampleapp.Service] as example.v1.ProtectedService
// on connect-go v2: it only adapts the stream types and errors.
type protectedService struct{ svc exampleapp.Service }

var _ examplev1connect.ProtectedServiceHandler = protectedService{}

func (p protectedService) Protected(ctx context.Context, req *examplev1.ProtectedRequest) (*examplev1.ProtectedResponse, error) {
	res, err := p.svc.Protected(ctx, req)
	return res, fromV1(err)
}

func (p protectedService) ProtectedStream(ctx context.Context, req *examplev1.ProtectedStreamRequest, stream examplev1connect.ProtectedServiceProtectedStreamServerStream) error {
	return fromV1(p.svc.ProtectedStream(ctx, req, stream.Send))
}

func (p protectedService) Collect(ctx context.Context, stream examplev1connect.ProtectedServiceCollectServerStream) (*examplev1.CollectResponse, error) {
	res, err := p.svc.Collect(ctx, stream.Receive)
	return res, fromV1(err)
}

func (p protectedService) Chat(ctx context.Context, stream examplev1connect.ProtectedServiceChatServerStream) error {
	return fromV1(p.svc.Chat(ctx, stream.Receive, stream.Send))
}
