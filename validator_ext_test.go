package connectjwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
)

func TestConstructionErrors(t *testing.T) {
	k := testKeys()
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	key := func(alg string, m any) connectjwt.Option {
		return connectjwt.WithKey(connectjwt.Key{Algorithm: alg, Material: m})
	}
	hs := connectjwt.WithKey(connectjwt.HMACKey(k.hs256))
	tests := []struct {
		name string
		opts []connectjwt.ValidatorOption
	}{
		{name: "no key"},
		{name: "no key but options", opts: []connectjwt.ValidatorOption{connectjwt.WithIssuer(testIssuer)}},
		{name: "HS256 secret 31 bytes", opts: []connectjwt.ValidatorOption{key("HS256", k.hs256[:31])}},
		{name: "HS256 empty secret", opts: []connectjwt.ValidatorOption{key("HS256", []byte{})}},
		{name: "HS384 secret 47 bytes", opts: []connectjwt.ValidatorOption{key("HS384", k.hs384[:47])}},
		{name: "HS384 secret 32 bytes", opts: []connectjwt.ValidatorOption{key("HS384", k.hs256)}},
		{name: "HS512 secret 63 bytes", opts: []connectjwt.ValidatorOption{key("HS512", k.hs512[:63])}},
		{name: "HMACKey short", opts: []connectjwt.ValidatorOption{connectjwt.WithKey(connectjwt.HMACKey([]byte("secret")))}},
		{name: "RSA 1024 private", opts: []connectjwt.ValidatorOption{key("RS256", rsa1024)}},
		{name: "RSA 1024 public", opts: []connectjwt.ValidatorOption{key("PS256", &rsa1024.PublicKey)}},
		{name: "alg none", opts: []connectjwt.ValidatorOption{key("none", k.hs256)}},
		{name: "alg NONE", opts: []connectjwt.ValidatorOption{key("NONE", k.hs256)}},
		{name: "alg nOnE", opts: []connectjwt.ValidatorOption{key("nOnE", k.hs256)}},
		{name: "alg empty", opts: []connectjwt.ValidatorOption{key("", k.hs256)}},
		{name: "alg unknown", opts: []connectjwt.ValidatorOption{key("HS1024", k.hs512)}},
		{name: "WithAlgorithms none", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithAlgorithms("HS256", "none")}},
		{name: "key outside WithAlgorithms", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithAlgorithms("RS256")}},
		{name: "RSA public key with HS256", opts: []connectjwt.ValidatorOption{key("HS256", &k.rsa.PublicKey)}},
		{name: "RSA private key with ES256", opts: []connectjwt.ValidatorOption{key("ES256", k.rsa)}},
		{name: "secret with RS256", opts: []connectjwt.ValidatorOption{key("RS256", k.hs512)}},
		{name: "PEM string as material", opts: []connectjwt.ValidatorOption{key("RS256", string(publicPEM(t, &k.rsa.PublicKey)))}},
		{name: "P-384 key with ES256", opts: []connectjwt.ValidatorOption{key("ES256", k.ec384)}},
		{name: "P-256 public key with ES384", opts: []connectjwt.ValidatorOption{key("ES384", &k.ec256.PublicKey)}},
		{name: "EC key with EdDSA", opts: []connectjwt.ValidatorOption{key("EdDSA", k.ec256)}},
		{name: "Ed25519 key with ES256", opts: []connectjwt.ValidatorOption{key("ES256", k.ed)}},
		{name: "Ed25519 key with HS256", opts: []connectjwt.ValidatorOption{key("HS256", k.ed.Public())}},
		{name: "Ed25519 short public key", opts: []connectjwt.ValidatorOption{key("EdDSA", ed25519.PublicKey(k.ed[ed25519.SeedSize:ed25519.SeedSize+16]))}},
		{name: "nil material", opts: []connectjwt.ValidatorOption{key("HS256", nil)}},
		{name: "key ID too long", opts: []connectjwt.ValidatorOption{connectjwt.WithKey(connectjwt.Key{ID: strings.Repeat("k", 257), Algorithm: "HS256", Material: k.hs256})}},
		{name: "leeway negative", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithLeeway(-time.Second)}},
		{name: "leeway too large", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithLeeway(time.Hour)}},
		{name: "same token types", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithTokenTypes("at+jwt", "application/AT+JWT")}},
		{name: "empty access type", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithTokenTypes("", "refresh+jwt")}},
		{name: "empty header name", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithHeader("", "Bearer")}},
		{name: "nil clock", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithClock(nil)}},
		{name: "max token size tiny", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithMaxTokenSize(1)}},
		{name: "empty identity claim", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithIdentityClaim("")}},
		{name: "public procedure without slash", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithPublicProcedures("Login")}},
		{name: "public procedure without method", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithPublicProcedures("/connectjwt.v1.AuthService/")}},
		{name: "public procedure with three parts", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithPublicProcedures("/a/b/c")}},
		{name: "optional procedure without slash", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithOptionalProcedures("example.v1.ProtectedService/Protected")}},
		{name: "public policy that requires scopes", opts: []connectjwt.ValidatorOption{hs, connectjwt.WithProcedurePolicy("/a.B/C", connectjwt.Policy{Public: true, Scopes: []string{"x"}})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := connectjwt.NewValidator(tt.opts...); err == nil || v != nil {
				t.Errorf("NewValidator: got %v, %v; want an error", v, err)
			} else if strings.Contains(err.Error(), string(k.hs256)) {
				t.Errorf("error leaks key material: %v", err)
			}
		})
	}
	// The minimal valid configurations build.
	for _, opts := range [][]connectjwt.ValidatorOption{
		{hs},
		{key("HS384", k.hs384)},
		{key("HS512", k.hs512)},
		{key("RS256", &k.rsa.PublicKey)},
		{key("PS512", k.rsa)},
		{key("ES256", &k.ec256.PublicKey)},
		{key("ES384", k.ec384)},
		{key("EdDSA", k.ed)},
		{key("EdDSA", k.ed.Public())},
	} {
		if _, err := connectjwt.NewValidator(opts...); err != nil {
			t.Errorf("NewValidator: %v", err)
		}
	}
}

