package connectjwt

// Fuzz targets for the two places untrusted bytes enter: the Authorization
// header (FuzzTokenFromHeader) and the token (FuzzValidate, through the
// exported Validator), plus FuzzValidateSigned, which signs arbitrary header
// and payload JSON so the fuzzer explores everything behind the signature
// check. Seed corpora are committed under testdata/fuzz/<FuzzName>/.
//
// CI runs each briefly:
//
//	go test -run '^$' -fuzz '^FuzzTokenFromHeader$' -fuzztime 20s .
//	go test -run '^$' -fuzz '^FuzzValidate$' -fuzztime 20s .
//	go test -run '^$' -fuzz '^FuzzValidateSigned$' -fuzztime 20s .

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// The fuzz fixture: fixed keys and a fixed clock, so every valid token is
// deterministic (HS256 and Ed25519 signatures are) and the seed corpus
// stays valid forever.
const (
	fuzzIssuer   = "https://issuer.fuzz"
	fuzzAudience = "api.fuzz"
)

func fuzzNow() time.Time {
	return time.Unix(1_700_000_000, 0)
}

func fuzzSecret() []byte {
	return []byte("fuzz-secret-fuzz-secret-fuzz-sec") // 32 bytes
}

func fuzzEdSeed() []byte {
	return bytes.Repeat([]byte{7}, ed25519.SeedSize)
}

type fuzzFixture struct {
	v      *Validator
	valid  []string // the only tokens that may be accepted
	tokens map[string]bool
	// signed are all the tokens we signed: the valid ones plus an expired,
	// a not-yet-valid and a refresh token. Only these can fail after the
	// signature check.
	signed  map[string]bool
	invalid []string // signed but refused
}

var fuzzSetup = sync.OnceValues(func() (*fuzzFixture, error) { //nolint:gochecknoglobals // built once: every fuzz input runs against the same fixture
	ed := ed25519.NewKeyFromSeed(fuzzEdSeed())
	edPublic := ed25519.PublicKey(ed[ed25519.SeedSize:]) // a private key's second half is its public key
	v, err := NewValidator(
		WithKey(Key{ID: "hs", Algorithm: "HS256", Material: fuzzSecret()}),
		WithKey(Key{ID: "ed", Algorithm: "EdDSA", Material: edPublic}),
		WithIssuer(fuzzIssuer), WithAudience(fuzzAudience),
		WithLeeway(10*time.Second),
		WithClock(fuzzNow),
	)
	if err != nil {
		return nil, err
	}
	fx := &fuzzFixture{v: v, tokens: map[string]bool{}, signed: map[string]bool{}}
	n := fuzzNow().Unix()
	claims := []jwt.MapClaims{
		{"sub": "alice", "iss": fuzzIssuer, "aud": fuzzAudience, "iat": n, "exp": n + 600},
		{"sub": "bob", "iss": fuzzIssuer, "aud": []string{"x", fuzzAudience}, "exp": n + 1, "nbf": n - 5, "scope": "read write", "jti": "j1"},
		{"sub": "carol", "iss": fuzzIssuer, "aud": fuzzAudience, "exp": n - 5, "scp": []string{"a"}, "fresh": true, "custom": map[string]any{"k": []int{1, 2}}},
	}
	for i, c := range claims {
		for _, m := range []struct {
			method jwt.SigningMethod
			key    any
			kid    string
		}{{jwt.SigningMethodHS256, fuzzSecret(), "hs"}, {jwt.SigningMethodEdDSA, ed, "ed"}} {
			tok := jwt.NewWithClaims(m.method, c)
			tok.Header["typ"] = "at+jwt"
			if i != 1 {
				tok.Header["kid"] = m.kid
			}
			s, err := tok.SignedString(m.key)
			if err != nil {
				return nil, err
			}
			fx.valid = append(fx.valid, s)
			fx.tokens[s] = true
			fx.signed[s] = true
		}
	}
	for _, extra := range []struct {
		typ    string
		claims jwt.MapClaims
	}{
		{"at+jwt", jwt.MapClaims{"sub": "dave", "iss": fuzzIssuer, "aud": fuzzAudience, "exp": n - 60}},
		{"at+jwt", jwt.MapClaims{"sub": "erin", "iss": fuzzIssuer, "aud": fuzzAudience, "exp": n + 600, "nbf": n + 60}},
		{"refresh+jwt", jwt.MapClaims{"sub": "frank", "iss": fuzzIssuer, "aud": fuzzAudience, "exp": n + 600}},
		{"at+jwt", jwt.MapClaims{"sub": "gina", "iss": "https://other.fuzz", "aud": fuzzAudience, "exp": n + 600}},
	} {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, extra.claims)
		tok.Header["typ"] = extra.typ
		s, err := tok.SignedString(fuzzSecret())
		if err != nil {
			return nil, err
		}
		fx.signed[s] = true
		fx.invalid = append(fx.invalid, s)
	}
	return fx, nil
})

