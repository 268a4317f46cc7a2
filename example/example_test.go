package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
	"github.com/connectjwt/connectjwt/internal/exampleapp"
)

const (
	testSecret   = "0123456789abcdef0123456789abcdef-example-test-secret"
	callTimeout  = 10 * time.Second
	startTimeout = 10 * time.Second
)

// syncBuffer is an io.Writer that run may write to while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listeningRE = regexp.MustCompile(`^listening on (http://127\.0\.0\.1:[0-9]+)\n`)

// server is an example server started in-process through run.
type server struct {
	baseURL        string
	stdout, stderr *syncBuffer
}

// startServer runs the example exactly as main does, on a free loopback
// port, with the environment as the test set it. The server is shut down
// (and must exit cleanly) when the test ends.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}}
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run after shutdown: %v", err)
			}
		case <-time.After(exampleapp.ShutdownTimeout + 5*time.Second):
			t.Errorf("run did not return after shutdown")
		}
	})
	deadline := time.Now().Add(startTimeout)
	for {
		if m := listeningRE.FindStringSubmatch(s.stdout.String()); m != nil {
			s.baseURL = m[1]
			return s
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before listening: %v; stderr:\n%s", err, s.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line within %s; stdout %q, stderr %q", startTimeout, s.stdout, s.stderr)
		}
	}
}

// startTestServer starts the example with testSecret and the default
// access token lifetime.
func startTestServer(t *testing.T) *server {
	t.Helper()
	t.Setenv("JWT_SECRET_KEY", testSecret)
	t.Setenv("JWT_ACCESS_TTL", "")
	return startServer(t)
}

// h2cClient speaks cleartext HTTP/2 only (gRPC and bidi streams need it).
func h2cClient(t *testing.T) *http.Client {
	t.Helper()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 2 * callTimeout}
}

// http1Client speaks HTTP/1.1 only, like curl by default.
func http1Client(t *testing.T) *http.Client {
	t.Helper()
	var p http.Protocols
	p.SetHTTP1(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 2 * callTimeout}
}

type protocol struct {
	name string
	opts []connect.ClientOption
}

var protocols = []protocol{ //nolint:gochecknoglobals // a read-only test table
	{"connect", nil},
	{"grpc", []connect.ClientOption{connect.WithGRPC()}},
	{"grpcweb", []connect.ClientOption{connect.WithGRPCWeb()}},
}

type clients struct {
	auth      connectjwtv1connect.AuthServiceClient
	protected examplev1connect.ProtectedServiceClient
}

func newClients(hc *http.Client, baseURL string, p protocol) clients {
	return clients{
		auth:      connectjwtv1connect.NewAuthServiceClient(hc, baseURL, p.opts...),
		protected: examplev1connect.NewProtectedServiceClient(hc, baseURL, p.opts...),
	}
}

func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

