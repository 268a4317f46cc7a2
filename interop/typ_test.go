package interop

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"connectrpc.com/connect"
)

// Accepted access token types are a property of each trusted issuer (issue
// 16 item 2): one interceptor accepts its own at+jwt tokens and a jose
// issuer's at+jwt, JWT and untyped tokens, while a second, strict issuer
// (PyJWT, default types) is refused for JWT and untyped tokens.
func TestTypPerTrustedIssuer(t *testing.T) {
	const strictIssuer = "https://strict.idp.test/"
	provider := produce(t, jose, "ES256", foreignClaims(nil),
		variant{KID: true, Typ: "at+jwt"}, variant{KID: true, Typ: "JWT"}, variant{KID: true})
	strictSet := produce(t, pyjwt, "RS256", foreignClaims(map[string]any{"iss": strictIssuer}),
		variant{KID: true, Typ: "at+jwt"}, variant{KID: true, Typ: "JWT"}, variant{KID: true})
	lax := provider.trust.sets[0]
	lax.types, lax.untyped = []string{"at+jwt", "JWT"}, true
	strict := strictSet.trust.sets[0]
	strict.issuer = strictIssuer
	secret := randomSecret(t)
	srv := startServer(t, trust{hmac: secret, sets: []remoteSet{lax, strict}})
	ours := newTestIssuer(t, "HS256", "", secret, "", "")

	for _, tok := range []string{provider.res.Tokens[2], strictSet.res.Tokens[2]} {
		if _, ok := joseHeaderOf(t, tok)["typ"]; ok {
			t.Fatalf("untyped variant has a typ: %s", tok)
		}
	}
	srv.expectOK(t, ours.accessToken(t, "bob"), "bob", allProtocols()...)
	srv.expectRefused(t, ours.refreshToken(t, "bob"), connect.CodeUnauthenticated, "REASON_WRONG_TOKEN_TYPE", "connect")
	for i := range 3 { // at+jwt, JWT, none
		srv.expectOK(t, provider.res.Tokens[i], "alice", allProtocols()...)
	}
	srv.expectOK(t, strictSet.res.Tokens[0], "alice", allProtocols()...)
	for _, tok := range strictSet.res.Tokens[1:] { // JWT, none
		srv.expectRefused(t, tok, connect.CodeUnauthenticated, "REASON_WRONG_TOKEN_TYPE", allProtocols()...)
	}
}

// Flask migration: the local key accepts typ JWT, and (explicitly) no typ,
// but a refresh token of ours never passes as an access token.
func TestLocalUntypedNeverAcceptsOurRefreshTokens(t *testing.T) {
	secret := []byte(hex.EncodeToString(randomSecret(t))) // printable, for Flask's environment
	srv := startServer(t, trust{hmac: secret, localTypes: []string{"JWT"}, untyped: true})
	ours := newTestIssuer(t, "HS256", "", secret, "", "")
	srv.expectOK(t, ours.accessToken(t, "bob"), "bob", allProtocols()...)
	srv.expectRefused(t, ours.refreshToken(t, "bob"), connect.CodeUnauthenticated, "REASON_WRONG_TOKEN_TYPE", allProtocols()...)
	flask := startFlask(t, string(secret))
	srv.expectOK(t, flask.login(t, "alice"), "alice", allProtocols()...) // typ JWT
	// PyJWT's own untyped token with the same secret.
	claims := foreignClaims(nil)
	delete(claims, "iss")
	delete(claims, "aud")
	raw, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	untyped := pyjwt.sign(t, signReq{Alg: "HS256", Secret: base64.RawURLEncoding.EncodeToString(secret), Claims: raw, Variants: []variant{{}}})
	if _, ok := joseHeaderOf(t, untyped.Tokens[0])["typ"]; ok {
		t.Fatalf("PyJWT wrote a typ: %s", untyped.Tokens[0])
	}
	srv.expectOK(t, untyped.Tokens[0], "alice", allProtocols()...)
}

// joseHeaderOf decodes a token's JOSE header.
func joseHeaderOf(t *testing.T, token string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}
