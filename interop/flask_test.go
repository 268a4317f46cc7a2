package interop

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
)

// flaskService is a real flask-jwt-simple 0.0.3 app (py/flask_app.py) on a
// loopback port, with secret as JWT_SECRET_KEY and env (NAME=value) as
// further settings.
type flaskService struct{ base string }

func startFlask(t *testing.T, secret string, env ...string) flaskService {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, python(), "py/flask_app.py")
	cmd.Env = append(append(cmd.Environ(), "JWT_SECRET_KEY="+secret), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait() // killed: the error says so
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "PORT "); ok {
				port <- p
			}
		}
		_, _ = io.Copy(io.Discard, stdout) // keep the app's pipe drained
	}()
	select {
	case p := <-port:
		return flaskService{"http://127.0.0.1:" + p}
	case <-time.After(30 * time.Second):
		t.Fatalf("flask app did not start: %s", stderr.String())
	}
	return flaskService{}
}

// protected calls Flask's @jwt_required endpoint with token.
func (f flaskService) protected(t *testing.T, token string) (int, map[string]any) {
	t.Helper()
	return f.get(t, "/protected", "Bearer "+token)
}

// get calls one of Flask's endpoints with authorization as the
// Authorization header.
func (f flaskService) get(t *testing.T, path, authorization string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.base+path, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", authorization)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("flask %s: %d, %v", path, resp.StatusCode, err)
	}
	return resp.StatusCode, body
}

// login asks Flask's create_jwt for a token.
func (f flaskService) login(t *testing.T, identity string) string {
	t.Helper()
	return f.loginQuery(t, "identity="+identity)
}