func login(t *testing.T, c clients, username, password string) (*connectjwtv1.TokenPair, error) {
	t.Helper()
	res, err := c.auth.Login(callCtx(t), connect.NewRequest(&connectjwtv1.LoginRequest{Username: username, Password: password}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetTokens(), nil
}

func mustLogin(t *testing.T, c clients) *connectjwtv1.TokenPair {
	t.Helper()
	tokens, err := login(t, c, "test", "test")
	if err != nil {
		t.Fatalf("Login(test, test): %v", err)
	}
	if tokens.GetAccessToken() == "" || tokens.GetRefreshToken() == "" || tokens.GetTokenType() != "Bearer" {
		t.Fatalf("Login returned %v", tokens)
	}
	return tokens
}

func setBearer(h http.Header, token string) {
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
}

// An rpc calls one ProtectedService method with token ("" for none) and
// returns the identity the server answered with.
type rpc struct {
	name string
	call func(t *testing.T, c examplev1connect.ProtectedServiceClient, token string) (string, error)
}

var rpcs = []rpc{ //nolint:gochecknoglobals // a read-only test table
	{"Protected", callProtected},
	{"ProtectedStream", callProtectedStream},
	{"Collect", callCollect},
	{"Chat", callChat},
}

func callProtected(t *testing.T, c examplev1connect.ProtectedServiceClient, token string) (string, error) {
	t.Helper()
	req := connect.NewRequest(&examplev1.ProtectedRequest{})
	setBearer(req.Header(), token)
	res, err := c.Protected(callCtx(t), req)
	if err != nil {
		return "", err
	}
	if res.Msg.GetHello() != "world" {
		t.Errorf("Protected: hello = %q, want world", res.Msg.GetHello())
	}
	return res.Msg.GetIdentity(), nil
}

func callProtectedStream(t *testing.T, c examplev1connect.ProtectedServiceClient, token string) (string, error) {
	t.Helper()
	req := connect.NewRequest(&examplev1.ProtectedStreamRequest{Count: 5})
	setBearer(req.Header(), token)
	stream, err := c.ProtectedStream(callCtx(t), req)
	if err != nil {
		return "", err
	}
	defer stream.Close()
	var id string
	var n int32
	for stream.Receive() {
		n++
		msg := stream.Msg()
		if msg.GetHello() != "world" || msg.GetSequence() != n {
			t.Errorf("ProtectedStream message %d = %v", n, msg)
		}
		id = msg.GetIdentity()
	}
	if err := stream.Err(); err != nil {
		return "", err
	}
	if n != 5 {
		t.Errorf("ProtectedStream sent %d messages, want 5", n)
	}
	return id, nil
}

func callCollect(t *testing.T, c examplev1connect.ProtectedServiceClient, token string) (string, error) {
	t.Helper()
	stream := c.Collect(callCtx(t))
	setBearer(stream.RequestHeader(), token)
	words := []string{"hello", "from", "flask"}
	for _, w := range words {
		// A refused stream makes Send return io.EOF; the error itself comes
		// from CloseAndReceive.
		if err := stream.Send(&examplev1.CollectRequest{Word: w}); err != nil {
			break
		}
	}
	res, err := stream.CloseAndReceive()
	if err != nil {
		return "", err
	}
	if got := strings.Join(res.Msg.GetWords(), " "); got != "hello from flask" {
		t.Errorf("Collect words = %q", got)
	}
	return res.Msg.GetIdentity(), nil
}

func callChat(t *testing.T, c examplev1connect.ProtectedServiceClient, token string) (string, error) {
	t.Helper()
	stream := c.Chat(callCtx(t))
	defer func() { _ = stream.CloseResponse() }()
	setBearer(stream.RequestHeader(), token)
	var id string
	for _, text := range []string{"ping", "pong"} {
		if err := stream.Send(&examplev1.ChatRequest{Text: text}); err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		msg, err := stream.Receive()
		if err != nil {
			return "", err
		}
		if msg.GetText() != text {
			t.Errorf("Chat echoed %q, want %q", msg.GetText(), text)
		}
		id = msg.GetIdentity()
	}
	if err := stream.CloseRequest(); err != nil {
		return "", err
	}
	if _, err := stream.Receive(); !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("Chat after CloseRequest: got %w, want io.EOF", err)
	}
	return id, nil
}

// wantAuthError checks that err is a *connect.Error with code and an
// AuthError detail with reason, and returns it.
func wantAuthError(t *testing.T, err error, code connect.Code, reason connectjwtv1.Reason) *connect.Error {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want a *connect.Error", err, err)
	}
	if ce.Code() != code {
		t.Errorf("code = %v, want %v (error %v)", ce.Code(), code, err)
	}
	ae, ok := connectjwt.AuthErrorOf(err)
	if !ok {
		t.Fatalf("error %v has no AuthError detail", err)
	}
	if ae.GetReason() != reason {
		t.Errorf("reason = %v, want %v", ae.GetReason(), reason)
	}
	return ce
}

func expiredTokenErrorFrom(ce *connect.Error) (*examplev1.ExpiredTokenError, bool) {
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			continue
		}
		if e, ok := v.(*examplev1.ExpiredTokenError); ok {
			return e, true
		}
	}
	return nil, false
}