func fuzzFix(tb testing.TB) *fuzzFixture {
	tb.Helper()
	fx, err := fuzzSetup()
	if err != nil {
		tb.Fatal(err)
	}
	return fx
}

// fuzzReasons are the reasons Validate may return without a blocklist.
func fuzzReasons() map[Reason]error {
	return map[Reason]error{
		ReasonMissing:          ErrMissing,
		ReasonMalformed:        ErrMalformed,
		ReasonInvalidAlgorithm: ErrInvalidAlgorithm,
		ReasonInvalidSignature: ErrInvalidSignature,
		ReasonWrongTokenType:   ErrWrongTokenType,
		ReasonInvalidClaims:    ErrInvalidClaims,
		ReasonExpired:          ErrExpired,
		ReasonNotYetValid:      ErrNotYetValid,
	}
}

// checkFailure checks the contract of every error Validate returns.
func checkFailure(t *testing.T, err error, token string) *Failure {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %T %v is not a *Failure", err, err)
	}
	sentinel, known := fuzzReasons()[f.Reason]
	if !known {
		t.Fatalf("unexpected reason %v (%v)", f.Reason, err)
	}
	if !errors.Is(err, sentinel) || ReasonOf(err) != f.Reason {
		t.Fatalf("reason %v does not match the error %v", f.Reason, err)
	}
	if beforeSignature := f.Reason == ReasonMissing || f.Reason == ReasonMalformed ||
		f.Reason == ReasonInvalidAlgorithm || f.Reason == ReasonInvalidSignature; beforeSignature && f.Claims != nil {
		t.Fatalf("%v failure carries claims", f.Reason)
	}
	msg := err.Error()
	if strings.Contains(msg, string(fuzzSecret())) {
		t.Fatalf("message leaks the secret: %q", msg)
	}
	for part := range strings.SplitSeq(token, ".") {
		if len(part) >= 16 && strings.Contains(msg, part) {
			t.Fatalf("message %q contains a piece of the token", msg)
		}
	}
	if !utf8.ValidString(msg) || len(msg) > 200 {
		t.Fatalf("odd message %q", msg)
	}
	return f
}

// FuzzTokenFromHeader: the header extractor against an independent
// reference, then the whole header path through ValidateHeader.
func FuzzTokenFromHeader(f *testing.F) {
	fx := fuzzFix(f)
	for _, tok := range fx.valid[:2] {
		f.Add("Bearer "+tok, "", uint8(1))
		f.Add("bearer   "+tok, "", uint8(1))
		f.Add("Bearer "+tok, "Bearer "+tok, uint8(2))
		f.Add("Bearer\t"+tok, "", uint8(1))
		f.Add("Basic "+tok, "", uint8(1))
		f.Add("Bearer "+tok+"=", "", uint8(1))
		f.Add("Bearer "+strings.Replace(tok, ".", ".\n", 1), "", uint8(1))
	}
	f.Add("", "", uint8(0))
	f.Add("", "", uint8(1))
	f.Add("Bearer", "", uint8(1))
	f.Add("Bearer ", "", uint8(1))
	f.Add("Bearer a.b.", "", uint8(1))
	f.Add("Bearer a.b.c.d", "", uint8(1))
	f.Add("Bearer .b.c", "", uint8(1))
	f.Add("BEARER a..c", "", uint8(1))
	f.Add("Beärer a.b.c", "", uint8(1))
	f.Add("Bearer "+strings.Repeat("A", 9000)+".B.C", "", uint8(1))

	f.Fuzz(func(t *testing.T, v1, v2 string, lines uint8) {
		const maxBytes = DefaultMaxTokenBytes
		h := http.Header{}
		switch lines % 3 {
		case 1:
			h["Authorization"] = []string{v1}
		case 2:
			h["Authorization"] = []string{v1, v2}
		}
		tok, err := tokenFromHeader(h["Authorization"], "Authorization", "Bearer", maxBytes)
		want, wantErr := referenceTokenFromHeader(h["Authorization"], maxBytes)
		if (err == nil) != (wantErr == nil) || tok != want {
			t.Fatalf("tokenFromHeader(%q) = %q, %v; reference %q, %v", h["Authorization"], tok, err, want, wantErr)
		}
		if err != nil {
			if !errors.Is(err, wantErr) {
				t.Fatalf("tokenFromHeader(%q) = %v, reference %v", h["Authorization"], err, wantErr)
			}
			if len(v1) >= 16 && strings.Contains(err.Error(), v1) {
				t.Fatalf("error %q contains the header value", err)
			}
		} else if !strings.HasSuffix(strings.TrimRight(v1, " \t"), tok) || len(tok) > maxBytes {
			t.Fatalf("token %q is not the end of %q", tok, v1)
		}

		// The whole path: the extractor's failures and tokens of the wrong
		// shape are refused for those reasons; only the exact valid tokens
		// pass.
		if err == nil {
			if compactJWS(tok) != referenceCompactJWS(tok) {
				t.Fatalf("compactJWS(%q) = %v, reference %v", tok, compactJWS(tok), referenceCompactJWS(tok))
			}
			if !referenceCompactJWS(tok) {
				err = ErrMalformed
			}
		}
		c, verr := fx.v.ValidateHeader(context.Background(), h)
		if verr != nil {
			_ = checkFailure(t, verr, v1)
			if err != nil && ReasonOf(verr) != ReasonOf(err) {
				t.Fatalf("ValidateHeader reason %v, want %v", ReasonOf(verr), ReasonOf(err))
			}
			return
		}
		if err != nil || !fx.tokens[tok] || c == nil || c.Identity == "" {
			t.Fatalf("ValidateHeader accepted %q", h["Authorization"])
		}
	})
}

