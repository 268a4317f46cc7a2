package exampleapp

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"

	"github.com/connectjwt/connectjwt"
)

// JWKSPath is where the server publishes its public keys (RFC 8414's
// well-known location, used by every identity provider).
const JWKSPath = "/.well-known/jwks.json"

// algorithms are the values of the -alg flag.
var algorithms = []string{"HS256", "ES256", "EdDSA"} //nolint:gochecknoglobals // read-only

// SigningKey returns the key the server signs and verifies with:
//
//   - HS256 (the default, as Flask's JWT_SECRET_KEY): the shared secret;
//   - ES256 or EdDSA: a key pair generated at startup. Only the public key
//     is published, at /.well-known/jwks.json, so other services verify the
//     server's tokens with connectjwt.WithJWKS and no shared secret. The kid
//     of every token is the key's RFC 7638 thumbprint. The pair lives only as
//     long as the process, so tokens do not survive a restart; a real
//     deployment loads its private keys from a secret store and rotates by
//     adding a key (see the README's "Keys: JWKS and rotation").
func SigningKey(alg string, secret []byte) (connectjwt.Key, error) {
	switch alg {
	case "", "HS256":
		return connectjwt.HMACKey(secret), nil
	case "ES256":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return connectjwt.Key{}, err
		}
		return connectjwt.Key{Algorithm: "ES256", Material: k}, nil
	case "EdDSA":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return connectjwt.Key{}, err
		}
		return connectjwt.Key{Algorithm: "EdDSA", Material: k}, nil
	}
	return connectjwt.Key{}, fmt.Errorf("-alg must be one of %q, got %q", algorithms, alg)
}
