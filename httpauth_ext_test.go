package connectjwt_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/connectjwt/connectjwt"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

func httpSecret() []byte {
	return bytes.Repeat([]byte("h"), 32)
}

// httpTokens mints the tokens the HTTP tests send.
type httpTokens struct {
	valid, scoped, expired, refresh, down, denied string
}

func newHTTPTokens(t *testing.T) httpTokens {
	t.Helper()
	ctx := context.Background()
	mk := func(now time.Time, claims map[string]any) *connectjwt.Issuer {
		opts := []connectjwt.IssuerOption{connectjwt.WithKey(connectjwt.HMACKey(httpSecret())), connectjwt.WithIssuer("https://issuer.test"),
			connectjwt.WithClock(func() time.Time { return now })}
		if claims != nil {
			opts = append(opts, connectjwt.WithExtraClaims(func(context.Context, string) (map[string]any, error) { return claims, nil }))
		}
		is, err := connectjwt.NewIssuer(opts...)
		if err != nil {
			t.Fatal(err)
		}
		return is
	}
	access := func(is *connectjwt.Issuer, id string) string {
		tok, _, err := is.CreateAccessToken(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := mk(time.Now(), nil)
	refresh, _, err := now.CreateRefreshToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return httpTokens{
		valid:   access(now, "alice"),
		scoped:  access(mk(time.Now(), map[string]any{"scope": "files:read"}), "alice"),
		expired: access(mk(time.Now().Add(-time.Hour), nil), "alice"),
		refresh: refresh,
		down:    access(now, "down"),
		denied:  access(now, "mallory"),
	}
}

// startHTTP serves a mux behind the middleware on loopback.
func startHTTP(t *testing.T, opts ...connectjwt.HTTPOption) (string, *http.Client) {
	t.Helper()
	v, err := connectjwt.NewValidator(
		connectjwt.WithKey(connectjwt.HMACKey(httpSecret())),
		connectjwt.WithIssuer("https://issuer.test"),
		connectjwt.WithProcedurePolicy("/files.v1.FileService/Download", connectjwt.Policy{Scopes: []string{"files:read"}}),
		connectjwt.WithRevocationStore(connectjwt.RevokedFunc(func(_ context.Context, c *connectjwt.Claims) (bool, error) {
			if c.Identity == "down" {
				return false, errors.New("store down")
			}
			return false, nil
		})),
		connectjwt.WithClaimsCheck(func(_ context.Context, _ string, c *connectjwt.Claims) error {
			if c.Identity == "mallory" {
				return errors.New("banned")
			}
			return nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	m, err := connectjwt.NewHTTPMiddleware(v, opts...)
	if err != nil {
		t.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := connectjwt.IdentityFromContext(r.Context())
		if !ok {
			id = "anonymous"
		}
		_, _ = io.WriteString(w, "hello "+id)
	})
	srv := httptest.NewUnstartedServer(m.Wrap(handler)) // on 127.0.0.1
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client()
}

// connectJSONError is Connect's JSON error shape with the middleware's reason.
type connectJSONError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Details []struct {
		Type  string          `json:"type"`
		Value string          `json:"value"`
		Debug json.RawMessage `json:"debug"`
	} `json:"details"`
}

func TestHTTPMiddleware(t *testing.T) {
	tok := newHTTPTokens(t)
	base, client := startHTTP(t, connectjwt.PublicPath("/healthz"), connectjwt.PublicPrefix("/static/"))
	tests := []struct {
		name       string
		path       string
		headers    []string // Authorization values
		status     int
		body       string // for 200
		challenge  string
		code       string
		reason     connectjwtv1.Reason
		wantDetail func(*connectjwtv1.AuthError) bool
	}{
		{name: "valid", path: "/whoami", headers: []string{"Bearer " + tok.valid}, status: 200, body: "hello alice"},
		{name: "no token", path: "/whoami", status: 401, challenge: "Bearer", code: "unauthenticated", reason: connectjwtv1.Reason_REASON_MISSING},
		{name: "expired", path: "/whoami", headers: []string{"Bearer " + tok.expired}, status: 401, challenge: `Bearer error="invalid_token"`,
			code: "unauthenticated", reason: connectjwtv1.Reason_REASON_EXPIRED,
			wantDetail: func(ae *connectjwtv1.AuthError) bool { return ae.GetExpiredAt() != nil }},
		{name: "refresh token", path: "/whoami", headers: []string{"Bearer " + tok.refresh}, status: 401, challenge: `Bearer error="invalid_token"`,
			code: "unauthenticated", reason: connectjwtv1.Reason_REASON_WRONG_TOKEN_TYPE},
		{name: "two headers", path: "/whoami", headers: []string{"Bearer " + tok.valid, "Bearer " + tok.valid}, status: 401,
			challenge: `Bearer error="invalid_token"`, code: "unauthenticated", reason: connectjwtv1.Reason_REASON_MALFORMED},
		{name: "scope missing", path: "/files.v1.FileService/Download", headers: []string{"Bearer " + tok.valid}, status: 403,
			challenge: `Bearer error="insufficient_scope"`, code: "permission_denied", reason: connectjwtv1.Reason_REASON_INSUFFICIENT_SCOPE,
			wantDetail: func(ae *connectjwtv1.AuthError) bool {
				return len(ae.GetMissingScopes()) == 1 && ae.GetMissingScopes()[0] == "files:read"
			}},
		{name: "scope present", path: "/files.v1.FileService/Download", headers: []string{"Bearer " + tok.scoped}, status: 200, body: "hello alice"},
		{name: "claims check denies", path: "/whoami", headers: []string{"Bearer " + tok.denied}, status: 403, challenge: "Bearer",
			code: "permission_denied", reason: connectjwtv1.Reason_REASON_ACCESS_DENIED},
		{name: "store down", path: "/whoami", headers: []string{"Bearer " + tok.down}, status: 503, challenge: "Bearer",
			code: "unavailable", reason: connectjwtv1.Reason_REASON_UNAVAILABLE,
			wantDetail: func(ae *connectjwtv1.AuthError) bool { return ae.GetRetryable() }},
		{name: "public exact", path: "/healthz", status: 200, body: "hello anonymous"},
		{name: "public exact ignores a token", path: "/healthz", headers: []string{"Bearer garbage"}, status: 200, body: "hello anonymous"},
		{name: "exact is not a prefix", path: "/healthz/x", status: 401, challenge: "Bearer", code: "unauthenticated", reason: connectjwtv1.Reason_REASON_MISSING},
		{name: "public prefix", path: "/static/app.js", status: 200, body: "hello anonymous"},
		{name: "prefix needs its slash", path: "/statics", status: 401, challenge: "Bearer", code: "unauthenticated", reason: connectjwtv1.Reason_REASON_MISSING},
		{name: "dot segments are not public", path: "/static/../static/x", status: 401, challenge: "Bearer", code: "unauthenticated", reason: connectjwtv1.Reason_REASON_MISSING},
		{name: "double slash is not public", path: "/static//x", status: 401, challenge: "Bearer", code: "unauthenticated", reason: connectjwtv1.Reason_REASON_MISSING},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range tt.headers {
				req.Header.Add("Authorization", h)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
			}
			if tt.status == 200 {
				if string(body) != tt.body {
					t.Errorf("body = %q, want %q", body, tt.body)
				}
				return
			}
			if got := resp.Header.Get("Www-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var e connectJSONError
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if e.Code != tt.code || e.Reason != tt.reason.String() || e.Message == "" {
				t.Errorf("error = %+v, want code %s reason %s", e, tt.code, tt.reason)
			}
			if len(e.Details) != 1 || e.Details[0].Type != "connectjwt.v1.AuthError" {
				t.Fatalf("details = %+v", e.Details)
			}
			raw, err := base64.RawStdEncoding.DecodeString(e.Details[0].Value)
			if err != nil {
				t.Fatal(err)
			}
			var ae connectjwtv1.AuthError
			if err := proto.Unmarshal(raw, &ae); err != nil {
				t.Fatal(err)
			}
			if ae.GetReason() != tt.reason || ae.GetMessage() != e.Message {
				t.Errorf("detail = %v, want reason %s and message %q", &ae, tt.reason, e.Message)
			}
			if tt.wantDetail != nil && !tt.wantDetail(&ae) {
				t.Errorf("detail = %v lacks what the reason needs", &ae)
			}
			for _, tokText := range []string{tok.valid, tok.expired, tok.refresh} {
				if strings.Contains(string(body), tokText) {
					t.Error("error body contains the token")
				}
			}
		})
	}
}

func TestNewHTTPMiddlewareErrors(t *testing.T) {
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(httpSecret())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connectjwt.NewHTTPMiddleware(nil); err == nil {
		t.Error("nil validator accepted")
	}
	for _, opt := range []connectjwt.HTTPOption{
		connectjwt.PublicPath("healthz"),
		connectjwt.PublicPath(""),
		connectjwt.PublicPath("/a/../b"),
		connectjwt.PublicPrefix("/static"),
		connectjwt.PublicPrefix("/static//"),
	} {
		if _, err := connectjwt.NewHTTPMiddleware(v, opt); err == nil {
			t.Errorf("option %v accepted", opt)
		}
	}
	if _, err := connectjwt.NewHTTPMiddleware(v, connectjwt.PublicPath("/", "/healthz", "/.well-known/jwks.json"), connectjwt.PublicPrefix("/", "/static/")); err != nil {
		t.Errorf("good options refused: %v", err)
	}
}

// decisionRecorder is an Observer that keeps decisions.
type decisionRecorder struct {
	mu        sync.Mutex
	decisions []connectjwt.Decision
}

func (r *decisionRecorder) ObserveDecision(_ context.Context, d connectjwt.Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decisions = append(r.decisions, d)
}

func (r *decisionRecorder) ObserveEvent(context.Context, connectjwt.Event) {}

// TestHTTPMiddlewarePublicPathObserved: a public path never reaches the
// validator, so the middleware reports its anonymous decision itself.
func TestHTTPMiddlewarePublicPathObserved(t *testing.T) {
	rec := &decisionRecorder{}
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(httpSecret())), connectjwt.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	m, err := connectjwt.NewHTTPMiddleware(v, connectjwt.PublicPrefix("/static/"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	defer srv.Close()
	resp, err := send(srv.Client(), http.MethodGet, srv.URL+"/static/app.js", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.decisions) != 1 || rec.decisions[0].Procedure != "/static/app.js" || rec.decisions[0].Outcome != connectjwt.OutcomeAnonymous {
		t.Errorf("decisions = %+v, want one anonymous decision on /static/app.js", rec.decisions)
	}
}