// wantExpired checks the example's custom expired-token error.
func wantExpired(t *testing.T, err error) {
	t.Helper()
	ce := wantAuthError(t, err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_EXPIRED)
	if ce.Message() != "The JWT has expired" {
		t.Errorf("message = %q, want %q", ce.Message(), "The JWT has expired")
	}
	e, ok := expiredTokenErrorFrom(ce)
	if !ok {
		t.Fatalf("error %v has no ExpiredTokenError detail", err)
	}
	if e.GetStatus() != 401 || e.GetTitle() != "Expired JWT" || e.GetDetail() != "The JWT has expired" {
		t.Errorf("ExpiredTokenError = %v", e)
	}
	ae, _ := connectjwt.AuthErrorOf(err)
	if !ae.GetExpiredAt().IsValid() {
		t.Errorf("AuthError has no expired_at: %v", ae)
	}
	if ae.GetMessage() != ce.Message() {
		t.Errorf("AuthError message %q, error message %q", ae.GetMessage(), ce.Message())
	}
}

// mintExpired returns an access token for "test", signed with secret, that
// expired 45 minutes ago.
func mintExpired(t *testing.T, secret []byte) string {
	t.Helper()
	issuer, err := connectjwt.NewIssuer(
		connectjwt.WithKey(connectjwt.HMACKey(secret)),
		connectjwt.WithIssuer(exampleapp.IssuerName),
		connectjwt.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }),
	)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := issuer.CreateFreshAccessToken(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestProtectedRPCs(t *testing.T) {
	s := startTestServer(t)
	if !strings.HasPrefix(s.stdout.String(), "listening on http://127.0.0.1:") {
		t.Errorf("stdout = %q", s.stdout)
	}
	if s.stderr.String() != "" {
		t.Errorf("stderr = %q, want nothing with JWT_SECRET_KEY set", s.stderr)
	}
	hc := h2cClient(t)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c := newClients(hc, s.baseURL, p)
			tokens := mustLogin(t, c)
			if tokens.GetExpiresIn() != int64(connectjwt.DefaultAccessTokenTTL/time.Second) {
				t.Errorf("expires_in = %d", tokens.GetExpiresIn())
			}
			for _, r := range rpcs {
				t.Run(r.name, func(t *testing.T) {
					id, err := r.call(t, c.protected, tokens.GetAccessToken())
					if err != nil {
						t.Fatalf("with token: %v", err)
					}
					if id != "test" {
						t.Errorf("identity = %q, want test", id)
					}
					_, err = r.call(t, c.protected, "")
					_ = wantAuthError(t, err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_MISSING)
				})
			}
		})
	}
}

// Connect and gRPC-web also work over HTTP/1.1, except bidi streams.
func TestHTTP1(t *testing.T) {
	s := startTestServer(t)
	hc := http1Client(t)
	for _, p := range []protocol{protocols[0], protocols[2]} {
		t.Run(p.name, func(t *testing.T) {
			c := newClients(hc, s.baseURL, p)
			tokens := mustLogin(t, c)
			for _, r := range rpcs[:3] {
				t.Run(r.name, func(t *testing.T) {
					if id, err := r.call(t, c.protected, tokens.GetAccessToken()); err != nil || id != "test" {
						t.Errorf("got %q, %v", id, err)
					}
				})
			}
		})
	}
}

