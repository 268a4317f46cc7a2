package connectjwt_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// wireProtocols returns the client options for each protocol a server speaks.
func wireProtocols() []struct {
	name string
	opts []connect.ClientOption
} {
	return []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpcweb", []connect.ClientOption{connect.WithGRPCWeb()}},
	}
}

// authFixture is a server with AuthService (test/test) and a greeter behind
// the interceptor; clock moves the issuer's and interceptor's time.
type authFixture struct {
	url        string
	httpClient *http.Client
	issuer     *connectjwt.Issuer
	offset     atomic.Int64 // added to time.Now, in nanoseconds
	refreshes  atomic.Int32
}

// newAuthFixture starts the fixture; interceptorOpts apply to the
// interceptor only.
func newAuthFixture(t *testing.T, interceptorOpts ...any) *authFixture {
	t.Helper()
	fx := &authFixture{}
	clock := func() time.Time { return time.Now().Add(time.Duration(fx.offset.Load())) }
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))),
		connectjwt.WithIssuer("https://issuer.test"),
		connectjwt.WithClock(clock),
	)
	issuer, err := connectjwt.NewIssuer(shared, connectjwt.WithTokenLifetimes(time.Minute, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := interceptorFor(t, append([]any{shared}, interceptorOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	login := func(_ context.Context, user, password string) (string, error) {
		switch {
		case user == "down":
			return "", fmt.Errorf("user store: %w", connectjwt.ErrUnavailable)
		case user != "test":
			return "", errors.New("no such user")
		case password != "test":
			return "", errors.New("wrong password")
		}
		return user, nil
	}
	countRefresh := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if req.Spec().Procedure == connectjwtv1connect.AuthServiceRefreshProcedure {
				fx.refreshes.Add(1)
			}
			return next(ctx, req)
		}
	})
	mux := http.NewServeMux()
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(connectjwt.NewAuthService(issuer, login), connect.WithInterceptors(countRefresh)))
	mux.Handle(examplev1connect.NewProtectedServiceHandler(greeter{}, auth.HandlerOption()))
	var stop func()
	fx.url, fx.httpClient, stop = serve(mux)
	t.Cleanup(stop)
	fx.issuer = issuer
	return fx
}

func TestAuthServiceLoginAndRefresh(t *testing.T) {
	fx := newAuthFixture(t)
	for _, proto := range wireProtocols() {
		t.Run(proto.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client := connectjwtv1connect.NewAuthServiceClient(fx.httpClient, fx.url, proto.opts...)
			res, err := client.Login(ctx, connect.NewRequest(&connectjwtv1.LoginRequest{Username: "test", Password: "test"}))
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			pair := res.Msg.GetTokens()
			if pair.GetAccessToken() == "" || pair.GetRefreshToken() == "" || pair.GetTokenType() != "Bearer" || pair.GetExpiresIn() != 60 {
				t.Fatalf("Login returned %v", pair)
			}
			claims, err := fx.issuer.Validator().Validate(ctx, pair.GetAccessToken())
			if err != nil || !claims.Fresh || claims.Identity != "test" {
				t.Fatalf("login access token: %+v, %v", claims, err)
			}

			// Wrong password and unknown user get the same answer.
			var messages []string
			for _, creds := range [][2]string{{"test", "nope"}, {"nobody", "test"}, {"", ""}} {
				_, err := client.Login(ctx, connect.NewRequest(&connectjwtv1.LoginRequest{Username: creds[0], Password: creds[1]}))
				if connect.CodeOf(err) != connect.CodeUnauthenticated || connectjwt.ReasonOf(err) != connectjwt.ReasonInvalidCredentials {
					t.Errorf("Login(%q) = %v", creds[0], err)
				}
				messages = append(messages, err.Error())
			}
			if messages[0] != messages[1] || messages[1] != messages[2] {
				t.Errorf("login failures differ: %q", messages)
			}
			_, err = client.Login(ctx, connect.NewRequest(&connectjwtv1.LoginRequest{Username: "down", Password: "x"}))
			if connect.CodeOf(err) != connect.CodeUnavailable || connectjwt.ReasonOf(err) != connectjwt.ReasonUnavailable {
				t.Errorf("Login with store down = %v", err)
			}

			ref, err := client.Refresh(ctx, connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: pair.GetRefreshToken()}))
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			next := ref.Msg.GetTokens()
			if next.GetRefreshToken() == pair.GetRefreshToken() || next.GetAccessToken() == pair.GetAccessToken() {
				t.Error("Refresh did not rotate the tokens")
			}
			claims, err = fx.issuer.Validator().Validate(ctx, next.GetAccessToken())
			if err != nil || claims.Fresh || claims.Identity != "test" {
				t.Errorf("refreshed access token: %+v, %v", claims, err)
			}

			for name, tok := range map[string]string{"access token": pair.GetAccessToken(), "garbage": "x.y.z", "empty": ""} {
				_, err := client.Refresh(ctx, connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: tok}))
				if connect.CodeOf(err) != connect.CodeUnauthenticated {
					t.Errorf("Refresh(%s) = %v", name, err)
				}
			}
			_, err = client.Refresh(ctx, connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: pair.GetAccessToken()}))
			if connectjwt.ReasonOf(err) != connectjwt.ReasonWrongTokenType {
				t.Errorf("Refresh(access token) reason = %v", connectjwt.ReasonOf(err))
			}

			// The refresh token is refused where an access token belongs.
			greet := examplev1connect.NewProtectedServiceClient(fx.httpClient, fx.url, append(proto.opts,
				connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(pair.GetRefreshToken()))))...)
			_, err = greet.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
			if connectjwt.ReasonOf(err) != connectjwt.ReasonWrongTokenType {
				t.Errorf("Protected(refresh token) = %v", err)
			}
		})
	}
}

func TestAuthServiceZeroValue(t *testing.T) {
	var s connectjwt.AuthService
	_, err := s.Login(context.Background(), connect.NewRequest(&connectjwtv1.LoginRequest{Username: "test", Password: "test"}))
	if connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Errorf("zero AuthService Login = %v", err)
	}
	_, err = s.Refresh(context.Background(), connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: "a.b.c"}))
	if connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Errorf("zero AuthService Refresh = %v", err)
	}
}
