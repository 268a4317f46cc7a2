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

// ourKeys are generated once: RSA is slow.
var ourKeys = sync.OnceValue(func() map[string]any {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	k := map[string]any{}
	for _, a := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"} {
		k[a] = r
	}
	for a, c := range map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()} {
		if k[a], err = ecdsa.GenerateKey(c, rand.Reader); err != nil {
			panic(err)
		}
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	k["EdDSA"], k["Ed25519"] = ed, ed
	for _, a := range []string{"HS256", "HS384", "HS512"} {
		s := make([]byte, 64)
		rand.Read(s)
		k[a] = s
	}
	return k
})

// Our Issuer's access tokens and its JWK Set (Issuer.JWKSHandler, on
// loopback) verified by jose (createRemoteJWKSet, with maxTokenAge) and
// PyJWT (PyJWKClient), at once after issue, for every algorithm each
// supports. Issue 16 item 1: a fractional iat failed both for up to a
// second.
func TestOurTokensVerifiedByOthers(t *testing.T) {
	for _, tl := range []tool{jose, pyjwt} {
		t.Run(tl.name, func(t *testing.T) {
			t.Parallel()
			var reqs []verifyReq
			var algs []string
			for _, alg := range algorithmsOf(tl) {
				is := newTestIssuer(t, alg, "", ourKeys()[alg], ourIssuer, ourAudience)
				req := verifyReq{Algorithms: []string{alg}, Issuer: ourIssuer, Audience: ourAudience}
				if tl.name == "jose" {
					req.MaxTokenAge = "5s"
				}
				if alg[:2] == "HS" {
					req.Secret = base64.RawURLEncoding.EncodeToString(ourKeys()[alg].([]byte))
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
					t.Errorf("%s: %s refused our token: %s", algs[i], tl.name, res.Error)
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
	is := newTestIssuer(t, "ES256", "k1", ourKeys()["ES256"], ourIssuer, ourAudience)
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
			t.Errorf("%s: wrong audience ok=%v, wrong alg ok=%v, right ok=%v (%s)", tl.name, res[0].OK, res[1].OK, res[2].OK, res[2].Error)
		}
	}
}