func TestLoginFailures(t *testing.T) {
	s := startTestServer(t)
	hc := h2cClient(t)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c := newClients(hc, s.baseURL, p)
			var first *connect.Error
			for _, creds := range [][2]string{
				{"test", "wrong"},   // wrong password
				{"nobody", "test"},  // unknown user
				{"nobody", "wrong"}, // both
				{"", ""},
				{"test", "test "},
				{"TEST", "test"},
			} {
				_, err := login(t, c, creds[0], creds[1])
				ce := wantAuthError(t, err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_INVALID_CREDENTIALS)
				if first == nil {
					first = ce
					continue
				}
				if ce.Message() != first.Message() {
					t.Errorf("Login(%q, %q) message %q differs from %q", creds[0], creds[1], ce.Message(), first.Message())
				}
				ae, _ := connectjwt.AuthErrorOf(err)
				ae0, _ := connectjwt.AuthErrorOf(first)
				if ae.GetMessage() != ae0.GetMessage() {
					t.Errorf("AuthError message %q differs from %q", ae.GetMessage(), ae0.GetMessage())
				}
			}
		})
	}
}

func TestExpiredTokenLoader(t *testing.T) {
	s := startTestServer(t)
	expired := mintExpired(t, []byte(testSecret))
	hc := h2cClient(t)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c := newClients(hc, s.baseURL, p)
			for _, r := range rpcs {
				t.Run(r.name, func(t *testing.T) {
					_, err := r.call(t, c.protected, expired)
					wantExpired(t, err)
				})
			}
		})
	}
}

// Only expired tokens get the custom error; other failures keep the
// default one.
func TestOtherFailuresKeepDefaults(t *testing.T) {
	s := startTestServer(t)
	hc := h2cClient(t)
	forged := mintExpired(t, []byte(strings.Repeat("x", 32))) // another key: the signature fails first
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c := newClients(hc, s.baseURL, p)
			for _, tc := range []struct {
				token  string
				reason connectjwtv1.Reason
			}{
				{"not-a-jwt", connectjwtv1.Reason_REASON_MALFORMED},
				{forged, connectjwtv1.Reason_REASON_INVALID_SIGNATURE},
			} {
				_, err := callProtected(t, c.protected, tc.token)
				ce := wantAuthError(t, err, connect.CodeUnauthenticated, tc.reason)
				if _, ok := expiredTokenErrorFrom(ce); ok {
					t.Errorf("%v: has an ExpiredTokenError detail", tc.reason)
				}
			}
		})
	}
}

func TestRefresh(t *testing.T) {
	s := startTestServer(t)
	hc := h2cClient(t)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c := newClients(hc, s.baseURL, p)
			tokens := mustLogin(t, c)

			res, err := c.auth.Refresh(callCtx(t), connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: tokens.GetRefreshToken()}))
			if err != nil {
				t.Fatalf("Refresh(refresh token): %v", err)
			}
			renewed := res.Msg.GetTokens()
			if renewed.GetAccessToken() == "" || renewed.GetRefreshToken() == "" || renewed.GetAccessToken() == tokens.GetAccessToken() {
				t.Fatalf("Refresh returned %v", renewed)
			}
			if id, err := callProtected(t, c.protected, renewed.GetAccessToken()); err != nil || id != "test" {
				t.Errorf("Protected with refreshed token: %q, %v", id, err)
			}

			// An access token is not a refresh token...
			_, err = c.auth.Refresh(callCtx(t), connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: tokens.GetAccessToken()}))
			_ = wantAuthError(t, err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_WRONG_TOKEN_TYPE)
			// ...and a refresh token is not an access token.
			for _, r := range rpcs {
				_, err := r.call(t, c.protected, tokens.GetRefreshToken())
				_ = wantAuthError(t, err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_WRONG_TOKEN_TYPE)
			}
			_, err = c.auth.Refresh(callCtx(t), connect.NewRequest(&connectjwtv1.RefreshRequest{}))
			_ = wantAuthError(t, err, connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_MISSING)
		})
	}
}