// loginQuery calls Flask's login with query.
func (f flaskService) loginQuery(t *testing.T, query string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.base+"/login?"+query, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		JWT string `json:"jwt"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("flask login: %d, %v", resp.StatusCode, err)
	}
	return body.JWT
}

// README.md's "Migrating from flask-jwt-simple" recipe, against a real
// flask-jwt-simple service sharing its secret: Flask's create_jwt tokens
// (HS256, typ JWT, exp/iat/nbf/sub, no iss) pass the interceptor over every
// protocol, the Go issuer's tokens pass Flask's jwt_required at once after
// issue (issue 16 item 1: a fractional iat was refused for up to a second),
// and each side keeps refusing what it should.
func TestFlaskJWTSimpleMigration(t *testing.T) {
	const secret = "a Flask JWT_SECRET_KEY of at least 32 bytes"
	flask := startFlask(t, secret)
	goIssuer := newRecipeIssuer(t, []byte(secret))
	srv := startServer(t, trust{flaskRecipe: true, hmac: []byte(secret)})

	// Go issues, Flask verifies: PyJWT ignores typ at+jwt, and the recipe
	// writes no iss or aud.
	for i := range 5 {
		tok := goIssuer.accessToken(t, fmt.Sprintf("user%d", i))
		if code, body := flask.protected(t, tok); code != http.StatusOK || body["identity"] != fmt.Sprintf("user%d", i) {
			t.Errorf("flask refused the Go token %d: %d %v", i, code, body)
		}
		if code, _ := flask.get(t, "/protected-access", "Bearer "+tok); code != http.StatusOK {
			t.Errorf("flask's access-only route refused the Go access token %d: %d", i, code)
		}
	}
	srv.expectOK(t, goIssuer.accessToken(t, "bob"), "bob", allProtocols()...)

	// Flask issues, Go verifies, over every protocol.
	flaskToken := flask.login(t, "alice")
	srv.expectOK(t, flaskToken, "alice", allProtocols()...)
	// Without WithAcceptedAccessTypes("JWT"), Flask's typ JWT is refused.
	strict := startServer(t, trust{hmac: []byte(secret)})
	strict.expectRefused(t, flaskToken, connect.CodeUnauthenticated, "REASON_WRONG_TOKEN_TYPE", "connect")

	// A token MAC'd with another secret fails on both sides.
	other := newTestIssuer(t, "HS256", "", []byte(strings.Repeat("x", 32)), "", "")
	if code, body := flask.protected(t, other.accessToken(t, "mallory")); code != http.StatusUnprocessableEntity ||
		body["msg"] != "Signature verification failed" {
		t.Errorf("flask with a foreign token: %d %v, want 422", code, body)
	}
	srv.expectRefused(t, flaskToken[:strings.LastIndexByte(flaskToken, '.')+1]+"AAAA", connect.CodeUnauthenticated, "REASON_INVALID_SIGNATURE", "connect")

	// The Go refresh token: refused by the interceptor, but Flask's
	// jwt_required accepts it as an access token (PyJWT does not look at
	// typ) until the route also checks typ, as the README shows.
	refresh := goIssuer.refreshToken(t, "bob")
	srv.expectRefused(t, refresh, connect.CodeUnauthenticated, "REASON_WRONG_TOKEN_TYPE", allProtocols()...)
	if code, body := flask.protected(t, refresh); code != http.StatusOK || body["identity"] != "bob" {
		t.Errorf("flask's jwt_required with the Go refresh token: %d %v (the README says it is accepted)", code, body)
	}
	if code, body := flask.get(t, "/protected-access", "Bearer "+refresh); code != http.StatusUnprocessableEntity ||
		body["msg"] != "Only access tokens are allowed" {
		t.Errorf("flask's access-only route with the Go refresh token: %d %v", code, body)
	}
}

// The README's list of what does not carry over from flask-jwt-simple, each
// checked against the real library.
func TestFlaskJWTSimpleMigrationLimits(t *testing.T) {
	const secret = "a Flask JWT_SECRET_KEY of at least 32 bytes"
	flask := startFlask(t, secret)
	srv := startServer(t, trust{flaskRecipe: true, hmac: []byte(secret)})

	t.Run("integer identity", func(t *testing.T) {
		tok := flask.loginQuery(t, "identity=42&int=1")
		if code, body := flask.protected(t, tok); code != http.StatusOK || body["identity"] != float64(42) {
			t.Errorf("flask with its integer identity: %d %v", code, body)
		}
		msg := srv.expectRefused(t, tok, connect.CodeUnauthenticated, "REASON_INVALID_CLAIMS", allProtocols()...)
		if !strings.Contains(msg, "sub must be a string") {
			t.Errorf("message %q", msg)
		}
		// The workaround: identities as strings.
		srv.expectOK(t, flask.login(t, "42"), "42", "connect")
	})

	t.Run("no exp", func(t *testing.T) {
		// What a custom jwt_data_loader without exp creates (JWT_EXPIRES
		// must be a timedelta in flask-jwt-simple).
		raw, _ := json.Marshal(map[string]any{"sub": "alice", "iat": time.Now().Unix()})
		res := pyjwt.sign(t, signReq{Alg: "HS256", Secret: base64.RawURLEncoding.EncodeToString([]byte(secret)), Claims: raw,
			Variants: []variant{{Typ: "JWT"}}})
		if code, body := flask.protected(t, res.Tokens[0]); code != http.StatusOK || body["identity"] != "alice" {
			t.Errorf("flask with a token without exp: %d %v", code, body)
		}
		msg := srv.expectRefused(t, res.Tokens[0], connect.CodeUnauthenticated, "REASON_INVALID_CLAIMS", allProtocols()...)
		if !strings.Contains(msg, "exp") {
			t.Errorf("message %q", msg)
		}
	})

	t.Run("audience and issuer", func(t *testing.T) {
		withAud := newTestIssuer(t, "HS256", "", []byte(secret), "", "api")
		tok := withAud.accessToken(t, "alice")
		if code, body := flask.protected(t, tok); code != http.StatusUnprocessableEntity || body["msg"] != "Invalid audience" {
			t.Errorf("flask without JWT_DECODE_AUDIENCE, token with aud: %d %v", code, body)
		}
		flaskAud := startFlask(t, secret, "JWT_DECODE_AUDIENCE=api")
		if code, body := flaskAud.protected(t, tok); code != http.StatusOK || body["identity"] != "alice" {
			t.Errorf("flask with JWT_DECODE_AUDIENCE, token with aud: %d %v", code, body)
		}
		// PyJWT checks iss only when told to; flask-jwt-simple never tells it.
		withIss := newTestIssuer(t, "HS256", "", []byte(secret), "https://go.example.test", "")
		if code, _ := flask.protected(t, withIss.accessToken(t, "alice")); code != http.StatusOK {
			t.Errorf("flask with a token with iss: %d", code)
		}
	})

	t.Run("header", func(t *testing.T) {
		tok := flask.login(t, "alice")
		for _, tc := range []struct {
			header    string
			flaskCode int
			goOK      bool
			goReason  string
		}{
			{header: "", flaskCode: http.StatusUnauthorized, goReason: "REASON_MISSING"},
			{header: "Basic YWxpY2U6cHc=", flaskCode: http.StatusUnprocessableEntity, goReason: "REASON_MISSING"},
			{header: "Token " + tok, flaskCode: http.StatusUnprocessableEntity, goReason: "REASON_MISSING"},
			{header: "Bearer", flaskCode: http.StatusUnprocessableEntity, goReason: "REASON_MALFORMED"},
			{header: "bearer " + tok, flaskCode: http.StatusUnprocessableEntity, goOK: true},
			{header: "Bearer  " + tok, flaskCode: http.StatusOK, goOK: true},
		} {
			if code, _ := flask.get(t, "/protected", tc.header); code != tc.flaskCode {
				t.Errorf("flask with %.12q: %d, want %d", tc.header, code, tc.flaskCode)
			}
			if tc.goOK {
				if id, err := srv.callWithHeader(t, "connect", tc.header); err != nil || id != "alice" {
					t.Errorf("go with %.12q: %q %v", tc.header, id, err)
				}
				continue
			}
			_, err := srv.callWithHeader(t, "connect", tc.header)
			if reason, _ := authError(err); connect.CodeOf(err) != connect.CodeUnauthenticated || reason != tc.goReason {
				t.Errorf("go with %.12q: %v %s, want %s", tc.header, err, reason, tc.goReason)
			}
		}
	})

	t.Run("short secret", func(t *testing.T) {
		// flask-jwt-simple takes any secret; the recipe refuses one
		// shorter than 32 bytes.
		short := startFlask(t, "secret")
		tok := short.login(t, "alice")
		if code, _ := short.protected(t, tok); code != http.StatusOK {
			t.Errorf("flask with a short secret: %d", code)
		}
		if _, _, err := flaskMigration([]byte("secret")); !isKeyError(err) {
			t.Errorf("recipe with a short secret: %v", err)
		}
	})
}

// The recipe in README.md is the one these tests run: every line of
// flaskMigration between its markers that names connectjwt is a line of the
// README's recipe block, and the reverse.
func TestFlaskRecipeIsTheREADMEs(t *testing.T) {
	src, err := os.ReadFile("api_test.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	between := func(text, begin, end string) string {
		_, after, ok := strings.Cut(text, begin)
		if !ok {
			t.Fatalf("%q not found", begin)
		}
		inner, _, ok := strings.Cut(after, end)
		if !ok {
			t.Fatalf("%q not found", end)
		}
		return inner
	}
	api := between(string(src), "// README recipe begins.", "// README recipe ends.")
	_, section, ok := strings.Cut(string(readme), "## Migrating from flask-jwt-simple")
	if !ok {
		t.Fatal("README has no migration section")
	}
	block := between(section, "<!-- readme-check: body -->\n```go\n", "```")
	named := func(code string) []string {
		var lines []string
		for l := range strings.SplitSeq(code, "\n") {
			if strings.Contains(l, "connectjwt.") {
				lines = append(lines, strings.TrimSpace(l))
			}
		}
		return lines
	}
	got, want := named(block), named(api)
	if strings.Join(got, "\n") != strings.Join(want, "\n") || len(want) < 4 {
		t.Errorf("README recipe:\n%s\nthe tested one:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
