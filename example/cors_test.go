package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/connectjwt/connectjwt/internal/exampleapp"
)

const (
	corsAllowedOrigin = "http://127.0.0.1:5173"
	corsOtherOrigin   = "http://127.0.0.1:5174"
)

// newBrowserServer serves the example as run does: the API, the page from
// webDir, and CORS for origins.
func newBrowserServer(t *testing.T, webDir string, origins ...string) *httptest.Server {
	t.Helper()
	env := map[string]string{"JWT_SECRET_KEY": testSecret}
	cfg, err := exampleapp.ConfigFromEnv("HS256", func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	api, err := newServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(exampleapp.WithCORS(exampleapp.WithWebPage(api, webDir), origins))
	t.Cleanup(srv.Close)
	return srv
}

// reply is an HTTP answer whose body has been read and closed.
type reply struct {
	Status     string
	StatusCode int
	Header     http.Header
	Body       string
}

// replyOf is res, with body as the body res had.
func replyOf(res *http.Response, body string) *reply {
	return &reply{Status: res.Status, StatusCode: res.StatusCode, Header: res.Header, Body: body}
}

func do(t *testing.T, req *http.Request) (*reply, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), callTimeout)
	defer cancel()
	res, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return replyOf(res, string(body)), string(body)
}

func preflight(t *testing.T, srv *httptest.Server, origin, procedure, headers string) *reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, srv.URL+procedure, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	req.Header.Set("Access-Control-Request-Headers", headers)
	res, _ := do(t, req)
	return res
}

// headerList splits a comma-separated header into lowercase names.
func headerList(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.ToLower(strings.TrimSpace(part)); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

func wantAll(t *testing.T, h http.Header, name string, want ...string) {
	t.Helper()
	got := headerList(h, name)
	for _, w := range want {
		if !slices.Contains(got, strings.ToLower(w)) {
			t.Errorf("%s = %q, missing %q", name, h.Values(name), w)
		}
	}
}

func TestCORSPreflightAllowedOrigin(t *testing.T) {
	srv := newBrowserServer(t, t.TempDir(), corsAllowedOrigin)
	for _, tc := range []struct{ name, procedure, headers string }{
		// What Chromium sends before the page's calls (lowercase, sorted).
		{"connect", "/example.v1.ProtectedService/Protected", "authorization,connect-protocol-version,connect-timeout-ms,content-type"},
		{"grpcweb", "/example.v1.ProtectedService/ProtectedStream", "authorization,content-type,grpc-timeout,x-grpc-web,x-user-agent"},
		{"login", "/connectjwt.v1.AuthService/Login", "connect-protocol-version,content-type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// No Authorization header: a browser never sends one with a preflight.
			res := preflight(t, srv, corsAllowedOrigin, tc.procedure, tc.headers)
			if res.StatusCode != http.StatusNoContent {
				t.Errorf("status = %d, want 204", res.StatusCode)
			}
			if got := res.Header.Get("Access-Control-Allow-Origin"); got != corsAllowedOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, corsAllowedOrigin)
			}
			wantAll(t, res.Header, "Access-Control-Allow-Methods", "POST")
			wantAll(t, res.Header, "Access-Control-Allow-Headers", strings.Split(tc.headers, ",")...)
			if got := res.Header.Get("Access-Control-Max-Age"); got != "7200" {
				t.Errorf("Access-Control-Max-Age = %q, want 7200", got)
			}
			if got := res.Header.Get("Access-Control-Allow-Credentials"); got != "" {
				t.Errorf("Access-Control-Allow-Credentials = %q, want none (tokens are not cookies)", got)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != "" {
				t.Errorf("preflight reached the auth check: WWW-Authenticate = %q", got)
			}
		})
	}
}

func TestCORSPreflightOtherOrigin(t *testing.T) {
	srv := newBrowserServer(t, t.TempDir(), corsAllowedOrigin)
	for _, origin := range []string{corsOtherOrigin, "https://127.0.0.1:5173", "http://evil.example", "null"} {
		res := preflight(t, srv, origin, "/example.v1.ProtectedService/Protected", "authorization,content-type")
		for _, name := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods"} {
			if got := res.Header.Get(name); got != "" {
				t.Errorf("origin %s: %s = %q, want none", origin, name, got)
			}
		}
	}
}

func TestCORSOffByDefault(t *testing.T) {
	srv := newBrowserServer(t, t.TempDir()) // no -cors-origin
	res := preflight(t, srv, corsAllowedOrigin, "/example.v1.ProtectedService/Protected", "authorization,content-type")
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("without -cors-origin: Access-Control-Allow-Origin = %q, want none", got)
	}
	res = postJSON(t, srv, corsAllowedOrigin, "/connectjwt.v1.AuthService/Login", `{"username":"test","password":"test"}`, "")
	if res.StatusCode != http.StatusOK {
		t.Errorf("Login status = %d", res.StatusCode)
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("without -cors-origin: Access-Control-Allow-Origin = %q, want none", got)
	}
}