func publicPEM(tb testing.TB, pub any) []byte {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestAlgorithmRoundTrips(t *testing.T) {
	k := testKeys()
	now := time.Now()
	tests := []struct {
		alg          string
		method       jwt.SigningMethod
		sign, verify any
	}{
		{"HS256", jwt.SigningMethodHS256, k.hs256, k.hs256},
		{"HS384", jwt.SigningMethodHS384, k.hs384, k.hs384},
		{"HS512", jwt.SigningMethodHS512, k.hs512, k.hs512},
		{"RS256", jwt.SigningMethodRS256, k.rsa, &k.rsa.PublicKey},
		{"RS512", jwt.SigningMethodRS512, k.rsa, k.rsa},
		{"PS256", jwt.SigningMethodPS256, k.rsa, &k.rsa.PublicKey},
		{"ES256", jwt.SigningMethodES256, k.ec256, &k.ec256.PublicKey},
		{"ES384", jwt.SigningMethodES384, k.ec384, &k.ec384.PublicKey},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, k.ed.Public()},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.Key{Algorithm: tt.alg, Material: tt.verify}))
			if err != nil {
				t.Fatal(err)
			}
			tok := mint(t, tokenSpec{Method: tt.method, Key: tt.sign, Claims: jwt.MapClaims{"sub": "bob", "exp": now.Add(time.Hour).Unix()}})
			c, err := v.Validate(context.Background(), tok)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if c.Identity != "bob" || c.Algorithm != tt.alg || c.Type != "at+jwt" || c.ExpiresAt.Unix() != now.Add(time.Hour).Unix() {
				t.Errorf("claims = %+v", c)
			}
			// One flipped signature byte fails as a bad signature.
			parts := strings.Split(tok, ".")
			sig := []byte(parts[2])
			if sig[3] == 'A' {
				sig[3] = 'B'
			} else {
				sig[3] = 'A'
			}
			_, err = v.Validate(context.Background(), parts[0]+"."+parts[1]+"."+string(sig))
			if connectjwt.ReasonOf(err) != connectjwt.ReasonInvalidSignature || !errors.Is(err, connectjwt.ErrInvalidSignature) {
				t.Errorf("tampered signature: %v (%v)", err, connectjwt.ReasonOf(err))
			}
		})
	}
}

