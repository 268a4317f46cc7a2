package connectjwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// A Key is key material bound to exactly one JWS algorithm (RFC 8725 §3.1):
// a token is only ever verified with a key whose Algorithm equals its alg
// header, so an RSA public key can never be used as an HMAC secret.
//
// Material is one of:
//   - []byte: an HMAC secret for HS256, HS384 or HS512, at least 32, 48 or 64
//     bytes long;
//   - *rsa.PrivateKey or *rsa.PublicKey (at least 2048 bits) for RS256, RS384,
//     RS512, PS256, PS384 or PS512;
//   - *ecdsa.PrivateKey or *ecdsa.PublicKey on P-256, P-384 or P-521 for
//     ES256, ES384 or ES512 respectively;
//   - ed25519.PrivateKey or ed25519.PublicKey for EdDSA or Ed25519 (the
//     fully specified name of RFC 9864). The binding stays exact: a key
//     bound to EdDSA verifies only tokens with alg EdDSA, and one bound to
//     Ed25519 only tokens with alg Ed25519; to accept both, give the key
//     twice, once per algorithm.
//
// A private key (or an HMAC secret) can sign and verify; a public key can only
// verify. Keys are checked when an [Issuer], [Validator] or [Interceptor] is
// built, never at the first request.
type Key struct {
	// ID is the kid header of tokens signed with this key. When empty, it
	// is derived from the key, so every token carries a kid and every
	// [Issuer] and [Validator] given the same Key computes the same ID: the
	// RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key for
	// asymmetric keys, and for an HMAC secret an HMAC-SHA256 of a fixed
	// label under the secret (a secret's thumbprint would be a plain hash
	// of it).
	ID string
	// Algorithm is the JWS alg, e.g. "HS256", "RS256", "ES256", "EdDSA",
	// "Ed25519".
	Algorithm string
	// Material is the secret or key; see the type documentation.
	Material any
}

// HMACKey returns an HS256 key for secret, Flask's JWT_SECRET_KEY. The
// secret must be at least 32 bytes long.
func HMACKey(secret []byte) Key {
	return Key{Algorithm: "HS256", Material: secret}
}

// ErrInvalidKey is wrapped by every configuration error about a [Key].
var ErrInvalidKey = errors.New("connectjwt: invalid key")

// boundKey is a checked Key: a method, a verification key and, when the
// material allows, a signing key.
type boundKey struct {
	id     string
	alg    string
	method jwt.SigningMethod
	verify any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	sign   any // []byte, *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey or nil
	// macs pools keyed hashes of an HMAC secret (nil for other keys):
	// hmac.New derives the pads from the key and allocates, which need not
	// happen per token.
	macs *sync.Pool
}

//nolint:gochecknoglobals // read-only table
var hmacMinBytes = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

//nolint:gochecknoglobals // read-only table
var ecCurves = map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}

// bindKey checks k and binds it to its algorithm.
func bindKey(k Key) (*boundKey, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidKey, fmt.Sprintf(format, args...))
	}
	if len(k.ID) > maxKeyIDLen {
		return nil, bad("key ID longer than %d bytes", maxKeyIDLen)
	}
	switch k.Algorithm {
	case "", "none", "None", "NONE":
		return nil, bad("algorithm %q is not allowed", k.Algorithm)
	}
	method := signingMethod(k.Algorithm)
	if method == nil {
		return nil, bad("unsupported algorithm %q", k.Algorithm)
	}
	b := &boundKey{id: k.ID, alg: k.Algorithm, method: method}
	switch material := k.Material.(type) {
	case []byte:
		minBytes, ok := hmacMinBytes[k.Algorithm]
		if !ok {
			return nil, bad("an HMAC secret cannot be used with %s", k.Algorithm)
		}
		if len(material) < minBytes {
			return nil, bad("%s secret must be at least %d bytes, got %d", k.Algorithm, minBytes, len(material))
		}
		secret := append([]byte(nil), material...)
		b.verify, b.sign = secret, secret
		newHash := method.(*jwt.SigningMethodHMAC).Hash.New //nolint:errcheck,forcetypeassert // hmacMinBytes names only HMAC algorithms
		b.macs = &sync.Pool{New: func() any { return &hmacState{mac: hmac.New(newHash, secret)} }}
	case *rsa.PrivateKey:
		if err := checkRSA(k.Algorithm, &material.PublicKey); err != nil {
			return nil, bad("%v", err)
		}
		b.verify, b.sign = &material.PublicKey, material
	case *rsa.PublicKey:
		if err := checkRSA(k.Algorithm, material); err != nil {
			return nil, bad("%v", err)
		}
		b.verify = material
	case *ecdsa.PrivateKey:
		if err := checkEC(k.Algorithm, &material.PublicKey); err != nil {
			return nil, bad("%v", err)
		}
		b.verify, b.sign = &material.PublicKey, material
	case *ecdsa.PublicKey:
		if err := checkEC(k.Algorithm, material); err != nil {
			return nil, bad("%v", err)
		}
		b.verify = material
	case ed25519.PrivateKey:
		if !isEd25519Alg(k.Algorithm) || len(material) != ed25519.PrivateKeySize {
			return nil, bad("an Ed25519 key needs algorithm EdDSA or Ed25519 and %d bytes", ed25519.PrivateKeySize)
		}
		b.verify, b.sign = material.Public().(ed25519.PublicKey), material //nolint:errcheck,forcetypeassert // documented type of ed25519.PrivateKey.Public
	case ed25519.PublicKey:
		if !isEd25519Alg(k.Algorithm) || len(material) != ed25519.PublicKeySize {
			return nil, bad("an Ed25519 key needs algorithm EdDSA or Ed25519 and %d bytes", ed25519.PublicKeySize)
		}
		b.verify = material
	case nil:
		return nil, bad("no key material for %s", k.Algorithm)
	default:
		return nil, bad("unsupported key material %T for %s", k.Material, k.Algorithm)
	}
	if b.id == "" {
		b.id = autoKeyID(b.verify) // see jwks_handler.go
	}
	return b, nil
}

// algEd25519 is RFC 9864's fully specified name for EdDSA with Ed25519.
// golang-jwt knows only "EdDSA"; both names verify with its EdDSA method,
// and each key is bound to the one name it was given.
const algEd25519 = "Ed25519"

// signingMethod returns golang-jwt's method for a JWS alg, or nil.
func signingMethod(alg string) jwt.SigningMethod {
	if alg == algEd25519 {
		return jwt.SigningMethodEdDSA
	}
	return jwt.GetSigningMethod(alg)
}

func isEd25519Alg(alg string) bool { return alg == "EdDSA" || alg == algEd25519 }

func checkRSA(alg string, pub *rsa.PublicKey) error {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
	default:
		return fmt.Errorf("an RSA key cannot be used with %s", alg)
	}
	if pub == nil || pub.N == nil || pub.N.BitLen() < 2048 {
		return errors.New("RSA keys must be at least 2048 bits")
	}
	return nil
}

func checkEC(alg string, pub *ecdsa.PublicKey) error {
	curve, ok := ecCurves[alg]
	if !ok {
		return fmt.Errorf("an ECDSA key cannot be used with %s", alg)
	}
	if pub == nil || pub.Curve != curve {
		return fmt.Errorf("%s needs a key on %s", alg, curve.Params().Name)
	}
	return nil
}
