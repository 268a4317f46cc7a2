package connectjwt_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

// atkConfigs returns the validator options of each server configuration,
// all on the fixed clock now.
func atkConfigs(now time.Time) [atkServers][]connectjwt.ValidatorOption {
	k := testKeys()
	key := func(id, alg string, m any) connectjwt.ValidatorOption {
		return connectjwt.WithKey(connectjwt.Key{ID: id, Algorithm: alg, Material: m})
	}
	clock := connectjwt.WithClock(func() time.Time { return now })
	hsKey := key(atkKidHS, "HS256", k.hs256)
	iss, aud := connectjwt.WithIssuer(testIssuer), connectjwt.WithAudience(testAudience)
	var c [atkServers][]connectjwt.ValidatorOption
	c[atkMain] = []connectjwt.ValidatorOption{clock, hsKey, key(atkKidRS, "RS256", &k.rsa.PublicKey),
		key(atkKidES, "ES256", &k.ec256.PublicKey), key(atkKidED, "EdDSA", k.ed.Public()), iss, aud}
	c[atkNoAud] = []connectjwt.ValidatorOption{clock, hsKey, iss}
	c[atkLeeway] = []connectjwt.ValidatorOption{clock, hsKey, iss, aud, connectjwt.WithLeeway(30 * time.Second)}
	c[atkRSOnly] = []connectjwt.ValidatorOption{clock, key(atkKidRS, "RS256", &k.rsa.PublicKey), iss, aud}
	return c
}

// atkStartServers starts one server per configuration, all on a fixed clock.
func atkStartServers(t *testing.T, now time.Time) [atkServers]*testServer {
	t.Helper()
	var s [atkServers]*testServer
	for i, opts := range atkConfigs(now) {
		s[i] = startServer(t, buildInterceptor(t, opts, nil), mountGate, nil)
	}
	return s
}

// atkRunRaw sends one Connect unary request over a plain HTTP/1.1
// connection with the case's raw header lines.
func atkRunRaw(t *testing.T, s *testServer, tc atkCase, secrets []string) {
	t.Helper()
	before := s.svc.calls.Load()
	status, body, header := rawHTTP1(t, s.URL, examplev1connect.ProtectedServiceProtectedProcedure, tc.raw)
	if tc.rawStatus != 0 {
		if status != tc.rawStatus {
			t.Fatalf("status %d, want %d (body %q)", status, tc.rawStatus, body)
		}
		// Refused by the HTTP server, before any handler: the protected
		// handler never ran.
		if ran := s.svc.calls.Load() - before; ran != 0 {
			t.Fatalf("handler ran %d times for a request the server refused", ran)
		}
		return
	}
	if tc.want == connectjwt.ReasonUnspecified {
		var res struct {
			Hello    string `json:"hello"`
			Identity string `json:"identity"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &res) != nil || res.Identity != tc.wantID {
			t.Fatalf("status %d body %q, want 200 with identity %q", status, body, tc.wantID)
		}
		return
	}
	ae := connectBodyAuthError(t, status, body)
	if connectjwt.Reason(ae.GetReason()) != tc.want {
		t.Fatalf("reason %v, want %v (body %q)", ae.GetReason(), tc.want, body)
	}
	var lines []string
	for l := range strings.SplitSeq(tc.raw, "\n") {
		lines = append(lines, strings.TrimPrefix(strings.TrimSpace(l), "Authorization:"))
	}
	texts := []string{string(body)}
	for _, vs := range header {
		texts = append(texts, vs...)
	}
	atkNoLeak(t, texts, lines, secrets)
}