// Tokens that must not verify with a given configuration: algorithm
// confusion and disallowed algorithms.
func TestAlgorithmConfusion(t *testing.T) {
	k := testKeys()
	now := time.Now()
	claims := jwt.MapClaims{"sub": "bob", "exp": now.Add(time.Hour).Unix()}
	pemBytes := publicPEM(t, &k.rsa.PublicKey)
	hsKey := connectjwt.WithKey(connectjwt.HMACKey(k.hs256))
	rsKey := connectjwt.WithKey(connectjwt.Key{Algorithm: "RS256", Material: &k.rsa.PublicKey})
	esKey := connectjwt.WithKey(connectjwt.Key{Algorithm: "ES256", Material: &k.ec256.PublicKey})
	tests := []struct {
		name   string
		opts   []connectjwt.ValidatorOption
		token  string
		reason connectjwt.Reason
	}{
		{"HS512 MAC with the HS256 secret", []connectjwt.ValidatorOption{hsKey}, mint(t, tokenSpec{Method: jwt.SigningMethodHS512, Key: k.hs256, Claims: claims}), connectjwt.ReasonInvalidAlgorithm},
		{"HS384 MAC with the HS256 secret", []connectjwt.ValidatorOption{hsKey}, mint(t, tokenSpec{Method: jwt.SigningMethodHS384, Key: k.hs256, Claims: claims}), connectjwt.ReasonInvalidAlgorithm},
		{"alg none", []connectjwt.ValidatorOption{hsKey}, mint(t, tokenSpec{Method: jwt.SigningMethodNone, Key: jwt.UnsafeAllowNoneSignatureType, Claims: claims}), connectjwt.ReasonInvalidAlgorithm},
		{"alg none with signature", []connectjwt.ValidatorOption{hsKey}, mint(t, tokenSpec{RawHeader: fmt.Sprintf(`{"alg":%q,"typ":"at+jwt"}`, "none"), Claims: claims}), connectjwt.ReasonInvalidAlgorithm},
		{"alg NONE", []connectjwt.ValidatorOption{hsKey}, mint(t, tokenSpec{RawHeader: fmt.Sprintf(`{"alg":%q,"typ":"at+jwt"}`, "NONE"), Claims: claims}), connectjwt.ReasonInvalidAlgorithm},
		{"alg hs256 lower case", []connectjwt.ValidatorOption{hsKey}, mint(t, tokenSpec{RawHeader: fmt.Sprintf(`{"alg":%q,"typ":"at+jwt"}`, "hs256"), Claims: claims}), connectjwt.ReasonInvalidAlgorithm},
		{"RSA public key PEM as HMAC secret, RS256 only", []connectjwt.ValidatorOption{rsKey}, mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: pemBytes, Claims: claims}), connectjwt.ReasonInvalidAlgorithm},
		{"RSA public key PEM as HMAC secret, HS256 and RS256", []connectjwt.ValidatorOption{hsKey, rsKey}, mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: pemBytes, Claims: claims}), connectjwt.ReasonInvalidSignature},
		{"RSA DER as HMAC secret", []connectjwt.ValidatorOption{hsKey, rsKey}, mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey), Claims: claims}), connectjwt.ReasonInvalidSignature},
		{"PS256 token with RS256 key", []connectjwt.ValidatorOption{rsKey}, mint(t, tokenSpec{Method: jwt.SigningMethodPS256, Key: k.rsa, Claims: claims}), connectjwt.ReasonInvalidAlgorithm},
		{"ES384 token with ES256 key", []connectjwt.ValidatorOption{esKey}, mint(t, tokenSpec{Method: jwt.SigningMethodES384, Key: k.ec384, Claims: claims}), connectjwt.ReasonInvalidAlgorithm},
		{"ES256 token from another key", []connectjwt.ValidatorOption{esKey}, mint(t, tokenSpec{Method: jwt.SigningMethodES256, Key: mustEC(t), Claims: claims}), connectjwt.ReasonInvalidSignature},
		{"unknown kid", []connectjwt.ValidatorOption{hsKey}, mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: k.hs256, Claims: claims, Header: map[string]any{"kid": "other"}}), connectjwt.ReasonInvalidSignature},
		{"WithAlgorithms excludes", []connectjwt.ValidatorOption{hsKey, rsKey, connectjwt.WithAlgorithms("RS256", "HS256")}, mint(t, tokenSpec{Method: jwt.SigningMethodES256, Key: k.ec256, Claims: claims}), connectjwt.ReasonInvalidAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := connectjwt.NewValidator(tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Validate(context.Background(), tt.token)
			if err == nil || c != nil {
				t.Fatalf("token accepted: %+v", c)
			}
			if got := connectjwt.ReasonOf(err); got != tt.reason {
				t.Errorf("reason = %v, want %v (%v)", got, tt.reason, err)
			}
			var f *connectjwt.Failure
			if !errors.As(err, &f) || f.Claims != nil {
				t.Errorf("failure %#v carries claims of an unverified token", f)
			}
		})
	}
}

