package interop

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
)

// Scopes in the shapes identity providers send (issue 16 item 3), in tokens
// made by jose, through a procedure policy.
func TestForeignScopeShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		claims map[string]any
		policy []string
		reason string // "" when accepted
	}{
		{"Azure scp string", map[string]any{"scp": "User.Read Mail.Send"}, []string{"User.Read", "Mail.Send"}, ""},
		{"Okta scp array", map[string]any{"scp": []string{"openid", "email"}}, []string{"email"}, ""},
		{"scope array", map[string]any{"scope": []string{"read", "write"}}, []string{"write"}, ""},
		{"scope string and scp array merged", map[string]any{"scope": "read", "scp": []string{"write"}}, []string{"read", "write"}, ""},
		{"missing scope", map[string]any{"scp": "User.Read"}, []string{"Mail.Send"}, "REASON_INSUFFICIENT_SCOPE"},
		{"scope a number", map[string]any{"scope": 42}, []string{"read"}, "REASON_INVALID_CLAIMS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ft := produce(t, jose, "ES256", foreignClaims(tc.claims), variant{KID: true, Typ: "at+jwt"})
			tr := ft.trust
			tr.scopes = tc.policy
			srv := startServer(t, tr)
			switch tc.reason {
			case "":
				srv.expectOK(t, ft.res.Tokens[0], "alice", allProtocols()...)
			case "REASON_INSUFFICIENT_SCOPE":
				srv.expectRefused(t, ft.res.Tokens[0], connect.CodePermissionDenied, tc.reason, "grpc")
			default:
				srv.expectRefused(t, ft.res.Tokens[0], connect.CodeUnauthenticated, tc.reason, "connect")
			}
		})
	}
}

// Claim names that differ only in case are legal JSON, and accepted; a lone
// surrogate escape is refused as malformed (issue 16 item 4). jose writes
// both (JSON.stringify escapes a lone surrogate).
func TestForeignClaimNames(t *testing.T) {
	ft := produce(t, jose, "ES256", foreignClaims(map[string]any{"email": "a@x.test", "Email": "A@X.TEST", "Sub": "mallory"}),
		variant{KID: true, Typ: "at+jwt"})
	startServer(t, ft.trust).expectOK(t, ft.res.Tokens[0], "alice", allProtocols()...)

	withRaw := func(name, raw string) json.RawMessage {
		b, err := json.Marshal(foreignClaims(nil))
		if err != nil {
			t.Fatal(err)
		}
		return json.RawMessage(string(b[:len(b)-1]) + `,"` + name + `":` + raw + `}`)
	}
	for name, tc := range map[string]struct {
		claims json.RawMessage
		escape string
	}{
		"sub":          {withRaw("sub", `"\ud800"`), `"sub":"\ud800"`}, // replaces foreignClaims' sub: last wins in JavaScript
		"custom value": {withRaw("name", `"a\udfffb"`), `"a\udfffb"`},
		"claim name":   {withRaw(`\ud83d`, `1`), `"\ud83d":1`},
	} {
		t.Run(name, func(t *testing.T) {
			ft := produceRaw(t, jose, "ES256", tc.claims, variant{KID: true, Typ: "at+jwt"})
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(ft.res.Tokens[0], ".")[1])
			if !strings.Contains(string(payload), tc.escape) {
				t.Fatalf("jose wrote %s", payload)
			}
			startServer(t, ft.trust).expectRefused(t, ft.res.Tokens[0], connect.CodeUnauthenticated, "REASON_MALFORMED", "connect", "grpc")
		})
	}
}

