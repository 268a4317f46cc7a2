package interop

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
)

const (
	foreignIssuer   = "https://idp.interop.test/"
	foreignAudience = "api.interop.test"
)

// allAlgorithms are the algorithms connectjwt supports.
func allAlgorithms() []string {
	return []string{
		"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
		"ES256", "ES384", "ES512", "EdDSA", "Ed25519",
	}
}

// algorithmsOf are those a tool can sign: PyJWT 2.6 predates RFC 9864's
// Ed25519 name.
func algorithmsOf(tl tool) []string {
	if tl == pyjwt {
		return slices.DeleteFunc(allAlgorithms(), func(a string) bool { return a == "Ed25519" })
	}
	return allAlgorithms()
}

// The header variants every producer signs, and what the interceptor with
// default options (access typ at+jwt) answers. Tokens without typ or with
// typ JWT are refused by it, and accepted below when the key (local) or the
// key set (remote) is configured for them.
func variants() []variant {
	return []variant{
		{KID: true, Typ: "at+jwt"},
		{KID: false, Typ: "at+jwt"},
		{KID: true, Typ: "application/at+jwt"},
		{KID: true, Typ: "JWT"},
		{KID: false, Typ: ""},
	}
}

func randomSecret(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 64) // long enough for HS512
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// foreignClaims are an identity provider's access token claims.
func foreignClaims(extra map[string]any) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{"sub": "alice", "iss": foreignIssuer, "aud": foreignAudience, "iat": now, "exp": now + 600}
	maps.Copy(c, extra)
	return c
}

// foreignToken is a token of tl for alg and the trust that accepts it: a
// local HMAC key, or the tool's JWK Set served on loopback.
type foreignToken struct {
	res   signResult
	trust trust
}

func produce(t *testing.T, tl tool, alg string, claims map[string]any, vs ...variant) foreignToken {
	t.Helper()
	if alg[:2] == "HS" {
		// Local keys have no issuer or audience here.
		delete(claims, "iss")
		delete(claims, "aud")
	}
	raw, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return produceRaw(t, tl, alg, raw, vs...)
}

// produceRaw is produce with the claims as JSON text, which may hold what
// a Go string cannot (a lone surrogate escape).
func produceRaw(t *testing.T, tl tool, alg string, claims json.RawMessage, vs ...variant) foreignToken {
	t.Helper()
	req := signReq{Alg: alg, Claims: claims, Variants: vs}
	var tr trust
	if alg[:2] == "HS" {
		secret := randomSecret(t)
		req.Secret = base64.RawURLEncoding.EncodeToString(secret)
		tr = trust{hmac: secret, hmacAlg: alg, hmacKID: fmt.Sprintf("%s-%s", tl, lower(alg))}
	}
	res := tl.sign(t, req)
	if alg[:2] != "HS" {
		tr = trust{sets: []remoteSet{{issuer: foreignIssuer, url: serveJWKS(t, res.JWKS), audience: foreignAudience}}}
	}
	return foreignToken{res, tr}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Tokens and JWK Sets made by jose and PyJWT, for every algorithm, with and
// without kid and typ, through the real interceptor. ES256, RS256, EdDSA
// and HS256 go over all three protocols; the others over one each, in turn.
func TestForeignTokensAccepted(t *testing.T) {
	for _, tl := range []tool{jose, pyjwt} {
		for i, alg := range algorithmsOf(tl) {
			t.Run(string(tl)+"/"+alg, func(t *testing.T) {
				t.Parallel()
				vs := variants()
				ft := produce(t, tl, alg, foreignClaims(nil), vs...)
				protos := allProtocols()
				if !slices.Contains([]string{"ES256", "RS256", "EdDSA", "HS256"}, alg) {
					protos = []string{protos[i%len(protos)]}
				}
				srv := startServer(t, ft.trust)
				for j, tok := range ft.res.Tokens {
					v := vs[j]
					name := fmt.Sprintf("kid=%v typ=%q", v.KID, v.Typ)
					switch lower(v.Typ) {
					case "at+jwt", "application/at+jwt":
						t.Run(name, func(t *testing.T) { srv.expectOK(t, tok, "alice", protos...) })
					default:
						t.Run(name, func(t *testing.T) {
							srv.expectRefused(t, tok, connect.CodeUnauthenticated, "REASON_WRONG_TOKEN_TYPE", protos...)
						})
					}
				}
				// typ JWT and no typ, accepted when configured as the
				// access types of the key or key set (the only ones: at+jwt
				// is then refused).
				lax := ft.trust
				if lax.sets != nil {
					lax.sets = []remoteSet{lax.sets[0]}
					lax.sets[0].types, lax.sets[0].untyped = []string{"JWT"}, true
				} else {
					lax.accessType, lax.untyped = "JWT", true
				}
				srvLax := startServer(t, lax)
				srvLax.expectOK(t, ft.res.Tokens[3], "alice", protos[0])
				srvLax.expectOK(t, ft.res.Tokens[4], "alice", protos[0])
				srvLax.expectRefused(t, ft.res.Tokens[0], connect.CodeUnauthenticated, "REASON_WRONG_TOKEN_TYPE", protos[0])
			})
		}
	}
}