// referenceTokenFromHeader is the documented header grammar written
// independently: exactly one line, at most maxBytes bytes, an empty value or
// another scheme is missing, "Bearer" (ASCII case-insensitive) then one or
// more spaces then the token. It returns the token and, separately, whether
// the token is a compact JWS ([A-Za-z0-9_-], exactly two dots, header and
// payload non-empty), which the validator checks next.
func referenceTokenFromHeader(values []string, maxBytes int) (string, error) {
	if len(values) == 0 {
		return "", ErrMissing
	}
	if len(values) > 1 {
		return "", ErrMalformed
	}
	v := strings.TrimRight(strings.TrimLeft(values[0], " \t"), " \t") // optional whitespace
	if v == "" {
		return "", ErrMissing
	}
	if len(v) > maxBytes {
		return "", ErrMalformed
	}
	if len(v) < 6 || strings.ToLower(v[:6]) != "bearer" || !isASCII(v[:6]) {
		return "", ErrMissing
	}
	rest := v[6:]
	if rest == "" {
		return "", ErrMalformed
	}
	if rest[0] != ' ' {
		return "", ErrMissing
	}
	return strings.TrimLeft(rest, " "), nil
}

// referenceCompactJWS is the compact serialization's shape, written
// independently of compactJWS.
func referenceCompactJWS(tok string) bool {
	segs := strings.Split(tok, ".")
	if len(segs) != 3 || segs[0] == "" || segs[1] == "" {
		return false
	}
	for _, s := range segs {
		for _, r := range s {
			base64url := 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_'
			if !base64url {
				return false
			}
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// FuzzValidate: a mutation of a valid token is accepted only if it is
// byte-identical to a valid token; every error is a *Failure with a known
// reason; the verified-token cache never changes an answer.
func FuzzValidate(f *testing.F) {
	fx := fuzzFix(f)
	for _, tok := range append(append([]string(nil), fx.valid...), fx.invalid...) {
		f.Add(tok)
		f.Add(tok + "=")
		f.Add(strings.ToUpper(tok[:1]) + tok[1:])
		f.Add(tok[:len(tok)-1])
		f.Add(strings.Replace(tok, ".", "..", 1))
	}
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")

	f.Fuzz(func(t *testing.T, token string) {
		ctx := context.Background()
		c, err := fx.v.Validate(ctx, token)
		// Second call: a cache hit (or miss) must give the same answer.
		c2, err2 := fx.v.Validate(ctx, token)
		if (err == nil) != (err2 == nil) || ReasonOf(err) != ReasonOf(err2) {
			t.Fatalf("answers differ: %v / %v", err, err2)
		}
		if err != nil {
			if c != nil || c2 != nil {
				t.Fatal("claims returned with an error")
			}
			fl := checkFailure(t, err, token)
			// These come after the signature check: the token must be one
			// we signed, byte for byte.
			afterSignature := fl.Reason == ReasonWrongTokenType || fl.Reason == ReasonInvalidClaims ||
				fl.Reason == ReasonExpired || fl.Reason == ReasonNotYetValid
			if afterSignature && !fx.signed[token] {
				t.Fatalf("%v reported for a token we never signed: %q", fl.Reason, token)
			}
			if afterSignature && fl.Claims == nil && fl.Reason != ReasonWrongTokenType && fl.Reason != ReasonInvalidClaims {
				t.Fatalf("%v failure without verified claims", fl.Reason)
			}
			return
		}
		if !fx.tokens[token] {
			t.Fatalf("accepted a token that is not byte-identical to a valid one: %q", token)
		}
		if c.Identity == "" || !fuzzNow().Before(c.ExpiresAt.Add(10*time.Second)) {
			t.Fatalf("accepted claims %+v", c)
		}
		if _, err := fx.v.ValidateRefresh(ctx, token); ReasonOf(err) != ReasonWrongTokenType {
			t.Fatalf("access token as refresh token: %v", err)
		}
	})
}

// FuzzValidateSigned signs arbitrary header and payload bytes with the
// HS256 key, so every input passes the signature check and the fuzzer
// explores the JOSE header and claims parsing. An accepted token is checked
// against an independent reading of the rules with encoding/json.
func FuzzValidateSigned(f *testing.F) {
	fx := fuzzFix(f)
	for _, tok := range fx.valid {
		parts := strings.Split(tok, ".")
		h, _ := base64.RawURLEncoding.DecodeString(parts[0])
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		f.Add(h, p)
	}
	hdr := []byte(`{"alg":"HS256","typ":"at+jwt"}`)
	for _, p := range []string{
		`{"sub":"a","iss":"https://issuer.fuzz","aud":"api.fuzz","exp":1700000600,"exp":1}`,
		`{"sub":"a","iss":"https://issuer.fuzz","aud":"api.fuzz","exp":1700000600,"EXP":1}`,
		`{"sub":"a","iss":"https://issuer.fuzz","aud":"api.fuzz","exp":"1700000600"}`,
		`{"sub":"a","iss":"https://issuer.fuzz","aud":"api.fuzz","exp":1e19}`,
		`{"sub":"a","iss":"https://issuer.fuzz","aud":"api.fuzz","exp":1700000600.5,"nbf":1e400}`,
		`{"sub":"a","iss":"https://issuer.fuzz","aud":["api.fuzz"],"exp":1700000600,"iat":[1]}`,
		`{"sub":7,"iss":"https://issuer.fuzz","aud":"api.fuzz","exp":1700000600}`,
		`{"s\u0075b":"a","iss":"https://issuer.fuzz","aud":"api.fuzz","exp":1700000600}`,
		"{\"sub\":\"a\xff\",\"iss\":\"https://issuer.fuzz\",\"aud\":\"api.fuzz\",\"exp\":1700000600}",
		` { "sub" : "a" , "iss" : "https://issuer.fuzz" , "aud" : "api.fuzz" , "exp" : 1700000600 } `,
	} {
		f.Add(hdr, []byte(p))
	}
	for _, h := range []string{
		`{"alg":"HS256","typ":"at+jwt","crit":["x"]}`,
		`{"alg":"HS256","typ":"at+jwt","cty":"JWT"}`,
		`{"alg":"HS256","typ":"AT+JWT","kid":"hs","jku":"https://evil"}`,
		`{"alg":"HS256","typ":"at+jwt","alg":"none"}`,
		`{"alg":"HS256","typ":"refresh+jwt"}`,
		`{"alg":"HS256","typ":"application/at+jwt","kid":"ed"}`,
	} {
		f.Add([]byte(h), []byte(`{"sub":"a","iss":"https://issuer.fuzz","aud":"api.fuzz","exp":1700000600}`))
	}

	f.Fuzz(func(t *testing.T, header, payload []byte) {
		in := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
		sig, err := jwt.SigningMethodHS256.Sign(in, fuzzSecret())
		if err != nil {
			t.Fatal(err)
		}
		token := in + "." + base64.RawURLEncoding.EncodeToString(sig)
		c, err := fx.v.Validate(context.Background(), token)
		if err != nil {
			if c != nil {
				t.Fatal("claims returned with an error")
			}
			_ = checkFailure(t, err, token)
			if ReasonOf(err) == ReasonMalformed && referenceWellFormedToken(token, header, payload) {
				t.Fatalf("well-formed token refused as malformed: %v\nheader %q\npayload %q", err, header, payload)
			}
			return
		}
		// Independent reading of the rules.
		if len(token) > DefaultMaxTokenBytes {
			t.Fatalf("accepted a token of %d bytes", len(token))
		}
		if !referenceWellFormed(header) || !referenceWellFormed(payload) {
			t.Fatalf("accepted malformed JSON\nheader %q\npayload %q", header, payload)
		}
		hd, pl := referenceObject(header), referenceObject(payload)
		if hd["alg"] != "HS256" || !strings.EqualFold(strings.TrimPrefix(strings.ToLower(asString(hd["typ"])), "application/"), "at+jwt") {
			t.Fatalf("accepted header %q", header)
		}
		if _, ok := hd["crit"]; ok {
			t.Fatalf("accepted crit: %q", header)
		}
		if kid, ok := hd["kid"]; ok && kid != "hs" {
			t.Fatalf("accepted kid %v for the HS256 key", kid)
		}
		if strings.EqualFold(strings.TrimPrefix(strings.ToLower(asString(hd["cty"])), "application/"), "jwt") {
			t.Fatalf("accepted a nested token: %q", header)
		}
		sub, ok := pl["sub"].(string)
		if !ok || sub == "" || sub != c.Identity {
			t.Fatalf("accepted sub %#v as identity %q", pl["sub"], c.Identity)
		}
		if pl["iss"] != fuzzIssuer {
			t.Fatalf("accepted iss %#v", pl["iss"])
		}
		if !referenceHasAudience(pl["aud"]) {
			t.Fatalf("accepted aud %#v", pl["aud"])
		}
		exp, ok := referenceNumericDate(pl["exp"])
		if !ok || !(float64(fuzzNow().Unix()) < exp+10) {
			t.Fatalf("accepted exp %#v at %v", pl["exp"], fuzzNow().Unix())
		}
		for _, name := range []string{"nbf", "iat"} {
			if v, present := pl[name]; present {
				d, ok := referenceNumericDate(v)
				if !ok || d > float64(fuzzNow().Unix())+10 {
					t.Fatalf("accepted %s %#v", name, v)
				}
			}
		}
	})
}

func isString(v any) bool { _, ok := v.(string); return ok }

// referenceWellFormedToken: the token would pass every MALFORMED check
// (size, JSON, unique names, header members of the right types, no crit or
// cty), so MALFORMED would be wrong for it.
func referenceWellFormedToken(token string, header, payload []byte) bool {
	if len(token) > DefaultMaxTokenBytes || !referenceWellFormed(header) || !referenceWellFormed(payload) {
		return false
	}
	hd := referenceObject(header)
	if alg, ok := hd["alg"].(string); !ok || alg == "" {
		return false
	}
	for _, name := range []string{"typ", "kid"} {
		if v, present := hd[name]; present && !isString(v) {
			return false
		}
	}
	if len(asString(hd["kid"])) > maxKeyIDLen {
		return false
	}
	_, crit := hd["crit"]
	_, cty := hd["cty"]
	return !crit && !cty
}

func asString(v any) string { s, _ := v.(string); return s }

// referenceWellFormed: valid UTF-8, one JSON object and nothing after it,
// member names unique (compared exactly), no lone surrogate escape.
func referenceWellFormed(b []byte) bool {
	if !utf8.Valid(b) || referenceLoneSurrogate(b) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return false
		}
		name, ok := k.(string)
		if !ok {
			return false
		}
		if seen[name] {
			return false
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return false
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return false
	}
	_, err = dec.Token()
	return err == io.EOF
}

// referenceLoneSurrogate: some \uXXXX escape in b is a UTF-16 surrogate
// that utf16.DecodeRune cannot pair with its neighbour.
func referenceLoneSurrogate(b []byte) bool {
	s := string(b)
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		if i+5 >= len(s) || s[i+1] != 'u' {
			i++
			continue
		}
		r, err := strconv.ParseUint(s[i+2:i+6], 16, 16)
		if err != nil || !utf16.IsSurrogate(rune(r)) {
			i += 5
			continue
		}
		if i+11 >= len(s) || s[i+6:i+8] != `\u` {
			return true
		}
		lo, err := strconv.ParseUint(s[i+8:i+12], 16, 16)
		if err != nil || utf16.DecodeRune(rune(r), rune(lo)) == utf8.RuneError {
			return true
		}
		i += 11
	}
	return false
}

func referenceObject(b []byte) map[string]any {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	_ = dec.Decode(&m)
	return m
}

func referenceHasAudience(v any) bool {
	switch a := v.(type) {
	case string:
		return a == fuzzAudience
	case []any:
		found := false
		for _, x := range a {
			s, ok := x.(string)
			if !ok {
				return false
			}
			found = found || s == fuzzAudience
		}
		return found
	}
	return false
}

// referenceNumericDate: a JSON number in [0, 253402300799].
func referenceNumericDate(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > 253402300799 {
		return 0, false
	}
	return f, true
}
