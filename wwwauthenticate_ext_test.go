package connectjwt_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

// RFC 6750 challenges: present on Connect and gRPC-web error responses,
// never sent as a gRPC trailer (where Go's HTTP/2 server would drop it),
// including in the raw gRPC response headers and trailers.
func TestAttackWWWAuthenticateByProtocol(t *testing.T) {
	t.Parallel()
	now := time.Now()
	proc := examplev1connect.ProtectedServiceProtectedProcedure
	ic := newInterceptor(t, connectjwt.WithProcedurePolicy(examplev1connect.ProtectedServiceProtectedStreamProcedure, connectjwt.Policy{Scopes: []string{"admin"}}))
	s := startServer(t, ic, mountGate, nil)
	valid := mint(t, tokenSpec{Claims: claimsAt(now, time.Hour)})
	expiredTok := mint(t, tokenSpec{Claims: claimsAt(now.Add(-2*time.Hour), time.Hour)})
	cases := []struct {
		name  string
		auth  string
		sh    shape
		want  string
		code  connect.Code
		reasn connectjwt.Reason
	}{
		{"missing", "", unary, "Bearer", connect.CodeUnauthenticated, connectjwt.ReasonMissing},
		{"expired", "Bearer " + expiredTok, unary, `Bearer error="invalid_token"`, connect.CodeUnauthenticated, connectjwt.ReasonExpired},
		{"malformed", "Bearer a.b", unary, `Bearer error="invalid_token"`, connect.CodeUnauthenticated, connectjwt.ReasonMalformed},
		{"missing on a stream", "", serverStream, "Bearer", connect.CodeUnauthenticated, connectjwt.ReasonMissing},
		{"scope on a stream", "Bearer " + valid, serverStream, `Bearer error="insufficient_scope"`, connect.CodePermissionDenied, connectjwt.ReasonInsufficientScope},
		{"expired on a bidi stream", "Bearer " + expiredTok, bidiStream, `Bearer error="invalid_token"`, connect.CodeUnauthenticated, connectjwt.ReasonExpired},
	}
	for _, tc := range cases {
		for _, p := range protocols() {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				ctx := context.Background()
				if tc.auth != "" {
					ctx = withHeaders(ctx, http.Header{"Authorization": {tc.auth}})
				}
				_, err := call(ctx, s.client(p), tc.sh)
				wantReason(t, err, tc.code, tc.reasn)
				var ce *connect.Error
				errors.As(err, &ce)
				got := ce.Meta().Values("Www-Authenticate")
				if p.name == "grpc" {
					if len(got) != 0 {
						t.Errorf("gRPC error carries WWW-Authenticate %q", got)
					}
					return
				}
				if len(got) != 1 || got[0] != tc.want {
					t.Errorf("WWW-Authenticate = %q, want [%q]", got, tc.want)
				}
			})
		}
	}

	// Raw gRPC: neither the response headers nor the trailers name it.
	for _, auth := range []string{"", "Bearer " + expiredTok, "Bearer a.b"} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL+proc, strings.NewReader("\x00\x00\x00\x00\x00"))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		status := res.Trailer.Get("Grpc-Status")
		if status == "" {
			status = res.Header.Get("Grpc-Status")
		}
		if status != "16" {
			t.Errorf("raw gRPC %q: grpc-status %q, want 16", auth, status)
		}
		if res.Header.Get("Www-Authenticate") != "" || res.Trailer.Get("Www-Authenticate") != "" {
			t.Errorf("raw gRPC %q: WWW-Authenticate in headers %q or trailers %q", auth, res.Header.Get("Www-Authenticate"), res.Trailer.Get("Www-Authenticate"))
		}
	}

	// Raw gRPC-web: the challenge is in the response headers (a
	// trailers-only response) or the body trailers block.
	for _, tc := range []struct{ auth, want string }{{"", "Bearer"}, {"Bearer " + expiredTok, `Bearer error="invalid_token"`}} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL+proc, strings.NewReader("\x00\x00\x00\x00\x00"))
		req.Header.Set("Content-Type", "application/grpc-web+proto")
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		res, err := s.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got := res.Header.Get("Www-Authenticate")
		if got == "" {
			got = grpcWebTrailer(body, "www-authenticate")
		}
		if got != tc.want {
			t.Errorf("raw gRPC-web %q: WWW-Authenticate %q, want %q", tc.auth, got, tc.want)
		}
	}
}

// grpcWebTrailer finds a trailer in a gRPC-web response body.
func grpcWebTrailer(body []byte, name string) string {
	for len(body) >= 5 {
		flags := body[0]
		size := int(body[1])<<24 | int(body[2])<<16 | int(body[3])<<8 | int(body[4])
		if 5+size > len(body) {
			return ""
		}
		frame := body[5 : 5+size]
		body = body[5+size:]
		if flags&0x80 == 0 {
			continue
		}
		for line := range strings.SplitSeq(string(frame), "\r\n") {
			k, v, ok := strings.Cut(line, ":")
			if ok && strings.EqualFold(strings.TrimSpace(k), name) {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}