// JWT_ACCESS_TTL shortens access tokens: a real token expires and then gets
// the custom error, and a stream opened before expiry ends with it.
func TestAccessTTL(t *testing.T) {
	t.Setenv("JWT_SECRET_KEY", testSecret)
	t.Setenv("JWT_ACCESS_TTL", "2s")
	s := startServer(t)
	hc := h2cClient(t)
	c := newClients(hc, s.baseURL, protocols[0])
	tokens := mustLogin(t, c)
	if tokens.GetExpiresIn() != 2 {
		t.Errorf("expires_in = %d, want 2", tokens.GetExpiresIn())
	}
	exp := tokens.GetAccessTokenExpiresAt().AsTime()
	if d := time.Until(exp); d > 2*time.Second || d < 0 {
		t.Fatalf("access token expires in %s, want within 2s", d)
	}

	// A chat opened before expiry...
	ctx := callCtx(t)
	chat := c.protected.Chat(ctx)
	defer func() { _ = chat.CloseResponse() }()
	setBearer(chat.RequestHeader(), tokens.GetAccessToken())
	if err := chat.Send(&examplev1.ChatRequest{Text: "before"}); err != nil {
		t.Fatal(err)
	}
	if msg, err := chat.Receive(); err != nil || msg.GetText() != "before" {
		t.Fatalf("Chat before expiry: %v, %v", msg, err)
	}

	time.Sleep(time.Until(exp) + 200*time.Millisecond)

	// ...ends with the expired error once the token expires.
	_ = chat.Send(&examplev1.ChatRequest{Text: "after"}) // may be io.EOF already
	_, err := chat.Receive()
	wantExpired(t, err)

	if _, err := callProtected(t, c.protected, tokens.GetAccessToken()); err != nil {
		wantExpired(t, err)
	} else {
		t.Error("Protected with an expired token succeeded")
	}
}

func TestDevKeyWarning(t *testing.T) {
	t.Setenv("JWT_SECRET_KEY", "")
	os.Unsetenv("JWT_SECRET_KEY") // restored by t.Setenv's cleanup
	t.Setenv("JWT_ACCESS_TTL", "")
	s := startServer(t)
	stderr := s.stderr.String()
	if !strings.Contains(stderr, "WARNING") || !strings.Contains(stderr, "JWT_SECRET_KEY is not set") {
		t.Errorf("stderr = %q, want a warning about JWT_SECRET_KEY", stderr)
	}
	if strings.Contains(stderr, string(exampleapp.DevSecret)) {
		t.Error("the warning prints the development key")
	}
	if strings.Contains(s.stdout.String(), "WARNING") {
		t.Error("the warning went to stdout")
	}
	// The server works with the development key.
	c := newClients(h2cClient(t), s.baseURL, protocols[0])
	tokens := mustLogin(t, c)
	if id, err := callProtected(t, c.protected, tokens.GetAccessToken()); err != nil || id != "test" {
		t.Errorf("Protected: %q, %v", id, err)
	}
}

func TestStartupErrors(t *testing.T) {
	for _, tc := range []struct {
		name, secret, ttl, want string
		args                    []string
	}{
		{"short key", "too-short-0123456789", "", "at least 32 bytes", nil},
		{"31 byte key", strings.Repeat("k", 31), "", "at least 32 bytes", nil},
		{"bad ttl", testSecret, "soon", "JWT_ACCESS_TTL", nil},
		{"zero ttl", testSecret, "0s", "JWT_ACCESS_TTL", nil},
		{"negative ttl", testSecret, "-1m", "JWT_ACCESS_TTL", nil},
		{"bad addr", testSecret, "", "", []string{"-addr", "127.0.0.1:notaport"}},
		{"extra argument", testSecret, "", "unexpected arguments", []string{"serve"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("JWT_SECRET_KEY", tc.secret)
			t.Setenv("JWT_ACCESS_TTL", tc.ttl)
			var stdout, stderr syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			args := tc.args
			if args == nil {
				args = []string{"-addr", "127.0.0.1:0"}
			}
			err := run(ctx, args, &stdout, &stderr)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.secret) && tc.secret != testSecret {
				t.Errorf("error %q contains the key", err)
			}
			if strings.Contains(stdout.String(), "listening") {
				t.Errorf("stdout = %q: listened despite the error", stdout.String())
			}
		})
	}
}

