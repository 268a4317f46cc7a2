package redisstore_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
	"github.com/connectjwt/connectjwt/redisstore"
)

// protocol is one of the protocols a client can speak.
type protocol struct {
	name string
	opts []connect.ClientOption
}

// protocols are Connect, gRPC and gRPC-web.
func protocols() []protocol {
	return []protocol{
		{"connect", nil},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpcweb", []connect.ClientOption{connect.WithGRPCWeb()}},
	}
}

type greeter struct {
	examplev1connect.UnimplementedProtectedServiceHandler
}

func (greeter) Protected(ctx context.Context, _ *connect.Request[examplev1.ProtectedRequest]) (*connect.Response[examplev1.ProtectedResponse], error) {
	identity, _ := connectjwt.IdentityFromContext(ctx)
	return connect.NewResponse(&examplev1.ProtectedResponse{Hello: "world", Identity: identity}), nil
}

// fleetServer is one server of the fleet: its own interceptor, issuer,
// Redis client and Store, sharing only the key and the Redis server.
type fleetServer struct {
	url        string
	httpClient *http.Client
}

func newFleetServer(t *testing.T, r *redisServer, svcOpts ...connectjwt.AuthServiceOption) *fleetServer {
	t.Helper()
	store := newStore(t, r.Client(true), redisstore.WithTimeout(300*time.Millisecond))
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))),
		connectjwt.WithIssuer("https://issuer.test"),
		connectjwt.WithRevocationStore(store),
	)
	issuer, err := connectjwt.NewIssuer(shared)
	if err != nil {
		t.Fatal(err)
	}
	validator, err := connectjwt.NewValidator(shared)
	if err != nil {
		t.Fatal(err)
	}
	auth := connectjwt.NewInterceptor(validator)
	login := func(_ context.Context, user, password string) (string, error) {
		if password != "secret" {
			return "", connectjwt.ErrInvalidCredentials
		}
		return user, nil
	}
	mux := http.NewServeMux()
	// Login and Refresh are public through their .proto options; Logout
	// and Revoke need the caller's access token.
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(
		connectjwt.NewAuthService(issuer, login, svcOpts...), auth.HandlerOption()))
	mux.Handle(examplev1connect.NewProtectedServiceHandler(greeter{}, auth.HandlerOption()))

	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	var cp http.Protocols
	cp.SetUnencryptedHTTP2(true)
	transport := &http.Transport{Protocols: &cp}
	t.Cleanup(transport.CloseIdleConnections)
	return &fleetServer{url: "http://" + ln.Addr().String(), httpClient: &http.Client{Transport: transport}}
}

func (s *fleetServer) auth(opts []connect.ClientOption, token string) connectjwtv1connect.AuthServiceClient {
	if token != "" {
		opts = append(slices.Clip(opts), connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(token))))
	}
	return connectjwtv1connect.NewAuthServiceClient(s.httpClient, s.url, opts...)
}

func (s *fleetServer) protected(opts []connect.ClientOption, token string) examplev1connect.ProtectedServiceClient {
	opts = append(slices.Clip(opts), connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(token))))
	return examplev1connect.NewProtectedServiceClient(s.httpClient, s.url, opts...)
}

// callCtx bounds every call, so a hang fails the test instead of timing it
// out.
func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// wantRefused checks err is code with reason in its AuthError detail.
func wantRefused(t *testing.T, what string, err error, code connect.Code, reason connectjwtv1.Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted, want %v %v", what, code, reason)
	}
	detail, ok := connectjwt.AuthErrorOf(err)
	if connect.CodeOf(err) != code || !ok || detail.GetReason() != reason {
		t.Fatalf("%s: %v (detail %v), want %v %v", what, err, detail, code, reason)
	}
}

