package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"connectrpc.com/connect"

	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

// python is Debian's python3, where apt installs python3-jwt,
// python3-jwcrypto and python3-flask-jwt-simple; INTEROP_PYTHON overrides.
func python() string {
	if p := os.Getenv("INTEROP_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// signReq asks a tool for a key of alg (or the HMAC secret) and one token
// per variant, each with claims.
type signReq struct {
	Op       string          `json:"op"`
	Alg      string          `json:"alg"`
	Secret   string          `json:"secret,omitempty"`
	Claims   json.RawMessage `json:"claims"`
	Variants []variant       `json:"variants"`
}

type variant struct {
	KID bool   `json:"kid"`
	Typ string `json:"typ,omitempty"`
}

type signResult struct {
	KID    string          `json:"kid"`
	JWKS   json.RawMessage `json:"jwks"`
	Tokens []string        `json:"tokens"`
}

// verifyReq asks a tool to verify a token with a JWK Set URL (or secret).
type verifyReq struct {
	Op          string   `json:"op"`
	Token       string   `json:"token"`
	JWKSURL     string   `json:"jwksUrl,omitempty"`
	Secret      string   `json:"secret,omitempty"`
	Algorithms  []string `json:"algorithms"`
	Issuer      string   `json:"issuer,omitempty"`
	Audience    string   `json:"audience,omitempty"`
	MaxTokenAge string   `json:"maxTokenAge,omitempty"`
}

type verifyResult struct {
	OK      bool           `json:"ok"`
	Error   string         `json:"error"`
	Payload map[string]any `json:"payload"`
	Header  map[string]any `json:"header"`
}

// tool is an independent JWT library driven through a script.
type tool string

// The tools: npm jose and PyJWT (with jwcrypto).
const (
	jose  tool = "jose"
	pyjwt tool = "pyjwt"
)

// cmd is the command line that runs the tool's script.
func (tl tool) cmd() []string {
	if tl == jose {
		return []string{"node", "js/jose_tool.mjs"}
	}
	return []string{python(), "py/pyjwt_tool.py"}
}

// run sends reqs to the tool and decodes its answers into out (a pointer to
// a slice with one element per request).
func (tl tool) run(t *testing.T, reqs any, out any) {
	t.Helper()
	in, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	argv := tl.cmd()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", tl, err, stderr.Bytes())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("%s answered %q: %v", tl, stdout, err)
	}
}

// sign runs one signReq.
func (tl tool) sign(t *testing.T, req signReq) signResult {
	t.Helper()
	req.Op = "sign"
	var out []signResult
	tl.run(t, []signReq{req}, &out)
	if len(out) != 1 || len(out[0].Tokens) != len(req.Variants) {
		t.Fatalf("%s sign: %d results", tl, len(out))
	}
	return out[0]
}

// verify runs verifyReqs in one process.
func (tl tool) verify(t *testing.T, reqs ...verifyReq) []verifyResult {
	t.Helper()
	for i := range reqs {
		reqs[i].Op = "verify"
	}
	var out []verifyResult
	tl.run(t, reqs, &out)
	if len(out) != len(reqs) {
		t.Fatalf("%s verify: %d results for %d requests", tl, len(out), len(reqs))
	}
	return out
}

// serveJWKS serves body as a JWK Set on a loopback port and returns its URL.
func serveJWKS(t *testing.T, body []byte) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body) // a client that went away is the test's failure to report
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/jwks.json"
}

// protectedService answers with the caller's identity.
type protectedService struct {
	examplev1connect.UnimplementedProtectedServiceHandler
}

func (protectedService) Protected(ctx context.Context, _ *connect.Request[examplev1.ProtectedRequest]) (*connect.Response[examplev1.ProtectedResponse], error) {
	return connect.NewResponse(&examplev1.ProtectedResponse{Hello: "world", Identity: identityOf(ctx)}), nil
}

// server is the example ProtectedService behind an interceptor, on a
// loopback HTTP/2 (TLS) server, so every protocol works.
type server struct {
	srv *httptest.Server
}

func startServer(t *testing.T, tr trust) *server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(examplev1connect.NewProtectedServiceHandler(protectedService{}, handlerOption(newTestInterceptor(t, tr))))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &server{srv}
}

// allProtocols are the protocols a Connect client speaks.
func allProtocols() []string { return []string{"connect", "grpc", "grpcweb"} }

// call makes one Protected call with token over protocol and returns the
// identity the handler saw.
func (s *server) call(t *testing.T, protocol, token string) (string, error) {
	t.Helper()
	return s.callWithHeader(t, protocol, "Bearer "+token)
}

// callWithHeader is call with authorization as the Authorization header.
func (s *server) callWithHeader(t *testing.T, protocol, authorization string) (string, error) {
	t.Helper()
	var opts []connect.ClientOption
	switch protocol {
	case "grpc":
		opts = append(opts, connect.WithGRPC())
	case "grpcweb":
		opts = append(opts, connect.WithGRPCWeb())
	}
	client := examplev1connect.NewProtectedServiceClient(s.srv.Client(), s.srv.URL, opts...)
	req := connect.NewRequest(&examplev1.ProtectedRequest{})
	req.Header().Set("Authorization", authorization)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := client.Protected(ctx, req)
	if err != nil {
		return "", err
	}
	return resp.Msg.GetIdentity(), nil
}

// expectOK calls with token over each protocol and requires identity.
func (s *server) expectOK(t *testing.T, token, identity string, protocols ...string) {
	t.Helper()
	for _, p := range protocols {
		got, err := s.call(t, p, token)
		if err != nil {
			reason, msg := authError(err)
			t.Errorf("%s: %v (%s: %s)", p, err, reason, msg)
			continue
		}
		if got != identity {
			t.Errorf("%s: identity %q, want %q", p, got, identity)
		}
	}
}

// expectRefused calls with token over each protocol and requires code and
// reason; it returns the last message.
func (s *server) expectRefused(t *testing.T, token string, code connect.Code, reason string, protocols ...string) string {
	t.Helper()
	var msg string
	for _, p := range protocols {
		_, err := s.call(t, p, token)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != code {
			t.Errorf("%s: err = %v, want %v", p, err, code)
			continue
		}
		var got string
		got, msg = authError(err)
		if got != reason {
			t.Errorf("%s: reason %s (%s), want %s", p, got, msg, reason)
		}
	}
	return msg
}
