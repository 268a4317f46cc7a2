package connectjwt_test

// Keys, token minting and the failure-reason check shared by the black-box
// tests. Tokens are minted with golang-jwt directly (no Issuer involved), so
// a test controls every byte the validator sees.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "api.test"
	testSubject  = "alice"
	anonymous    = "<anonymous>" // identity the test service reports without claims
)

type testKeySet struct {
	hs256, hs384, hs512 []byte
	otherHS256          []byte
	rsa                 *rsa.PrivateKey
	ec256               *ecdsa.PrivateKey
	ec384               *ecdsa.PrivateKey
	ed                  ed25519.PrivateKey
}

var testKeys = sync.OnceValue(func() *testKeySet { //nolint:gochecknoglobals // keys generated once per test binary: RSA generation is too slow to repeat per test
	k := &testKeySet{
		hs256:      []byte("0123456789abcdef0123456789abcdef"),
		hs384:      []byte(strings.Repeat("h384-key", 6)),
		hs512:      []byte(strings.Repeat("h512-key", 8)),
		otherHS256: []byte("fedcba9876543210fedcba9876543210"),
	}
	// Key generation from crypto/rand cannot fail (a failing rand.Reader
	// crashes the program since Go 1.24), so the errors are always nil.
	k.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
	k.ec256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k.ec384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
	return k
})

// claimsAt returns the claims of a valid access token for the test issuer and
// audience, issued at now and expiring after ttl.
func claimsAt(now time.Time, ttl time.Duration) jwt.MapClaims {
	return jwt.MapClaims{
		"sub": testSubject,
		"iss": testIssuer,
		"aud": testAudience,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
}

// tokenSpec describes a token for mint. Method and Key default to HS256 with
// the shared secret; the other fields say what is signed.
type tokenSpec struct {
	Method jwt.SigningMethod // HS256 if nil
	Key    any               // testKeys().hs256 if nil
	// Signer, when set, is the key to sign with: its Algorithm and Material
	// replace Method and Key, and its ID (if any) becomes the kid.
	Signer connectjwt.Key
	Claims jwt.MapClaims // the payload, unless RawPayload is set
	// Header is merged over {"alg": Method, "typ": "at+jwt"}: set "kid" or
	// "typ" here; a nil value deletes that member.
	Header map[string]any
	// RawHeader and RawPayload are JSON text signed as written, so that
	// duplicate names, odd types and invalid UTF-8 survive. RawHeader
	// replaces Header (and the alg it would carry); RawPayload replaces
	// Claims (with neither, the payload is empty).
	RawHeader, RawPayload string
	// SigningInput, when set, is the encoded "header.payload" signed as is
	// (for non-canonical base64); it replaces all of the above.
	SigningInput string
}

// mint signs the token spec describes. It is the one way the black-box
// tests make a token without an Issuer.
func mint(tb testing.TB, spec tokenSpec) string {
	tb.Helper()
	method, key := spec.Method, spec.Key
	header := map[string]any{}
	if spec.Signer.Material != nil {
		method, key = jwt.GetSigningMethod(spec.Signer.Algorithm), spec.Signer.Material
		if spec.Signer.ID != "" {
			header["kid"] = spec.Signer.ID
		}
	}
	if method == nil {
		method = jwt.SigningMethodHS256
	}
	if key == nil {
		key = testKeys().hs256
	}
	header["alg"], header["typ"] = method.Alg(), "at+jwt"
	for k, v := range spec.Header {
		if v == nil {
			delete(header, k)
		} else {
			header[k] = v
		}
	}
	in := spec.SigningInput
	if in == "" {
		in = b64(spec.raw(tb, spec.RawHeader, header)) + "." + b64(spec.raw(tb, spec.RawPayload, spec.Claims))
	}
	sig, err := method.Sign(in, key)
	if err != nil {
		tb.Fatalf("mint %s: %v", method.Alg(), err)
	}
	return in + "." + b64(sig)
}

// raw returns text if it is set, else v in JSON (nothing for a nil map).
func (tokenSpec) raw(tb testing.TB, text string, v map[string]any) []byte {
	tb.Helper()
	if text != "" || v == nil {
		return []byte(text)
	}
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// fromValidator is the code wantReason expects of an error that did not
// come over the wire: a Validator's *connectjwt.Failure.
const fromValidator connect.Code = 0

// wantReason checks that err is a failure for reason. An error from the
// wire must have code and carry the AuthError detail naming reason, which
// wantReason returns; with code fromValidator, err must be a
// *connectjwt.Failure with that reason, or nil when reason is
// ReasonUnspecified (and wantReason returns nil).
func wantReason(tb testing.TB, err error, code connect.Code, reason connectjwt.Reason) *connectjwtv1.AuthError {
	tb.Helper()
	if code == fromValidator && reason == connectjwt.ReasonUnspecified {
		if err != nil {
			tb.Fatalf("err = %v, want none", err)
		}
		return nil
	}
	if err == nil {
		tb.Fatalf("no error, want %v / %v", code, reason)
	}
	if code == fromValidator {
		var f *connectjwt.Failure
		if !errors.As(err, &f) || f.Reason != reason {
			tb.Fatalf("reason = %v, want %v (err: %v)", connectjwt.ReasonOf(err), reason, err)
		}
		return nil
	}
	if got := connect.CodeOf(err); got != code {
		tb.Fatalf("code = %v, want %v (err: %v)", got, code, err)
	}
	ae, ok := connectjwt.AuthErrorOf(err)
	if !ok {
		tb.Fatalf("no AuthError detail in %v", err)
	}
	if connectjwt.Reason(ae.GetReason()) != reason {
		tb.Fatalf("reason = %v, want %v (err: %v)", ae.GetReason(), reason, err)
	}
	return ae
}