// One bad key does not poison a set (issue 16 item 6): a jose-made set with
// one altered key still verifies the good key's token, and the bad key is
// reported; jose (and PyJWT, but for the off-curve point) accept the token
// from the same set too.
func TestForeignSetWithABadKey(t *testing.T) {
	bad := produce(t, jose, "ES256", foreignClaims(nil), variant{KID: true, Typ: "at+jwt"})
	for name, alter := range map[string]func(*testing.T, map[string]any){
		"use SIG": func(_ *testing.T, k map[string]any) { k["use"] = "SIG" },
		"EC point off the curve": func(t *testing.T, k map[string]any) {
			t.Helper()
			orig, ok := k["x"].(string)
			if !ok || orig == "" {
				t.Fatalf("jose's EC key has x %v", k["x"])
			}
			x := []byte(orig)
			x[0] ^= 'A' ^ 'B' // another x, same length
			if x[0] == orig[0] {
				x[0] = 'C'
			}
			k["x"] = string(x)
		},
	} {
		t.Run(name, func(t *testing.T) {
			good := produce(t, jose, "RS256", foreignClaims(nil), variant{KID: true, Typ: "at+jwt"})
			var goodSet, badSet struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(good.res.JWKS, &goodSet); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(bad.res.JWKS, &badSet); err != nil {
				t.Fatal(err)
			}
			alter(t, badSet.Keys[0])
			body, _ := json.Marshal(map[string]any{"keys": []any{badSet.Keys[0], goodSet.Keys[0]}})
			url := serveJWKS(t, body)
			var mu sync.Mutex
			var reports []string
			srv := startServer(t, trust{
				sets: []remoteSet{{issuer: foreignIssuer, url: url, audience: foreignAudience}},
				onKeyError: func(err error) {
					mu.Lock()
					defer mu.Unlock()
					reports = append(reports, err.Error())
				},
			})
			srv.expectOK(t, good.res.Tokens[0], "alice", allProtocols()...)
			srv.expectRefused(t, bad.res.Tokens[0], connect.CodeUnauthenticated, "REASON_INVALID_SIGNATURE", "connect")
			mu.Lock()
			if len(reports) == 0 || !strings.Contains(reports[0], `kid "jose-es256"`) {
				t.Errorf("bad key not reported: %q", reports)
			}
			mu.Unlock()
			others := []tool{jose, pyjwt}
			if name == "EC point off the curve" {
				others = others[:1] // PyJWT 2.6 fails the whole set: "ValueError: Invalid EC key"
			}
			for _, tl := range others {
				if res := tl.verify(t, verifyReq{Token: good.res.Tokens[0], JWKSURL: url, Algorithms: []string{"RS256"},
					Issuer: foreignIssuer, Audience: foreignAudience}); !res[0].OK {
					t.Errorf("%s refused the good token from the same set: %s", tl, res[0].Error)
				}
			}
		})
	}
}

// Messages say what is wrong without echoing the token (issue 16 item 7):
// an issuer that is not trusted (a trailing slash is enough), and a token
// over the size cap.
func TestForeignTokenMessages(t *testing.T) {
	ft := produce(t, jose, "ES256", foreignClaims(nil), variant{KID: true, Typ: "at+jwt"})
	srv := startServer(t, ft.trust)
	slash := foreignIssuer + "/"
	wrongIss := produce(t, jose, "ES256", foreignClaims(map[string]any{"iss": slash}), variant{KID: true, Typ: "at+jwt"})
	msg := srv.expectRefused(t, wrongIss.res.Tokens[0], connect.CodeUnauthenticated, "REASON_INVALID_CLAIMS", allProtocols()...)
	if !strings.Contains(msg, "issuer is not trusted") || strings.Contains(msg, "idp.interop.test") {
		t.Errorf("message %q", msg)
	}
	big := produce(t, jose, "ES256", foreignClaims(map[string]any{"groups": strings.Repeat("g", 9000)}), variant{KID: true, Typ: "at+jwt"})
	msg = srv.expectRefused(t, big.res.Tokens[0], connect.CodeUnauthenticated, "REASON_MALFORMED", "connect", "grpc")
	if !strings.Contains(msg, "larger than 8192 bytes") || strings.Contains(msg, "ggg") {
		t.Errorf("message %q", msg)
	}
}
