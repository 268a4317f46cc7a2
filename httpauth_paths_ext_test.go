package connectjwt_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/connectjwt/connectjwt"
)

// TestHTTPMiddlewarePublicPathTricks: a request is public only when its path
// is exactly a public path or clean below a public prefix, as sent; encoded
// slashes, backslashes, needlessly encoded characters (which a router
// matching the raw path would route elsewhere), dot segments, doubled
// slashes, another case and a missing or extra trailing slash all need a
// token.
func TestHTTPMiddlewarePublicPathTricks(t *testing.T) {
	base, client := startHTTP(t, connectjwt.PublicPath("/healthz"), connectjwt.PublicPrefix("/static/"))
	tests := []struct {
		target string // as sent on the request line
		public bool
	}{
		{"/healthz", true},
		{"/static/", true},
		{"/static/app.js", true},
		{"/static/my%20file.js", true},     // an encoding the character needs
		{"/static/%C3%A9t%C3%A9.js", true}, // UTF-8, encoded
		{"/static/a(1).js", true},
		{"/healthz/", false},
		{"/HEALTHZ", false},
		{"/Static/app.js", false},
		{"/static", false},
		{"//static/app.js", false},
		{"/static//app.js", false},
		{"/static/.", false},
		{"/static/..", false},
		{"/static/../admin", false},
		{"/static/%2e%2e/admin", false},
		{"/static/%2E%2E%2Fadmin", false},
		{"/static%2Fapp.js", false},
		{"/static%2fapp.js", false},
		{"/static/a%2Fb", false},
		{"/static/a%5Cb", false},
		{"/static/..%5Cadmin", false},
		{"/%73tatic/app.js", false},
		{"/%68ealthz", false},
		{"/healt%68z", false},
		{"/static/%7Eapp", false},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+tt.target, nil) // keeps the escapes as given
			if err != nil {
				t.Fatal(err)
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
			switch {
			case tt.public && (resp.StatusCode != http.StatusOK || string(body) != "hello anonymous"):
				t.Errorf("public path: status %d, body %q; want 200 and the anonymous handler", resp.StatusCode, body)
			case !tt.public && resp.StatusCode == http.StatusOK:
				t.Errorf("status 200 without a token (body %q), want a refusal", body)
			case !tt.public && resp.StatusCode != http.StatusUnauthorized:
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
		})
	}
}