func mustEC(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(testKeys().ec256.Curve, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// TestClaimsAndEncoding checks how hand-built tokens (all correctly MAC'd
// with the HS256 secret) are classified, with a fixed clock.
func TestClaimsAndEncoding(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	n := now.Unix()
	secret := testKeys().hs256
	const hdr = `{"alg":"HS256","typ":"at+jwt"}`
	raw := func(header, payload string) string {
		return mint(t, tokenSpec{Key: secret, RawHeader: header, RawPayload: payload})
	}
	pl := func(extra string) string {
		return fmt.Sprintf(`{"sub":"alice","exp":%d%s}`, n+60, extra)
	}
	// Non-canonical base64url: change the last character so that only the
	// unused trailing bits differ. The decoded bytes are the same.
	nonCanonical := func(seg string) string {
		last := seg[len(seg)-1]
		alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, last)
		out := seg[:len(seg)-1] + string(alphabet[i|1])
		if out == seg {
			t.Fatalf("segment %q has no unused bits", seg)
		}
		return out
	}
	hSeg := b64([]byte(hdr))
	// Pad the payload so its encoding has unused trailing bits.
	payload := pl(``)
	for len(payload)%3 == 0 {
		payload = strings.Replace(payload, `{`, `{ `, 1)
	}
	pSeg := b64([]byte(payload))
	hdrOdd := `{"alg":"HS256","typ":"at+jwt" }`
	for len(hdrOdd)%3 == 0 {
		hdrOdd = strings.Replace(hdrOdd, `{`, `{ `, 1)
	}
	hOddSeg := b64([]byte(hdrOdd))
	validTok := mint(t, tokenSpec{Key: secret, SigningInput: hSeg + "." + pSeg})
	sig := validTok[strings.LastIndexByte(validTok, '.')+1:]

	type tc struct {
		name    string
		token   string
		opts    []connectjwt.ValidatorOption
		wantErr error // nil: valid
	}
	tests := []tc{
		{name: "valid", token: raw(hdr, pl(``))},
		{name: "valid non-canonical control", token: validTok},
		{name: "duplicate claim", token: raw(hdr, fmt.Sprintf(`{"sub":"alice","exp":%d,"exp":%d}`, n-60, n+60)), wantErr: connectjwt.ErrMalformed},
		{name: "duplicate sub", token: raw(hdr, pl(`,"sub":"mallory"`)), wantErr: connectjwt.ErrMalformed},
		{name: "past exp beside future EXP", token: raw(hdr, fmt.Sprintf(`{"sub":"alice","exp":%d,"EXP":%d}`, n-60, n+60)), wantErr: connectjwt.ErrExpired},
		{name: "email beside Email", token: raw(hdr, pl(`,"email":"a@x.test","Email":"A@x.test"`))},
		{name: "lone high surrogate in sub", token: raw(hdr, fmt.Sprintf(`{"sub":"\ud800","exp":%d}`, n+60)), wantErr: connectjwt.ErrMalformed},
		{name: "lone low surrogate in a value", token: raw(hdr, pl(`,"x":"a\udfffb"`)), wantErr: connectjwt.ErrMalformed},
		{name: "reversed surrogate pair", token: raw(hdr, pl(`,"x":"\udc00\ud800"`)), wantErr: connectjwt.ErrMalformed},
		{name: "surrogate pair", token: raw(hdr, pl(`,"x":"\ud83d\ude00"`))},
		{name: "escaped backslash before u", token: raw(hdr, pl(`,"x":"\\ud800"`))},
		{name: "escaped duplicate name", token: raw(hdr, pl(`,"\u0073ub":"mallory"`)), wantErr: connectjwt.ErrMalformed},
		{name: "duplicate header member", token: raw(`{"alg":"HS256","typ":"at+jwt","typ":"refresh+jwt"}`, pl(``)), wantErr: connectjwt.ErrMalformed},
		{name: "ALG beside alg in header", token: raw(`{"alg":"HS256","ALG":"none","typ":"at+jwt"}`, pl(``))},
		{name: "only EXP upper case", token: raw(hdr, fmt.Sprintf(`{"sub":"alice","EXP":%d}`, n+60)), wantErr: connectjwt.ErrInvalidClaims},
		{name: "exp as string", token: raw(hdr, fmt.Sprintf(`{"sub":"alice","exp":"%d"}`, n+60)), wantErr: connectjwt.ErrInvalidClaims},
		{name: "exp null", token: raw(hdr, `{"sub":"alice","exp":null}`), wantErr: connectjwt.ErrInvalidClaims},
		{name: "exp missing", token: raw(hdr, `{"sub":"alice"}`), wantErr: connectjwt.ErrInvalidClaims},
		{name: "exp 1e19", token: raw(hdr, `{"sub":"alice","exp":1e19}`), wantErr: connectjwt.ErrInvalidClaims},
		{name: "exp negative", token: raw(hdr, `{"sub":"alice","exp":-1}`), wantErr: connectjwt.ErrInvalidClaims},
		{name: "exp zero", token: raw(hdr, `{"sub":"alice","exp":0}`), wantErr: connectjwt.ErrExpired},
		{name: "exp fractional", token: raw(hdr, fmt.Sprintf(`{"sub":"alice","exp":%d.5}`, n))},
		{name: "nbf 1e19", token: raw(hdr, pl(`,"nbf":1e19`)), wantErr: connectjwt.ErrInvalidClaims},
		{name: "nbf in future", token: raw(hdr, pl(fmt.Sprintf(`,"nbf":%d`, n+30))), wantErr: connectjwt.ErrNotYetValid},
		{name: "nbf now", token: raw(hdr, pl(fmt.Sprintf(`,"nbf":%d`, n)))},
		{name: "iat in future", token: raw(hdr, pl(fmt.Sprintf(`,"iat":%d`, n+30))), wantErr: connectjwt.ErrNotYetValid},
		{name: "iat as string", token: raw(hdr, pl(`,"iat":"now"`)), wantErr: connectjwt.ErrInvalidClaims},
		{name: "aud but none configured", token: raw(hdr, pl(`,"aud":"api"`)), wantErr: connectjwt.ErrInvalidClaims},
		{name: "aud empty array, none configured", token: raw(hdr, pl(`,"aud":[]`))},
		{name: "aud as number", token: raw(hdr, pl(`,"aud":1`)), opts: []connectjwt.ValidatorOption{connectjwt.WithAudience("api")}, wantErr: connectjwt.ErrInvalidClaims},
		{name: "aud array match", token: raw(hdr, pl(`,"aud":["x","api"]`)), opts: []connectjwt.ValidatorOption{connectjwt.WithAudience("api")}},
		{name: "iss wrong", token: raw(hdr, pl(`,"iss":"evil"`)), opts: []connectjwt.ValidatorOption{connectjwt.WithIssuer("good")}, wantErr: connectjwt.ErrInvalidClaims},
		{name: "iss as number", token: raw(hdr, pl(`,"iss":1`)), wantErr: connectjwt.ErrInvalidClaims},
		{name: "sub a number", token: raw(hdr, fmt.Sprintf(`{"sub":42,"exp":%d}`, n+60)), wantErr: connectjwt.ErrInvalidClaims},
		{name: "sub an object", token: raw(hdr, fmt.Sprintf(`{"sub":{"id":"alice"},"exp":%d}`, n+60)), wantErr: connectjwt.ErrInvalidClaims},
		{name: "sub empty", token: raw(hdr, fmt.Sprintf(`{"sub":"","exp":%d}`, n+60)), wantErr: connectjwt.ErrInvalidClaims},
		{name: "fresh not a boolean", token: raw(hdr, pl(`,"fresh":"yes"`)), wantErr: connectjwt.ErrInvalidClaims},
		{name: "payload is an array", token: raw(hdr, `["sub","alice"]`), wantErr: connectjwt.ErrMalformed},
		{name: "payload trailing garbage", token: raw(hdr, pl(``)+`x`), wantErr: connectjwt.ErrMalformed},
		{name: "crit header", token: raw(`{"alg":"HS256","typ":"at+jwt","crit":["exp"],"exp":1}`, pl(``)), wantErr: connectjwt.ErrMalformed},
		{name: "crit empty", token: raw(`{"alg":"HS256","typ":"at+jwt","crit":[]}`, pl(``)), wantErr: connectjwt.ErrMalformed},
		{name: "cty JWT", token: raw(`{"alg":"HS256","typ":"at+jwt","cty":"JWT"}`, pl(``)), wantErr: connectjwt.ErrMalformed},
		{name: "cty application/jwt", token: raw(`{"alg":"HS256","typ":"at+jwt","cty":"application/jwt"}`, pl(``)), wantErr: connectjwt.ErrMalformed},
		{name: "alg missing", token: raw(`{"typ":"at+jwt"}`, pl(``)), wantErr: connectjwt.ErrMalformed},
		{name: "alg not a string", token: raw(`{"alg":["HS256"],"typ":"at+jwt"}`, pl(``)), wantErr: connectjwt.ErrMalformed},
		{name: "typ refresh", token: raw(`{"alg":"HS256","typ":"refresh+jwt"}`, pl(``)), wantErr: connectjwt.ErrWrongTokenType},
		{name: "non-canonical signature", token: mint(t, tokenSpec{Key: secret, SigningInput: hSeg + "." + pSeg})[:len(validTok)-len(sig)] + nonCanonical(sig), wantErr: connectjwt.ErrMalformed},
		{name: "non-canonical payload", token: mint(t, tokenSpec{Key: secret, SigningInput: hSeg + "." + nonCanonical(pSeg)}), wantErr: connectjwt.ErrMalformed},
		{name: "non-canonical header", token: mint(t, tokenSpec{Key: secret, SigningInput: nonCanonical(hOddSeg) + "." + pSeg}), wantErr: connectjwt.ErrMalformed},
		{name: "invalid UTF-8 in payload", token: raw(hdr, fmt.Sprintf(`{"sub":"al`+"\xff"+`ice","exp":%d}`, n+60)), wantErr: connectjwt.ErrMalformed},
		{name: "invalid UTF-8 in other claim", token: raw(hdr, pl(`,"name":"`+"\xc3\x28"+`"`)), wantErr: connectjwt.ErrMalformed},
		{name: "invalid UTF-8 in header", token: raw(`{"alg":"HS256","typ":"at+jwt","x":"`+"\xff"+`"}`, pl(``)), wantErr: connectjwt.ErrMalformed},
		{name: "header not JSON", token: raw(`alg=HS256`, pl(``)), wantErr: connectjwt.ErrMalformed},
		{name: "custom identity claim", token: raw(hdr, pl(`,"uid":"u-1"`)), opts: []connectjwt.ValidatorOption{connectjwt.WithIdentityClaim("uid")}},
		{name: "custom identity claim missing", token: raw(hdr, pl(``)), opts: []connectjwt.ValidatorOption{connectjwt.WithIdentityClaim("uid")}, wantErr: connectjwt.ErrInvalidClaims},
		{name: "custom identity claim not a string", token: raw(hdr, pl(`,"uid":7`)), opts: []connectjwt.ValidatorOption{connectjwt.WithIdentityClaim("uid")}, wantErr: connectjwt.ErrInvalidClaims},
	}
	// The payload check must not run before the signature check: a forged
	// expired token is a bad signature, not "expired".
	forged := raw(hdr, fmt.Sprintf(`{"sub":"alice","exp":%d}`, n-60))
	forged = forged[:strings.LastIndexByte(forged, '.')+1] + sig
	tests = append(tests, tc{name: "forged expired token", token: forged, wantErr: connectjwt.ErrInvalidSignature})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := append([]connectjwt.ValidatorOption{connectjwt.WithKey(connectjwt.HMACKey(secret)), connectjwt.WithClock(func() time.Time { return now })}, tt.opts...)
			v, err := connectjwt.NewValidator(opts...)
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Validate(context.Background(), tt.token)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if c.Identity == "" {
					t.Fatalf("no identity in %+v", c)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if c != nil {
				t.Errorf("claims returned with an error")
			}
			if want := connectjwt.ReasonOf(tt.wantErr); connectjwt.ReasonOf(err) != want {
				t.Errorf("ReasonOf = %v, want %v", connectjwt.ReasonOf(err), want)
			}
			for part := range strings.SplitSeq(tt.token, ".") {
				if len(part) > 4 && strings.Contains(err.Error(), part) {
					t.Errorf("error %q leaks the token", err)
				}
			}
		})
	}
}