// TestFleet: two servers, each with its own interceptor and Redis client,
// share one redis-server. A logout on one is refused on the other; with
// Redis stopped every check fails closed as unavailable, quickly.
func TestFleet(t *testing.T) {
	r := startRedis(t)
	a, b := newFleetServer(t, r), newFleetServer(t, r)
	hello := connect.NewRequest(&examplev1.ProtectedRequest{})

	login := func(t *testing.T, s *fleetServer, opts []connect.ClientOption, user string) *connectjwtv1.TokenPair {
		t.Helper()
		res, err := s.auth(opts, "").Login(callCtx(t), connect.NewRequest(&connectjwtv1.LoginRequest{Username: user, Password: "secret"}))
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		return res.Msg.GetTokens()
	}

	for _, p := range protocols() {
		t.Run(p.name, func(t *testing.T) {
			user := "alice-" + p.name
			tokens := login(t, a, p.opts, user)
			for _, s := range []*fleetServer{a, b} {
				res, err := s.protected(p.opts, tokens.GetAccessToken()).Protected(callCtx(t), hello)
				if err != nil || res.Msg.GetIdentity() != user {
					t.Fatalf("before logout: %v, %v", res, err)
				}
			}

			// Logout on A revokes the access and the refresh token on B.
			_, err := a.auth(p.opts, tokens.GetAccessToken()).Logout(callCtx(t),
				connect.NewRequest(&connectjwtv1.LogoutRequest{RefreshToken: tokens.GetRefreshToken()}))
			if err != nil {
				t.Fatalf("logout on A: %v", err)
			}
			for name, s := range map[string]*fleetServer{"A": a, "B": b} {
				_, err := s.protected(p.opts, tokens.GetAccessToken()).Protected(callCtx(t), hello)
				wantRefused(t, "access token after logout on "+name, err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_REVOKED)
			}
			_, err = b.auth(p.opts, "").Refresh(callCtx(t), connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: tokens.GetRefreshToken()}))
			wantRefused(t, "refresh on B after logout on A", err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_REVOKED)

			// Logout everywhere on B revokes every earlier token on A,
			// including ones logged in on A.
			phone, laptop := login(t, a, p.opts, user), login(t, b, p.opts, user)
			if _, err := a.protected(p.opts, phone.GetAccessToken()).Protected(callCtx(t), hello); err != nil {
				t.Fatalf("new session: %v", err)
			}
			_, err = b.auth(p.opts, laptop.GetAccessToken()).Logout(callCtx(t),
				connect.NewRequest(&connectjwtv1.LogoutRequest{Everywhere: true}))
			if err != nil {
				t.Fatalf("logout everywhere on B: %v", err)
			}
			_, err = a.protected(p.opts, phone.GetAccessToken()).Protected(callCtx(t), hello)
			wantRefused(t, "other session after logout everywhere", err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_REVOKED)
			_, err = a.auth(p.opts, "").Refresh(callCtx(t), connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: phone.GetRefreshToken()}))
			wantRefused(t, "other session's refresh after logout everywhere", err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_REVOKED)

			// Another user is untouched.
			bob := login(t, b, p.opts, "bob-"+p.name)
			if _, err := a.protected(p.opts, bob.GetAccessToken()).Protected(callCtx(t), hello); err != nil {
				t.Fatalf("another user: %v", err)
			}
		})
	}

	// Live tokens, issued while Redis runs.
	live := map[string]*connectjwtv1.TokenPair{}
	for _, p := range protocols() {
		live[p.name] = login(t, a, p.opts, "carol-"+p.name)
	}
	r.Stop()

	for _, p := range protocols() {
		t.Run(p.name+"/redis stopped", func(t *testing.T) {
			tokens := live[p.name]
			check := func(what string, call func(context.Context) error) {
				t.Helper()
				start := time.Now()
				err := call(callCtx(t))
				if elapsed := time.Since(start); elapsed > 2*time.Second {
					t.Errorf("%s took %v", what, elapsed)
				}
				wantRefused(t, what, err, connect.CodeUnavailable, connectjwtv1.Reason_REASON_UNAVAILABLE)
			}
			for name, s := range map[string]*fleetServer{"A": a, "B": b} {
				check("Protected on "+name, func(ctx context.Context) error {
					_, err := s.protected(p.opts, tokens.GetAccessToken()).Protected(ctx, hello)
					return err
				})
				check("Refresh on "+name, func(ctx context.Context) error {
					_, err := s.auth(p.opts, "").Refresh(ctx, connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: tokens.GetRefreshToken()}))
					return err
				})
				check("Logout on "+name, func(ctx context.Context) error {
					_, err := s.auth(p.opts, tokens.GetAccessToken()).Logout(ctx, connect.NewRequest(&connectjwtv1.LogoutRequest{}))
					return err
				})
			}
			// Login does not read the store.
			if _, err := a.auth(p.opts, "").Login(callCtx(t), connect.NewRequest(&connectjwtv1.LoginRequest{Username: "carol", Password: "secret"})); err != nil {
				t.Errorf("login with Redis stopped: %v", err)
			}
		})
	}
}