// The README's curl walkthrough, with plain net/http over HTTP/1.1 and
// Connect's JSON protocol.
func TestCurlWalkthrough(t *testing.T) {
	s := startTestServer(t)
	hc := http1Client(t)

	post := func(path, token, body string) (*reply, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(callCtx(t), http.MethodPost, s.baseURL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		setBearer(req.Header, token)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		if err != nil {
			t.Fatal(err)
		}
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		var out map[string]any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: %v in %s", path, err, raw)
		}
		return replyOf(res, string(raw)), out
	}

	res, body := post("/connectjwt.v1.AuthService/Login", "", `{"username":"test","password":"test"}`)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("Login: %s %v", res.Status, body)
	}
	tokens, _ := body["tokens"].(map[string]any)
	token, _ := tokens["accessToken"].(string)
	if token == "" || tokens["tokenType"] != "Bearer" || tokens["expiresIn"] != "900" {
		t.Fatalf("Login answered %v", body)
	}

	res, body = post("/example.v1.ProtectedService/Protected", token, `{}`)
	if res.StatusCode != http.StatusOK || body["hello"] != "world" || body["identity"] != "test" {
		t.Errorf("Protected: %s %v", res.Status, body)
	}

	res, body = post("/example.v1.ProtectedService/Protected", "", `{}`)
	if res.StatusCode != http.StatusUnauthorized || body["code"] != "unauthenticated" || body["message"] != "missing authorization token" {
		t.Errorf("Protected without token: %s %v", res.Status, body)
	}
	if h := res.Header.Get("WWW-Authenticate"); h != "Bearer" {
		t.Errorf("WWW-Authenticate = %q, want Bearer", h)
	}

	res, body = post("/connectjwt.v1.AuthService/Login", "", `{"username":"test","password":"nope"}`)
	if res.StatusCode != http.StatusUnauthorized || body["message"] != "invalid username or password" {
		t.Errorf("Login with a wrong password: %s %v", res.Status, body)
	}

	// The custom expired-token answer, as JSON.
	res, body = post("/example.v1.ProtectedService/Protected", mintExpired(t, []byte(testSecret)), `{}`)
	if res.StatusCode != http.StatusUnauthorized || body["message"] != "The JWT has expired" {
		t.Errorf("Protected with an expired token: %s %v", res.Status, body)
	}
	if h := res.Header.Get("WWW-Authenticate"); h != `Bearer error="invalid_token"` {
		t.Errorf("WWW-Authenticate = %q", h)
	}
	details, _ := body["details"].([]any)
	var types []string
	for _, d := range details {
		m, _ := d.(map[string]any)
		typ, _ := m["type"].(string)
		types = append(types, typ)
	}
	if strings.Join(types, ",") != "example.v1.ExpiredTokenError,connectjwt.v1.AuthError" {
		t.Errorf("details %v, want ExpiredTokenError then AuthError", types)
	}
}

// The custom loader keeps connectjwt's AuthError detail, so a generic
// client, connectjwt.Session, still refreshes on an expired token and
// retries, on every protocol.
func TestSessionRefreshesThroughCustomLoader(t *testing.T) {
	s := startTestServer(t)
	hc := h2cClient(t)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c := newClients(hc, s.baseURL, p)
			session := connectjwt.NewSession(c.auth)
			if err := session.Login(callCtx(t), "test", "test"); err != nil {
				t.Fatalf("Session.Login: %v", err)
			}
			login := mustLogin(t, c)
			expired := mintExpired(t, []byte(testSecret))
			session.SetTokens(expired, login.GetRefreshToken())

			protected := examplev1connect.NewProtectedServiceClient(hc, s.baseURL,
				append([]connect.ClientOption{connect.WithInterceptors(session.Interceptor())}, p.opts...)...)
			res, err := protected.Protected(callCtx(t), connect.NewRequest(&examplev1.ProtectedRequest{}))
			if err != nil {
				t.Fatalf("Protected through the session: %v", err)
			}
			if res.Msg.GetHello() != "world" || res.Msg.GetIdentity() != "test" {
				t.Errorf("Protected = %v", res.Msg)
			}
			if tok, _ := session.AccessToken(callCtx(t)); tok == expired || tok == "" {
				t.Error("the session did not refresh its access token")
			}
		})
	}
}

