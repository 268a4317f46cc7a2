package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"connectrpc.com/connect/v2/connectproto"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectv2"
	"github.com/connectjwt/connectjwt/connectv2/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/connectv2/gen/connectjwt/v1/connectjwtv1connect"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/internal/exampleapp"
)

// These tests run the v2 program as main does (exampleapp.Run with this
// package's newServer) and call it with connect-go v2 clients. The
// TypeScript suite and ./example's tests cover the rest of the shared
// behaviour; .ci/connectv2-ts.sh runs the TypeScript suite against this
// program.

const testSecret = "0123456789abcdef0123456789abcdef-example-v2-secret"

// syncBuffer is an io.Writer the server writes to while the test reads.
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

// start runs the v2 example on a free loopback port and returns its base
// URL and stderr; it is shut down, and must exit cleanly, when the test ends.
func start(t *testing.T) (string, *syncBuffer) {
	t.Helper()
	t.Setenv("JWT_SECRET_KEY", testSecret)
	t.Setenv("JWT_ACCESS_TTL", "")
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- exampleapp.Run(ctx, []string{"-addr", "127.0.0.1:0"}, stdout, stderr, newServer)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run after shutdown: %v", err)
			}
		case <-time.After(exampleapp.ShutdownTimeout + 5*time.Second):
			t.Error("run did not return after shutdown")
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := listeningRE.FindStringSubmatch(stdout.String()); m != nil {
			return m[1], stderr
		}
		select {
		case err := <-done:
			t.Fatalf("run returned before listening: %v; stderr: %s", err, stderr)
		default:
		}
	}
	t.Fatalf("no listening line; stdout %q", stdout)
	return "", nil
}