func TestLeewayBoundaries(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	n := now.Unix()
	const leeway = 30 * time.Second
	tests := []struct {
		name    string
		claims  jwt.MapClaims
		leeway  time.Duration
		wantErr error
	}{
		{"exp now, no leeway", jwt.MapClaims{"exp": n}, 0, connectjwt.ErrExpired},
		{"exp now+1, no leeway", jwt.MapClaims{"exp": n + 1}, 0, nil},
		{"exp now-30 at leeway", jwt.MapClaims{"exp": n - 30}, leeway, connectjwt.ErrExpired},
		{"exp now-29 within leeway", jwt.MapClaims{"exp": n - 29}, leeway, nil},
		{"exp now-31 beyond leeway", jwt.MapClaims{"exp": n - 31}, leeway, connectjwt.ErrExpired},
		{"nbf now+1, no leeway", jwt.MapClaims{"exp": n + 60, "nbf": n + 1}, 0, connectjwt.ErrNotYetValid},
		{"nbf now+30 at leeway", jwt.MapClaims{"exp": n + 60, "nbf": n + 30}, leeway, nil},
		{"nbf now+31 beyond leeway", jwt.MapClaims{"exp": n + 60, "nbf": n + 31}, leeway, connectjwt.ErrNotYetValid},
		{"iat now+30 at leeway", jwt.MapClaims{"exp": n + 60, "iat": n + 30}, leeway, nil},
		{"iat now+31 beyond leeway", jwt.MapClaims{"exp": n + 60, "iat": n + 31}, leeway, connectjwt.ErrNotYetValid},
		{"iat now, no leeway", jwt.MapClaims{"exp": n + 60, "iat": n}, 0, nil},
		{"iat now+1, no leeway", jwt.MapClaims{"exp": n + 60, "iat": n + 1}, 0, connectjwt.ErrNotYetValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.claims["sub"] = "alice"
			tok := mint(t, tokenSpec{Claims: tt.claims})
			v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)),
				connectjwt.WithClock(func() time.Time { return now }), connectjwt.WithLeeway(tt.leeway))
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Validate(context.Background(), tok)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			// Time failures are only reported for verified tokens, which
			// therefore carry their claims.
			var f *connectjwt.Failure
			if !errors.As(err, &f) || f.Claims == nil || f.Claims.Identity != "alice" {
				t.Errorf("failure %+v has no verified claims", f)
			}
		})
	}
}