func postJSON(t *testing.T, srv *httptest.Server, origin, procedure, body, token string) *reply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+procedure, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Content-Type", "application/json")
	setBearer(req.Header, token)
	res, _ := do(t, req)
	return res
}

func TestCORSCrossOriginCalls(t *testing.T) {
	srv := newBrowserServer(t, t.TempDir(), corsAllowedOrigin)

	// An error: exposes WWW-Authenticate and the gRPC-web status headers.
	res := postJSON(t, srv, corsAllowedOrigin, "/example.v1.ProtectedService/Protected", `{}`, "")
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: status = %d, want 401", res.StatusCode)
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != corsAllowedOrigin {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, corsAllowedOrigin)
	}
	if got := res.Header.Get("Www-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	wantAll(t, res.Header, "Access-Control-Expose-Headers",
		"Www-Authenticate", "Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin")

	// Log in and call, from the allowed origin.
	res = postJSON(t, srv, corsAllowedOrigin, "/connectjwt.v1.AuthService/Login", `{"username":"test","password":"test"}`, "")
	var login struct {
		Tokens struct {
			AccessToken string `json:"accessToken"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal([]byte(res.Body), &login); err != nil || login.Tokens.AccessToken == "" {
		t.Fatalf("Login: status %d, %v", res.StatusCode, err)
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != corsAllowedOrigin {
		t.Errorf("Login: Access-Control-Allow-Origin = %q", got)
	}
	res = postJSON(t, srv, corsAllowedOrigin, "/example.v1.ProtectedService/Protected", `{}`, login.Tokens.AccessToken)
	body := []byte(res.Body)
	if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"hello":"world"`)) {
		t.Errorf("Protected: status %d, body %s", res.StatusCode, body)
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != corsAllowedOrigin {
		t.Errorf("Protected: Access-Control-Allow-Origin = %q", got)
	}

	// gRPC-web, trailers-only error: the status is in headers the page may read.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/example.v1.ProtectedService/Protected", bytes.NewReader([]byte{0, 0, 0, 0, 0}))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", corsAllowedOrigin)
	req.Header.Set("Content-Type", "application/grpc-web+proto")
	req.Header.Set("X-Grpc-Web", "1")
	res, _ = do(t, req)
	if got := res.Header.Get("Grpc-Status"); got != "16" {
		t.Errorf("gRPC-web: Grpc-Status = %q, want 16 (unauthenticated)", got)
	}
	if res.Header.Get("Grpc-Status-Details-Bin") == "" {
		t.Errorf("gRPC-web: no Grpc-Status-Details-Bin")
	}
	wantAll(t, res.Header, "Access-Control-Expose-Headers", "Grpc-Status", "Grpc-Status-Details-Bin", "Www-Authenticate")

	// Another origin gets its answer, but no permission to read it.
	res = postJSON(t, srv, corsOtherOrigin, "/example.v1.ProtectedService/Protected", `{}`, "")
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin: Access-Control-Allow-Origin = %q, want none", got)
	}
	if got := res.Header.Get("Access-Control-Expose-Headers"); got != "" {
		t.Errorf("other origin: Access-Control-Expose-Headers = %q, want none", got)
	}
}

func TestOriginsFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, nil},
		{[]string{"http://127.0.0.1:5173"}, []string{"http://127.0.0.1:5173"}},
		{[]string{"http://127.0.0.1:5173,https://app.example.com"}, []string{"http://127.0.0.1:5173", "https://app.example.com"}},
		{[]string{"http://a.example", " https://B.Example:8443/ ", "http://a.example"}, []string{"http://a.example", "https://b.example:8443"}},
		{[]string{"http://a.example:80", "https://b.example:443", "http://[::1]:80"}, []string{"http://a.example", "https://b.example", "http://[::1]"}},
		{[]string{"HTTP://[::1]:5173,,"}, []string{"http://[::1]:5173"}},
	} {
		var o exampleapp.OriginsFlag
		for _, a := range tc.args {
			if err := o.Set(a); err != nil {
				t.Errorf("Set(%q): %v", a, err)
			}
		}
		if !slices.Equal(o, tc.want) {
			t.Errorf("%q: origins = %q, want %q", tc.args, o, tc.want)
		}
	}
	for _, bad := range []string{
		"*", "http://*.example.com", "127.0.0.1:5173", "ftp://a.example", "http://",
		"http://a.example/app", "http://a.example?x=1", "http://a.example#x", "http://u:p@a.example", "null",
	} {
		var o exampleapp.OriginsFlag
		if err := o.Set(bad); err == nil {
			t.Errorf("Set(%q) = nil, want an error; origins %q", bad, o)
		}
	}
}

func TestRunRefusesBadCORSOrigin(t *testing.T) {
	t.Setenv("JWT_SECRET_KEY", testSecret)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-cors-origin", "*"}, &stdout, &stderr)
	if err == nil || errors.Is(err, flag.ErrHelp) || !strings.Contains(err.Error(), "cors-origin") {
		t.Fatalf("run -cors-origin '*' = %v, want a flag error", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("it listened: %q", stdout.String())
	}
}
