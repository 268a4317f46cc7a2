package connectjwt

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// An Authenticator checks a username and password and returns the identity
// to put in the tokens. For wrong credentials it returns an error; it should
// take the same time whether or not the user exists (hash a dummy password
// for unknown users) and compare secrets in constant time. An error that
// wraps [ErrUnavailable] (a user store that is down) is reported as
// unavailable; every other error as [ErrInvalidCredentials], with the same
// message whatever its text, so a caller cannot learn which users exist.
type Authenticator func(ctx context.Context, username, password string) (identity string, err error)

// AuthService implements connectjwt.v1.AuthService: Login exchanges
// credentials for a fresh access token and a refresh token, Refresh exchanges
// a refresh token for a new pair. Neither needs an access token: mount it
// without the [Interceptor], or list its procedures in
// [WithPublicProcedures] (see [AuthServiceProcedures]).
type AuthService struct {
	issuer       *Issuer
	authenticate Authenticator
}

var _ connectjwtv1connect.AuthServiceHandler = (*AuthService)(nil)

// AuthServiceProcedures are the procedures of AuthService, which need no
// access token.
var AuthServiceProcedures = []string{
	connectjwtv1connect.AuthServiceLoginProcedure,
	connectjwtv1connect.AuthServiceRefreshProcedure,
}

// NewAuthService returns an AuthService that checks credentials with
// authenticate and issues tokens with issuer.
func NewAuthService(issuer *Issuer, authenticate Authenticator) *AuthService {
	return &AuthService{issuer: issuer, authenticate: authenticate}
}

// Login implements connectjwt.v1.AuthService.Login.
func (s *AuthService) Login(ctx context.Context, req *connect.Request[connectjwtv1.LoginRequest]) (*connect.Response[connectjwtv1.LoginResponse], error) {
	if s == nil || s.issuer == nil || s.authenticate == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("login is not configured"))
	}
	identity, err := s.authenticate(ctx, req.Msg.GetUsername(), req.Msg.GetPassword())
	switch {
	case errors.Is(err, ErrUnavailable):
		f := fail(ErrUnavailable, nil)
		f.Cause = err
		return nil, DefaultError(f)
	case err != nil || identity == "":
		f := fail(ErrInvalidCredentials, nil)
		f.Cause = err
		return nil, DefaultError(f)
	}
	pair, err := s.issuer.CreateTokenPair(ctx, identity, true)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, errors.New("could not issue tokens"))
	}
	return connect.NewResponse(&connectjwtv1.LoginResponse{Tokens: pair}), nil
}

// Refresh implements connectjwt.v1.AuthService.Refresh. The refresh token is
// verified like an access token (signature, claims, expiry, [Blocklist]) but
// must carry the refresh typ; an access token is refused with
// [ErrWrongTokenType]. The new access token is not fresh. Failures are
// answered with [DefaultError]: the interceptor's loaders are for access
// tokens, and a client that refreshes on REASON_EXPIRED must see a refresh
// failure as final.
func (s *AuthService) Refresh(ctx context.Context, req *connect.Request[connectjwtv1.RefreshRequest]) (*connect.Response[connectjwtv1.RefreshResponse], error) {
	if s == nil || s.issuer == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("refresh is not configured"))
	}
	claims, f := s.issuer.refresh.validateToken(ctx, req.Msg.GetRefreshToken(), true)
	if f != nil {
		f.Procedure = connectjwtv1connect.AuthServiceRefreshProcedure
		return nil, DefaultError(f)
	}
	pair, err := s.issuer.CreateTokenPair(ctx, claims.Identity, false)
	if err != nil {
		return nil, connect.NewError(connect.CodeInternal, fmt.Errorf("could not issue tokens"))
	}
	return connect.NewResponse(&connectjwtv1.RefreshResponse{Tokens: pair}), nil
}