func TestValidateRefreshAndTypes(t *testing.T) {
	now := time.Now()
	claims := jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)))
	if err != nil {
		t.Fatal(err)
	}
	access := mint(t, tokenSpec{Claims: claims})
	refresh := mint(t, tokenSpec{Claims: claims, Header: map[string]any{"typ": "refresh+jwt"}})
	if _, err := v.Validate(context.Background(), refresh); !errors.Is(err, connectjwt.ErrWrongTokenType) {
		t.Errorf("refresh as access: %v", err)
	}
	if _, err := v.ValidateRefresh(context.Background(), access); !errors.Is(err, connectjwt.ErrWrongTokenType) {
		t.Errorf("access as refresh: %v", err)
	}
	if c, err := v.ValidateRefresh(context.Background(), refresh); err != nil || c.Identity != "alice" {
		t.Errorf("refresh: %v", err)
	}
	if _, err := v.Validate(context.Background(), ""); !errors.Is(err, connectjwt.ErrMissing) {
		t.Errorf("empty token: %v", err)
	}
	var zero *connectjwt.Validator
	if _, err := zero.Validate(context.Background(), access); err == nil {
		t.Errorf("nil validator accepted a token")
	}
	if _, err := (&connectjwt.Validator{}).Validate(context.Background(), access); err == nil {
		t.Errorf("zero validator accepted a token")
	}
}

