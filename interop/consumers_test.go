package interop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"net/http/httptest"
	"sync"
	"testing"
)

const (
	ourIssuer   = "https://go.interop.test"
	ourAudience = "flask.interop.test"
)

// ourKeys returns our keys by algorithm, generated once for all tests.
func ourKeys(t *testing.T) map[string]any {
	t.Helper()
	keys, err := ourKeySet()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

//nolint:gochecknoglobals // the keys are generated once per test binary: RSA is slow
var ourKeySet = sync.OnceValues(func() (map[string]any, error) {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	k := map[string]any{}
	for _, a := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"} {
		k[a] = r
	}
	for a, c := range map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()} {
		if k[a], err = ecdsa.GenerateKey(c, rand.Reader); err != nil {
			return nil, err
		}
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	k["EdDSA"], k["Ed25519"] = ed, ed
	for _, a := range []string{"HS256", "HS384", "HS512"} {
		s := make([]byte, 64)
		rand.Read(s)
		k[a] = s
	}
	return k, nil
})

// Our Issuer's access tokens and its JWK Set (Issuer.JWKSHandler, on
// loopback) verified by jose (createRemoteJWKSet, with maxTokenAge) and
// PyJWT (PyJWKClient), at once after issue, for every algorithm each
// supports. Issue 16 item 1: a fractional iat failed both for up to a
// second.
func TestOurTokensVerifiedByOthers(t *testing.T) {
	for _, tl := range []tool{jose, pyjwt} {
		t.Run(string(tl), func(t *testing.T) {
			t.Parallel()
			var reqs []verifyReq
			var algs []string
			for _, alg := range algorithmsOf(tl) {
				is := newTestIssuer(t, alg, "", ourKeys(t)[alg], ourIssuer, ourAudience)
				req := verifyReq{Algorithms: []string{alg}, Issuer: ourIssuer, Audience: ourAudience}
				if tl == jose {
					req.MaxTokenAge = "5s"
				}
				if alg[:2] == "HS" {
					secret, ok := ourKeys(t)[alg].([]byte)
					if !ok {
						t.Fatalf("%s key is %T", alg, ourKeys(t)[alg])
					}
					req.Secret = base64.RawURLEncoding.EncodeToString(secret)
				} else {
					srv := httptest.NewServer(is.jwksHandler())
					t.Cleanup(srv.Close)
					req.JWKSURL = srv.URL + "/.well-known/jwks.json"
				}
				// Three tokens, issued just before the tool reads them.
				for range 3 {
					r := req
					r.Token = is.accessToken(t, "bob")
					reqs = append(reqs, r)
					algs = append(algs, alg)
				}
			}
			for i, res := range tl.verify(t, reqs...) {
				if !res.OK {
					t.Errorf("%s: %s refused our token: %s", algs[i], tl, res.Error)
					continue
				}
				if res.Payload["sub"] != "bob" || res.Header["alg"] != algs[i] || res.Header["typ"] != "at+jwt" {
					t.Errorf("%s: payload %v, header %v", algs[i], res.Payload, res.Header)
				}
				for _, c := range []string{"iat", "nbf", "exp"} {
					if f, ok := res.Payload[c].(float64); !ok || f != float64(int64(f)) {
						t.Errorf("%s: %s = %v, want whole seconds", algs[i], c, res.Payload[c])
					}
				}
			}
		})
	}
}

// The other libraries refuse what they should: a token of ours for another
// audience, or under another algorithm.
func TestOurTokensRefusedByOthersWhenWrong(t *testing.T) {
	is := newTestIssuer(t, "ES256", "k1", ourKeys(t)["ES256"], ourIssuer, ourAudience)
	srv := httptest.NewServer(is.jwksHandler())
	t.Cleanup(srv.Close)
	url := srv.URL + "/.well-known/jwks.json"
	tok := is.accessToken(t, "bob")
	for _, tl := range []tool{jose, pyjwt} {
		res := tl.verify(t,
			verifyReq{Token: tok, JWKSURL: url, Algorithms: []string{"ES256"}, Issuer: ourIssuer, Audience: "someone.else"},
			verifyReq{Token: tok, JWKSURL: url, Algorithms: []string{"RS256"}, Issuer: ourIssuer, Audience: ourAudience},
			verifyReq{Token: tok, JWKSURL: url, Algorithms: []string{"ES256"}, Issuer: ourIssuer, Audience: ourAudience},
		)
		if res[0].OK || res[1].OK || !res[2].OK {
			t.Errorf("%s: wrong audience ok=%v, wrong alg ok=%v, right ok=%v (%s)", tl, res[0].OK, res[1].OK, res[2].OK, res[2].Error)
		}
	}
}
