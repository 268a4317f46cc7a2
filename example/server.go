package main

import (
	"context"
	"io"
	"net/http"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
	"github.com/connectjwt/connectjwt/internal/exampleapp"
)

// newServer returns the example's handler on connect-go v1: AuthService
// (Login and Refresh need no access token, per their .proto options) and
// ProtectedService (an access token on every call), next to the routes
// every version shares ([exampleapp.App.Mount]).
func newServer(cfg exampleapp.Config) (http.Handler, error) {
	app, err := exampleapp.New(cfg)
	if err != nil {
		return nil, err
	}
	// Flask's @jwt.expired_token_loader: only expired tokens get the custom
	// answer; every other failure keeps connectjwt's default error.
	interceptor := connectjwt.NewInterceptor(app.Validator,
		connectjwt.WithExpiredTokenLoader(exampleapp.ExpiredTokenLoader),
	)

	limit := connect.WithReadMaxBytes(exampleapp.MaxReadBytes)
	mux := http.NewServeMux()
	// Login and Refresh need no access token (their .proto options say
	// public: true); Logout and Revoke need one.
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(app.AuthService, interceptor.HandlerOption(), limit))
	// Every ProtectedService call needs one. HandlerOption installs the
	// request gate (refuses before any message is decoded) and the
	// interceptor (claims into the context, streams end at exp);
	// StreamDeadlines lets an expired stream release its connection even
	// when the client stopped reading.
	path, protected := examplev1connect.NewProtectedServiceHandler(
		protectedService{},
		interceptor.HandlerOption(),
		limit,
	)
	mux.Handle(path, connectjwt.StreamDeadlines(protected))
	if err := app.Mount(mux); err != nil {
		return nil, err
	}
	return mux, nil
}

// protectedService serves [exampleapp.Service] as example.v1.ProtectedService
// on connect-go v1: it only adapts the request, response and stream types.
type protectedService struct{ svc exampleapp.Service }

var _ examplev1connect.ProtectedServiceHandler = protectedService{}

func (p protectedService) Protected(ctx context.Context, req *connect.Request[examplev1.ProtectedRequest]) (*connect.Response[examplev1.ProtectedResponse], error) {
	res, err := p.svc.Protected(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

func (p protectedService) ProtectedStream(ctx context.Context, req *connect.Request[examplev1.ProtectedStreamRequest], stream *connect.ServerStream[examplev1.ProtectedStreamResponse]) error {
	return p.svc.ProtectedStream(ctx, req.Msg, stream.Send)
}

func (p protectedService) Collect(ctx context.Context, stream *connect.ClientStream[examplev1.CollectRequest]) (*connect.Response[examplev1.CollectResponse], error) {
	res, err := p.svc.Collect(ctx, func() (*examplev1.CollectRequest, error) {
		if stream.Receive() {
			return stream.Msg(), nil
		}
		if err := stream.Err(); err != nil {
			return nil, err
		}
		return nil, io.EOF
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(res), nil
}

func (p protectedService) Chat(ctx context.Context, stream *connect.BidiStream[examplev1.ChatRequest, examplev1.ChatResponse]) error {
	return p.svc.Chat(ctx, stream.Receive, stream.Send)
}