// Failure.Cause keeps the blocklist's error for logging (documented on
// Failure.Cause), while the message stays generic.
func TestBlocklistErrorCause(t *testing.T) {
	storeErr := errors.New("redis: connection refused")
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)),
		connectjwt.WithRevocationStore(connectjwt.RevokedFunc(func(context.Context, *connectjwt.Claims) (bool, error) {
			return false, storeErr
		})))
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Validate(context.Background(), mint(t, tokenSpec{Claims: jwt.MapClaims{"sub": "a", "exp": time.Now().Add(time.Hour).Unix()}}))
	if !errors.Is(err, connectjwt.ErrUnavailable) || connectjwt.ReasonOf(err) != connectjwt.ReasonUnavailable {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "redis") {
		t.Errorf("message leaks the store error: %v", err)
	}
	var f *connectjwt.Failure
	if !errors.As(err, &f) || !errors.Is(f.Cause, storeErr) {
		t.Errorf("Failure.Cause = %v, want the blocklist's error", f.Cause)
	}
}

// Every candidate key is tried, for RSA too (golang-jwt reports an RSA
// mismatch as rsa.ErrVerification, not ErrSignatureInvalid).
func TestVerifyTriesEveryCandidateKey(t *testing.T) {
	k1, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{"shared", ""} {
		t.Run("kid="+kid, func(t *testing.T) {
			keys := []connectjwt.Option{
				connectjwt.WithKey(connectjwt.Key{ID: "shared", Algorithm: "RS256", Material: &k1.PublicKey}),
				connectjwt.WithKey(connectjwt.Key{ID: "shared", Algorithm: "RS256", Material: &k2.PublicKey}),
			}
			v, err := connectjwt.NewValidator(connectjwt.WithOptions(keys...))
			if err != nil {
				t.Fatal(err)
			}
			signed := mint(t, tokenSpec{Signer: connectjwt.Key{ID: kid, Algorithm: "RS256", Material: k2},
				Claims: jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}})
			if c, err := v.Validate(context.Background(), signed); err != nil || c.Identity != "alice" {
				t.Errorf("token signed by the second key: %v", err)
			}
		})
	}
}