// In ES256 and EdDSA mode the server publishes its public keys, and another
// service verifies its tokens through them alone, with no shared secret.
func TestJWKSMode(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			t.Setenv("JWT_SECRET_KEY", "")
			s := startServer(t, "-alg", alg)
			if strings.Contains(s.stderr.String(), "WARNING") {
				t.Errorf("secret warning in %s mode, which uses no secret:\n%s", alg, s.stderr)
			}
			if !strings.Contains(s.stdout.String(), "public keys (JWKS) at "+s.baseURL+exampleapp.JWKSPath) {
				t.Errorf("stdout does not announce the JWKS: %q", s.stdout)
			}
			hc := h2cClient(t)
			pair := mustLogin(t, newClients(hc, s.baseURL, protocols[0]))

			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.baseURL+exampleapp.JWKSPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.NewDecoder(res.Body).Decode(&set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS = %v, %v", set, err)
			}
			if _, private := set.Keys[0]["d"]; private || set.Keys[0]["alg"] != alg {
				t.Errorf("published key = %v", set.Keys[0])
			}

			verifier, err := connectjwt.NewValidator(connectjwt.WithJWKS(exampleapp.IssuerName, s.baseURL+exampleapp.JWKSPath))
			if err != nil {
				t.Fatal(err)
			}
			claims, err := verifier.Validate(callCtx(t), pair.GetAccessToken())
			if err != nil || claims.Identity != "test" || claims.Algorithm != alg || claims.KeyID != set.Keys[0]["kid"] {
				t.Errorf("verified through the JWKS: %+v, %v", claims, err)
			}
		})
	}
}

// TestWhoami: GET /whoami, a plain net/http route behind connectjwt's
// middleware, answers the identity with a token and a 401 with
// WWW-Authenticate and a JSON error without one; the refusal is logged on
// stderr with its reason and without the token.
func TestWhoami(t *testing.T) {
	s := startTestServer(t)
	hc := http1Client(t) // like curl
	tokens := mustLogin(t, newClients(hc, s.baseURL, protocols[0]))
	get := func(token string) (*reply, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(callCtx(t), http.MethodGet, s.baseURL+"/whoami", nil)
		if err != nil {
			t.Fatal(err)
		}
		setBearer(req.Header, token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return replyOf(resp, string(body)), body
	}

	resp, body := get(tokens.GetAccessToken())
	var who struct {
		Identity string `json:"identity"`
	}
	if err := json.Unmarshal(body, &who); resp.StatusCode != http.StatusOK || err != nil || who.Identity != "test" {
		t.Errorf("with a token: %d %s, want 200 and identity test", resp.StatusCode, body)
	}

	resp, body = get("")
	var refusal struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason"`
	}
	if err := json.Unmarshal(body, &refusal); err != nil || resp.StatusCode != http.StatusUnauthorized ||
		resp.Header.Get("WWW-Authenticate") != "Bearer" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		refusal.Code != "unauthenticated" || refusal.Reason != "REASON_MISSING" {
		t.Errorf("without a token: %d %q %s (%v)", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body, err)
	}

	forged := tokens.GetAccessToken()[:len(tokens.GetAccessToken())-4] + "AAAA"
	if resp, _ := get(forged); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged token: %d", resp.StatusCode)
	}
	logged := s.stderr.String()
	for _, want := range []string{`procedure=/whoami`, `reason=REASON_MISSING`, `reason=REASON_INVALID_SIGNATURE`} {
		if !strings.Contains(logged, want) {
			t.Errorf("stderr lacks %s:\n%s", want, logged)
		}
	}
	for seg := range strings.SplitSeq(forged, ".") {
		if strings.Contains(logged, seg) {
			t.Errorf("stderr holds token text %q", seg)
		}
	}
}