// h2c is an HTTP client that speaks cleartext HTTP/2, for gRPC and bidi.
func h2c(t *testing.T) *http.Client {
	t.Helper()
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protocols}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// mintExpired returns an access token for "test" the server trusts, which
// expired 45 minutes ago.
func mintExpired(t *testing.T) string {
	t.Helper()
	issuer, err := connectjwt.NewIssuer(
		connectjwt.WithKey(connectjwt.HMACKey([]byte(testSecret))),
		connectjwt.WithIssuer(exampleapp.IssuerName),
		connectjwt.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }),
	)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := issuer.CreateAccessToken(t.Context(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// TestV2Example logs in through the v2 AuthService and calls every
// ProtectedService shape over Connect, gRPC and gRPC-web, then checks the
// answers ./example gives: refusals with their reason (logged on stderr),
// the Flask expired-token answer, the service's argument checks and /whoami.
func TestV2Example(t *testing.T) {
	baseURL, stderr := start(t)
	hc := h2c(t)
	for _, p := range []struct {
		name string
		opts []connecthttp.Option
	}{
		{"connect", nil},
		{"grpc", []connecthttp.Option{connecthttp.WithGRPC()}},
		{"grpcweb", []connecthttp.Option{connecthttp.WithGRPCWeb()}},
	} {
		t.Run(p.name, func(t *testing.T) {
			transport := connecthttp.NewTransport(hc, baseURL, p.opts...)
			session := connectv2.NewSession(connectjwtv1connect.NewAuthServiceClient(connect.NewClient(transport)))
			if err := session.Login(t.Context(), "test", "test"); err != nil {
				t.Fatalf("Login: %v", err)
			}
			client := examplev1connect.NewProtectedServiceClient(connect.NewClient(transport, connectv2.NewClientInterceptor(session)))
			ctx := t.Context()

			res, err := client.Protected(ctx, &examplev1.ProtectedRequest{})
			if err != nil || res.GetHello() != "world" || res.GetIdentity() != "test" {
				t.Fatalf("Protected: %v, %v", res, err)
			}

			checkStreams(t, client, p.name != "grpcweb") // bidi needs a full-duplex protocol

			anonymous := examplev1connect.NewProtectedServiceClient(connect.NewClient(transport))
			_, err = anonymous.Protected(ctx, &examplev1.ProtectedRequest{})
			if ae, ok := connectv2.AuthErrorOf(err); connect.CodeOf(err) != connect.CodeUnauthenticated || !ok || ae.GetReason() != connectjwtv1.Reason_REASON_MISSING {
				t.Errorf("without a token: %v, want unauthenticated REASON_MISSING", err)
			}

			expired := examplev1connect.NewProtectedServiceClient(connect.NewClient(transport,
				connectv2.NewClientInterceptor(connectjwt.StaticToken(mintExpired(t)))))
			_, err = expired.Protected(ctx, &examplev1.ProtectedRequest{})
			wantExpired(t, err)
		})
	}
	if log := stderr.String(); !strings.Contains(log, "REASON_MISSING") || strings.Contains(log, testSecret) {
		t.Errorf("stderr does not log the refusals (or logs the secret): %q", log)
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, baseURL+"/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("GET /whoami without a token: %d %q", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	}
}

// checkStreams calls ProtectedStream (3 greetings by default, an invalid
// count refused), Collect and, when bidi, Chat.
func checkStreams(t *testing.T, client examplev1connect.ProtectedServiceClient, bidi bool) {
	t.Helper()
	ctx := t.Context()
	stream, err := client.ProtectedStream(ctx, &examplev1.ProtectedStreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int32
	for {
		msg, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("ProtectedStream: %v", err)
		}
		seqs = append(seqs, msg.GetSequence())
	}
	if !slices.Equal(seqs, []int32{1, 2, 3}) {
		t.Errorf("ProtectedStream sequences %v, want 1 2 3 (count 0 means %d)", seqs, exampleapp.DefaultGreetings)
	}

	bad, err := client.ProtectedStream(ctx, &examplev1.ProtectedStreamRequest{Count: exampleapp.MaxGreetings + 1})
	if err == nil {
		_, err = bad.Receive()
	}
	if connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Errorf("count over max: %v, want invalid_argument", err)
	}

	collect, err := client.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"a", "b"} {
		if err := collect.Send(&examplev1.CollectRequest{Word: w}); err != nil {
			t.Fatal(err)
		}
	}
	words, err := collect.CloseAndReceive()
	if err != nil || !slices.Equal(words.GetWords(), []string{"a", "b"}) || words.GetIdentity() != "test" {
		t.Errorf("Collect: %v, %v", words, err)
	}

	if bidi {
		chat, err := client.Chat(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := chat.Send(&examplev1.ChatRequest{Text: "hi"}); err != nil {
			t.Fatal(err)
		}
		echo, err := chat.Receive()
		if err != nil || echo.GetText() != "hi" || echo.GetIdentity() != "test" {
			t.Errorf("Chat: %v, %v", echo, err)
		}
		_ = chat.CloseSend()
		_ = chat.Close()
	}
}

// wantExpired checks the Flask expired-token answer: "The JWT has expired"
// with the example.v1.ExpiredTokenError detail and connectjwt's AuthError
// (REASON_EXPIRED) beside it.
func wantExpired(t *testing.T, err error) {
	t.Helper()
	ce, ok := errors.AsType[*connect.Error](err)
	if !ok || ce.Code() != connect.CodeUnauthenticated || ce.Message() != "The JWT has expired" {
		t.Fatalf("expired token: %v, want unauthenticated %q", err, "The JWT has expired")
	}
	if ae, ok := connectv2.AuthErrorOf(err); !ok || ae.GetReason() != connectjwtv1.Reason_REASON_EXPIRED || ae.GetMessage() != ce.Message() {
		t.Errorf("expired token: AuthError %v", ae)
	}
	var flask *examplev1.ExpiredTokenError
	for _, d := range ce.Details() {
		if msg, err := connectproto.UnmarshalErrorDetail(d); err == nil {
			if e, ok := msg.(*examplev1.ExpiredTokenError); ok {
				flask = e
			}
		}
	}
	if flask.GetStatus() != 401 || flask.GetTitle() != "Expired JWT" || flask.GetDetail() != "The JWT has expired" {
		t.Errorf("expired token: ExpiredTokenError detail %v", flask)
	}
}