// Names that differ only in case (also under Unicode folding) are distinct
// claims, with the same answer at every member count (issue 16: it used to
// depend on whether the object had more than 32 members); the validator
// reads only the exact name, and Claims.Decode refuses a struct that would
// see two of them as one field.
func TestCaseDifferingClaimNames(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(secret)))
	if err != nil {
		t.Fatal(err)
	}
	type subOnly struct {
		Sub string `json:"sub"`
		Iss string `json:"iss"`
	}
	type embedded struct{ subOnly }
	type roleOnly struct {
		Role string `json:"role"`
	}
	for _, collide := range []string{"ſub", "SUB", "Sub", "İss"} { // long s, upper case, dotted capital I
		for _, extra := range []int{0, 3, 40} {
			claims := jwt.MapClaims{"sub": "alice", "iss": "https://issuer.test", "role": "user", "exp": time.Now().Add(time.Hour).Unix(), collide: "admin"}
			for i := range extra {
				claims[fmt.Sprintf("extra%02d", i)] = i
			}
			c, err := v.Validate(context.Background(), mint(t, tokenSpec{Key: secret, Claims: claims}))
			if err != nil {
				t.Errorf("%q beside its fold, %d more members: %v", collide, extra, err)
				continue
			}
			if c.Identity != "alice" || c.Issuer != "https://issuer.test" {
				t.Errorf("%q: identity %q, issuer %q", collide, c.Identity, c.Issuer)
			}
			if raw, ok := c.Value(collide); !ok || string(raw) != `"admin"` {
				t.Errorf("Value(%q) = %s, %v", collide, raw, ok)
			}
			var m map[string]any
			if err := c.Decode(&m); err != nil || m[collide] != "admin" || m["sub"] != "alice" {
				t.Errorf("Decode into a map: %v, %v", m, err)
			}
			var r roleOnly
			if err := c.Decode(&r); err != nil || r.Role != "user" {
				t.Errorf("Decode into a struct without the colliding field: %+v, %v", r, err)
			}
			var s subOnly
			if err := c.Decode(&s); err == nil {
				t.Errorf("Decode of %q beside its fold into a struct field succeeded: %+v", collide, s)
			}
			var e embedded
			if err := c.Decode(&e); err == nil {
				t.Errorf("Decode of %q beside its fold into an embedded struct field succeeded: %+v", collide, e)
			}
		}
	}
}
