package connectjwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
	"github.com/golang-jwt/jwt/v5"
)

// selfSigned returns a DER certificate for key's public half.
func selfSigned(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jwks test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// jwkOf returns the JWK an issuer publishes for k, as a map to alter.
func jwkOf(t *testing.T, k connectjwt.Key) map[string]any {
	t.Helper()
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(publishedJWKS(t, k), &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("published set: %v", err)
	}
	return set.Keys[0]
}

// One bad key does not poison a set (issue 16): it is skipped, reported,
// and never verifies anything, while the set's good key keeps working. A
// set whose keys are all bad is a failed fetch (UNAVAILABLE).
func TestJWKSSkipsBadKeys(t *testing.T) {
	ctx := context.Background()
	k := jwksKeys()
	good := connectjwt.Key{ID: "good", Algorithm: "RS256", Material: k.rsa}
	bad := connectjwt.Key{ID: "bad", Algorithm: "ES256", Material: k.ec2}
	certOfBad, certOfOther := selfSigned(t, k.ec2), selfSigned(t, k.ec3)
	sum := sha256.Sum256(certOfBad)
	for _, tc := range []struct {
		name  string
		alter func(jwk map[string]any)
	}{
		{"x5t holding a SHA-256 thumbprint", func(jwk map[string]any) {
			jwk["x5c"] = []string{base64.StdEncoding.EncodeToString(certOfBad)}
			jwk["x5t"] = base64.RawURLEncoding.EncodeToString(sum[:])
		}},
		{"x5c certificate of another key", func(jwk map[string]any) {
			jwk["x5c"] = []string{base64.StdEncoding.EncodeToString(certOfOther)}
		}},
		{"use SIG in upper case", func(jwk map[string]any) { jwk["use"] = "SIG" }},
		{"EC point off the curve", func(jwk map[string]any) {
			ys, _ := jwk["y"].(string)
			y, _ := base64.RawURLEncoding.DecodeString(ys)
			y[len(y)-1] ^= 1
			jwk["y"] = base64.RawURLEncoding.EncodeToString(y)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			badJWK := jwkOf(t, bad)
			tc.alter(badJWK)
			body, err := json.Marshal(map[string]any{"keys": []any{jwkOf(t, good), badJWK}})
			if err != nil {
				t.Fatal(err)
			}
			srv := newJWKSServer(t)
			srv.setBody(body)
			var mu sync.Mutex
			var reports []string
			set := fast(jwksIssuerA, srv.url, jwksAudA)
			set.OnFetchError = func(err error) {
				mu.Lock()
				defer mu.Unlock()
				reports = append(reports, err.Error())
			}
			v := newRemoteValidator(t, set)
			if c, err := v.Validate(ctx, mint(t, tokenSpec{Signer: good, Claims: claimsFor(jwksIssuerA, jwksAudA)})); err != nil || c.Identity != "alice" {
				t.Fatalf("good key's token: %v", err)
			}
			// A kid the last fetch did not check gets a retryable answer
			// until the next permitted fetch (forged kids must not block
			// key rotation); the skipped key's token never passes.
			for _, tok := range []string{mint(t, tokenSpec{Signer: bad, Claims: claimsFor(jwksIssuerA, jwksAudA)}), mint(t, tokenSpec{Method: jwt.GetSigningMethod("ES256"), Key: k.ec2, Claims: claimsFor(jwksIssuerA, jwksAudA)})} {
				deadline := time.Now().Add(2 * time.Second)
				_, err = v.Validate(ctx, tok)
				for connectjwt.ReasonOf(err) == connectjwt.ReasonUnavailable && time.Now().Before(deadline) {
					time.Sleep(25 * time.Millisecond)
					_, err = v.Validate(ctx, tok)
				}
				wantReason(t, err, fromValidator, connectjwt.ReasonInvalidSignature)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reports) == 0 || !strings.Contains(reports[0], `1 of its keys skipped`) || !strings.Contains(reports[0], `key 1 (kid "bad") skipped`) {
				t.Errorf("reports = %q", reports)
			}
		})
	}

	t.Run("every key bad", func(t *testing.T) {
		badJWK := jwkOf(t, bad)
		badJWK["use"] = "SIG"
		body, _ := json.Marshal(map[string]any{"keys": []any{badJWK}})
		srv := newJWKSServer(t)
		srv.setBody(body)
		v := newRemoteValidator(t, fast(jwksIssuerA, srv.url, jwksAudA))
		_, err := v.Validate(ctx, mint(t, tokenSpec{Signer: bad, Claims: claimsFor(jwksIssuerA, jwksAudA)}))
		wantReason(t, err, fromValidator, connectjwt.ReasonUnavailable)
	})
	for _, body := range []string{`{"keys":{}}`, `{"kys":[]}`, `[]`, `not json`} {
		t.Run("not a set: "+body, func(t *testing.T) {
			srv := newJWKSServer(t)
			srv.setBody([]byte(body))
			v := newRemoteValidator(t, fast(jwksIssuerA, srv.url, jwksAudA))
			_, err := v.Validate(ctx, mint(t, tokenSpec{Signer: good, Claims: claimsFor(jwksIssuerA, jwksAudA)}))
			wantReason(t, err, fromValidator, connectjwt.ReasonUnavailable)
		})
	}
}
