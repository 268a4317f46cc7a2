package connectv2

import (
	"context"

	connectv1 "connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectv2/gen/connectjwt/v1/connectjwtv1connect"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	connectjwtv1connectv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// NewAuthServiceHandler returns svc, the connectjwt.v1.AuthService
// (Login, Refresh, Logout, Revoke), as a connect-go v2 handler with the same
// behaviour and errors. Register it on a server whose interceptors start
// with [NewServerInterceptor]: Login and Refresh are public through their
// .proto options, Logout and Revoke need the caller's access token.
//
//	connectjwtv1connect.RegisterAuthServiceHandler(server, connectv2.NewAuthServiceHandler(svc))
func NewAuthServiceHandler(svc *connectjwt.AuthService) connectjwtv1connect.AuthServiceHandler {
	return authService{svc}
}

type authService struct{ svc *connectjwt.AuthService }

// call runs one v1 AuthService method on msg and returns its answer with
// the error in its v2 form.
func call[Req, Res any](ctx context.Context, method func(context.Context, *connectv1.Request[Req]) (*connectv1.Response[Res], error), msg *Req) (*Res, error) {
	res, err := method(ctx, connectv1.NewRequest(msg))
	if err != nil {
		return nil, fromV1(err)
	}
	return res.Msg, nil
}

func (a authService) Login(ctx context.Context, req *connectjwtv1.LoginRequest) (*connectjwtv1.LoginResponse, error) {
	return call(ctx, a.svc.Login, req)
}

func (a authService) Refresh(ctx context.Context, req *connectjwtv1.RefreshRequest) (*connectjwtv1.RefreshResponse, error) {
	return call(ctx, a.svc.Refresh, req)
}

func (a authService) Logout(ctx context.Context, req *connectjwtv1.LogoutRequest) (*connectjwtv1.LogoutResponse, error) {
	return call(ctx, a.svc.Logout, req)
}

func (a authService) Revoke(ctx context.Context, req *connectjwtv1.RevokeRequest) (*connectjwtv1.RevokeResponse, error) {
	return call(ctx, a.svc.Revoke, req)
}

// NewSession returns a [connectjwt.Session] that logs in and refreshes
// through auth, a connect-go v2 AuthService client. Give the session to
// [NewClientInterceptor] for the clients of the protected services; auth
// itself must not use that interceptor.
func NewSession(auth connectjwtv1connect.AuthServiceClient) *connectjwt.Session {
	return connectjwt.NewSession(authClient{auth})
}

// authClient is a v2 AuthService client in the shape of the v1 one that
// [connectjwt.Session] calls. Errors pass through unchanged.
type authClient struct {
	c connectjwtv1connect.AuthServiceClient
}

var _ connectjwtv1connectv1.AuthServiceClient = authClient{}

// unwrap calls a v2 client method with the v1 request's message.
func unwrap[Req, Res any](ctx context.Context, method func(context.Context, *Req) (*Res, error), req *connectv1.Request[Req]) (*connectv1.Response[Res], error) {
	res, err := method(ctx, req.Msg)
	if err != nil {
		return nil, err
	}
	return connectv1.NewResponse(res), nil
}

func (a authClient) Login(ctx context.Context, req *connectv1.Request[connectjwtv1.LoginRequest]) (*connectv1.Response[connectjwtv1.LoginResponse], error) {
	return unwrap(ctx, a.c.Login, req)
}

func (a authClient) Refresh(ctx context.Context, req *connectv1.Request[connectjwtv1.RefreshRequest]) (*connectv1.Response[connectjwtv1.RefreshResponse], error) {
	return unwrap(ctx, a.c.Refresh, req)
}

func (a authClient) Logout(ctx context.Context, req *connectv1.Request[connectjwtv1.LogoutRequest]) (*connectv1.Response[connectjwtv1.LogoutResponse], error) {
	return unwrap(ctx, a.c.Logout, req)
}

func (a authClient) Revoke(ctx context.Context, req *connectv1.Request[connectjwtv1.RevokeRequest]) (*connectv1.Response[connectjwtv1.RevokeResponse], error) {
	return unwrap(ctx, a.c.Revoke, req)
}
