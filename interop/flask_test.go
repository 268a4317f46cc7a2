package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
)

// flaskService is a real flask-jwt-simple 0.0.3 app (py/flask_app.py) on a
// loopback port, with secret as JWT_SECRET_KEY.
type flaskService struct{ base string }

func startFlask(t *testing.T, secret string) flaskService {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, python(), "py/flask_app.py")
	cmd.Env = append(cmd.Environ(), "JWT_SECRET_KEY="+secret)
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
		cmd.Wait()
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "PORT "); ok {
				port <- p
			}
		}
		io.Copy(io.Discard, stdout)
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
	req, _ := http.NewRequest(http.MethodGet, f.base+"/protected", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// login asks Flask's create_jwt for a token.
func (f flaskService) login(t *testing.T, identity string) string {
	t.Helper()
	resp, err := http.Post(f.base+"/login?identity="+identity, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ JWT string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("flask login: %d, %v", resp.StatusCode, err)
	}
	return body.JWT
}

// A Flask service and a Go service verify the same tokens during a
// migration: the Go issuer's HS256 tokens pass flask-jwt-simple's
// jwt_required at once after issue (issue 16 item 1: a fractional iat was
// refused for up to a second), and Flask's create_jwt tokens (typ JWT, no
// iss) pass the interceptor configured with the Flask secret and the
// access type JWT.
func TestFlaskJWTSimpleMigration(t *testing.T) {
	const secret = "a Flask JWT_SECRET_KEY of at least 32 bytes"
	flask := startFlask(t, secret)

	// Go issues, Flask verifies: no iss or aud (Flask would refuse an aud
	// it was not told to expect).
	goIssuer := newTestIssuer(t, "HS256", "", []byte(secret), "", "")
	for i := range 5 {
		code, body := flask.protected(t, goIssuer.accessToken(t, fmt.Sprintf("user%d", i)))
		if code != http.StatusOK || body["identity"] != fmt.Sprintf("user%d", i) {
			t.Errorf("flask refused the Go token %d: %d %v", i, code, body)
		}
	}

	// Flask issues, Go verifies, over every protocol.
	srv := startServer(t, trust{hmac: []byte(secret), accessType: "JWT"})
	flaskToken := flask.login(t, "alice")
	srv.expectOK(t, flaskToken, "alice", protocols...)
	// With the default access type, Flask's typ JWT is refused.
	strict := startServer(t, trust{hmac: []byte(secret)})
	strict.expectRefused(t, flaskToken, connect.CodeUnauthenticated, "REASON_WRONG_TOKEN_TYPE", "connect")
	// A token MAC'd with another secret fails on both sides.
	other := newTestIssuer(t, "HS256", "", []byte(strings.Repeat("x", 32)), "", "")
	if code, _ := flask.protected(t, other.accessToken(t, "mallory")); code != http.StatusUnprocessableEntity {
		t.Errorf("flask with a foreign token: %d, want 422", code)
	}
}
