package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connectjwt/connectjwt/internal/exampleapp"
)

func get(t *testing.T, url string) (*reply, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func TestWebPageNotBuilt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	srv := newBrowserServer(t, dir)
	res, body := get(t, srv.URL+"/")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("GET /: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		"npm ci --prefix example/web &amp;&amp; npm run build --prefix example/web",
		filepath.Join(dir, "index.html"),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("notice lacks %q:\n%s", want, body)
		}
	}
	if res.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("no Content-Security-Policy")
	}
	if res, _ := get(t, srv.URL+"/assets/app.js"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /assets/app.js without a build: %d, want 404", res.StatusCode)
	}
	// The API works without the page.
	if res := postJSON(t, srv, "", "/connectjwt.v1.AuthService/Login", `{"username":"test","password":"test"}`, ""); res.StatusCode != http.StatusOK {
		t.Errorf("Login: %d", res.StatusCode)
	}
}

func TestWebPageServed(t *testing.T) {
	dir := t.TempDir()
	const index = `<!doctype html><title>page</title><script type="module" src="assets/app.js"></script>`
	const app = `console.log("app")`
	if err := os.MkdirAll(filepath.Join(dir, "assets"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "assets", "app.js"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := newBrowserServer(t, dir, corsAllowedOrigin)

	res, body := get(t, srv.URL+"/")
	if res.StatusCode != http.StatusOK || body != index {
		t.Errorf("GET /: %d %q", res.StatusCode, body)
	}
	if got := res.Header.Get("Content-Security-Policy"); !strings.Contains(got, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy = %q", got)
	}
	if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	res, body = get(t, srv.URL+"/assets/app.js")
	if res.StatusCode != http.StatusOK || body != app || !strings.Contains(res.Header.Get("Content-Type"), "javascript") {
		t.Errorf("GET /assets/app.js: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	for _, path := range []string{"/assets/", "/assets/missing.js", "/assets/../../etc/passwd", "/other.html"} {
		if res, _ := get(t, srv.URL+path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
	// RPCs still reach the API next to the page.
	res = postJSON(t, srv, corsAllowedOrigin, "/example.v1.ProtectedService/Protected", `{}`, "")
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("Protected without token: %d, want 401", res.StatusCode)
	}
}

// Without -web-dir the example serves the page built into the binary: the
// committed example/web/dist, byte for byte.
func TestWebPageBuiltIn(t *testing.T) {
	srv := newBrowserServer(t, exampleapp.DefaultWebDir)
	for _, tc := range []struct{ path, file, contentType string }{
		{"/", "index.html", "text/html"},
		{"/assets/app.js", "assets/app.js", "javascript"},
		{"/assets/app.css", "assets/app.css", "text/css"},
	} {
		want, err := os.ReadFile(filepath.Join("web", "dist", filepath.FromSlash(tc.file)))
		if err != nil {
			t.Fatal(err)
		}
		res, body := get(t, srv.URL+tc.path)
		if res.StatusCode != http.StatusOK || body != string(want) || !strings.Contains(res.Header.Get("Content-Type"), tc.contentType) {
			t.Errorf("GET %s: %d %q, %d bytes; want the %d bytes of web/dist/%s", tc.path, res.StatusCode, res.Header.Get("Content-Type"), len(body), len(want), tc.file)
		}
		if res.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no Content-Security-Policy", tc.path)
		}
	}
	for _, path := range []string{"/assets/", "/assets/missing.js", "/index.html/../../web.go"} {
		if res, _ := get(t, srv.URL+path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}
