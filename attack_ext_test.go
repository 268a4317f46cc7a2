package connectjwt_test

// The attack-vector table: every forged, replayed, confused or malformed
// token we know of, sent through the real interceptor (request gate and
// interceptor) over HTTP, each expected to fail with its reason; and valid
// controls of several shapes that must pass. SECURITY.md maps the rules
// (RFC 8725 and those golang-jwt leaves to its caller) to these cases.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

// Key IDs of the attack server's keys.
const (
	atkKidHS = "hs-1"
	atkKidRS = "rs-1"
	atkKidES = "es-1"
	atkKidED = "ed-1"
)

// atkAttacker holds keys the server has never seen.
var atkAttacker = sync.OnceValue(func() struct { //nolint:gochecknoglobals // keys generated once per test binary: RSA generation is too slow to repeat per test
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
} {
	// Key generation from crypto/rand cannot fail (a failing rand.Reader
	// crashes the program since Go 1.24), so the errors are always nil.
	r, _ := rsa.GenerateKey(rand.Reader, 2048)
	e, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return struct {
		rsa *rsa.PrivateKey
		ec  *ecdsa.PrivateKey
	}{r, e}
})

// atkJWK is the public JWK of an RSA key, as an attacker would embed it.
func atkJWK(pub *rsa.PublicKey) map[string]any {
	return map[string]any{
		"kty": "RSA",
		"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}

func atkJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// atkServer names the server configuration a case runs against.
type atkServer int

const (
	atkMain   atkServer = iota // HS256, RS256, ES256, EdDSA keys with kids; issuer and audience
	atkNoAud                   // HS256 key, issuer, no audience configured
	atkLeeway                  // as atkMain's HS256 key, with WithLeeway(30s)
	atkRSOnly                  // RS256 public key only
	atkServers
)

type atkCase struct {
	name   string
	server atkServer
	// values are the Authorization header lines; nil sends none.
	values []string
	// raw, when set, is sent verbatim as the header block of an HTTP/1.1
	// request on a plain TCP connection (for bytes net/http clients refuse
	// to send, such as line breaks).
	raw string
	// want is the expected reason; REASON_UNSPECIFIED means the call must
	// succeed with identity wantID.
	want   connectjwt.Reason
	wantID string
	// rawStatus is the HTTP status expected for a raw case refused by
	// net/http itself before any handler runs (0: refused by connectjwt).
	rawStatus int
}

// atkCases builds the table for a fixed clock now.
func atkCases(tb testing.TB, now time.Time) []atkCase {
	tb.Helper()
	k := testKeys()
	atk := atkAttacker()
	n := now.Unix()
	missing := connectjwt.ReasonMissing
	malformed := connectjwt.ReasonMalformed
	badAlg := connectjwt.ReasonInvalidAlgorithm
	badSig := connectjwt.ReasonInvalidSignature
	badClaims := connectjwt.ReasonInvalidClaims
	wrongType := connectjwt.ReasonWrongTokenType
	expired := connectjwt.ReasonExpired
	notYet := connectjwt.ReasonNotYetValid

	hdr := func(alg, kid string, extra string) string {
		h := fmt.Sprintf(`{"alg":%q,"typ":"at+jwt"`, alg)
		if kid != "" {
			h += fmt.Sprintf(`,"kid":%q`, kid)
		}
		return h + extra + "}"
	}
	// payload: the valid claims plus extra members (raw JSON, leading comma).
	payload := func(extra string) string {
		return fmt.Sprintf(`{"sub":%q,"iss":%q,"aud":%q,"iat":%d,"exp":%d%s}`, testSubject, testIssuer, testAudience, n, n+3600, extra)
	}
	// claims without the registered members named in drop.
	payloadWithout := func(extra string, drop ...string) string {
		m := map[string]any{"sub": testSubject, "iss": testIssuer, "aud": testAudience, "iat": n, "exp": n + 3600}
		for _, d := range drop {
			delete(m, d)
		}
		s := atkJSON(tb, m)
		return s[:len(s)-1] + extra + "}"
	}
	hs := func(header, pl string) string {
		return mint(tb, tokenSpec{Method: jwt.SigningMethodHS256, Key: k.hs256, RawHeader: header, RawPayload: pl})
	}
	hsTok := func(extra string) string { return hs(hdr("HS256", atkKidHS, ""), payload(extra)) }
	bearer := func(tok string) []string { return []string{"Bearer " + tok} }
	valid := hsTok("")
	parts := strings.Split(valid, ".")
	pem := publicPEM(tb, &k.rsa.PublicKey)

	// A payload whose base64url has unused trailing bits, and its
	// non-canonical spelling (same bytes decoded).
	padded := payload("")
	for len(padded)%3 == 0 {
		padded = padded[:len(padded)-1] + ` }`
	}
	pSeg := b64([]byte(padded))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	nonCanon := pSeg[:len(pSeg)-1] + string(alphabet[strings.IndexByte(alphabet, pSeg[len(pSeg)-1])|1])
	hSeg := b64([]byte(hdr("HS256", atkKidHS, "")))
	macSegs := func(h, p string) string {
		sig, err := jwt.SigningMethodHS256.Sign(h+"."+p, k.hs256)
		if err != nil {
			tb.Fatal(err)
		}
		return h + "." + p + "." + b64(sig)
	}
	// A signature segment with unused trailing bits set: HS256 MACs are
	// 32 bytes, 43 characters with 4 unused bits.
	nonCanonSig := func(tok string) string {
		i := strings.LastIndexByte(tok, '.')
		s := tok[i+1:]
		c := alphabet[strings.IndexByte(alphabet, s[len(s)-1])|1]
		if c == s[len(s)-1] {
			c = alphabet[strings.IndexByte(alphabet, s[len(s)-1])&^1]
		}
		return tok[:i+1] + s[:len(s)-1] + string(c)
	}
	big9k := hsTok(`,"pad":"` + strings.Repeat("x", 9000) + `"`)
	justUnder := func() string {
		// A valid token whose header line is at most 8 KiB.
		tok := hsTok(`,"pad":"` + strings.Repeat("x", 5800) + `"`)
		if len("Bearer "+tok) > connectjwt.DefaultMaxTokenBytes {
			tb.Fatalf("large control token is %d bytes", len(tok))
		}
		return tok
	}()
	rawReq := func(authLines string) string {
		return authLines
	}
	jwkHeader := atkJSON(tb, map[string]any{"alg": "RS256", "typ": "at+jwt", "jwk": atkJWK(&atk.rsa.PublicKey)})
	jwkHeaderKid := atkJSON(tb, map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": atkKidRS, "jwk": atkJWK(&atk.rsa.PublicKey)})
	x5c := base64.StdEncoding.EncodeToString(x509PKIX(tb, &atk.rsa.PublicKey))

	return []atkCase{
		// Valid controls.
		{name: "valid HS256 with kid", values: bearer(valid), wantID: testSubject},
		{name: "valid HS256 without kid", values: bearer(hs(hdr("HS256", "", ""), payload(""))), wantID: testSubject},
		{name: "valid RS256", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodRS256, Key: k.rsa, RawHeader: hdr("RS256", atkKidRS, ""), RawPayload: payload("")})), wantID: testSubject},
		{name: "valid RS256 without kid", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodRS256, Key: k.rsa, RawHeader: hdr("RS256", "", ""), RawPayload: payload("")})), wantID: testSubject},
		{name: "valid ES256", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodES256, Key: k.ec256, RawHeader: hdr("ES256", atkKidES, ""), RawPayload: payload("")})), wantID: testSubject},
		{name: "valid EdDSA", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodEdDSA, Key: k.ed, RawHeader: hdr("EdDSA", atkKidED, ""), RawPayload: payload("")})), wantID: testSubject},
		{name: "valid aud array", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"aud":["other",%q]`, testAudience), "aud"))), wantID: testSubject},
		{name: "valid scope string", values: bearer(hsTok(`,"scope":"read write"`)), wantID: testSubject},
		{name: "valid scp array", values: bearer(hsTok(`,"scp":["read","write"]`)), wantID: testSubject},
		{name: "valid custom claims", values: bearer(hsTok(`,"roles":["admin"],"tenant":{"id":7},"name":"Älice ✓"`)), wantID: testSubject},
		{name: "valid typ application/AT+JWT", values: bearer(hs(`{"alg":"HS256","typ":"application/AT+JWT"}`, payload(""))), wantID: testSubject},
		{name: "valid jku ignored on a genuine token", values: bearer(hs(hdr("HS256", atkKidHS, `,"jku":"https://evil.test/jwks.json","x5u":"https://evil.test/cert"`), payload(""))), wantID: testSubject},
		{name: "valid lower-case bearer", values: []string{"bearer " + valid}, wantID: testSubject},
		{name: "valid double space", values: []string{"Bearer  " + valid}, wantID: testSubject},
		{name: "valid exp one second ahead", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"exp":%d`, n+1), "exp"))), wantID: testSubject},
		{name: "valid exp at the largest NumericDate", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"exp":253402300799`, "exp"))), wantID: testSubject},
		{name: "valid nbf now", values: bearer(hsTok(fmt.Sprintf(`,"nbf":%d`, n))), wantID: testSubject},
		{name: "valid token just under 8 KiB", values: bearer(justUnder), wantID: testSubject},
		{name: "valid exp 29s ago within leeway", server: atkLeeway, values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"exp":%d`, n-29), "exp"))), wantID: testSubject},
		{name: "valid nbf 30s ahead within leeway", server: atkLeeway, values: bearer(hsTok(fmt.Sprintf(`,"nbf":%d`, n+30))), wantID: testSubject},
		{name: "valid no aud when none configured", server: atkNoAud, values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout("", "aud"))), wantID: testSubject},
		{name: "valid raw HTTP/1.1 control", raw: rawReq("Authorization: Bearer " + valid + "\r\n"), wantID: testSubject},

		// alg.
		{name: "alg none", values: bearer(parts[0][:0] + b64([]byte(`{"alg":"none","typ":"at+jwt"}`)) + "." + parts[1] + "."), want: badAlg},
		{name: "alg none with HS256 signature", values: bearer(hs(`{"alg":"none","typ":"at+jwt"}`, payload(""))), want: badAlg},
		{name: "alg NONE", values: bearer(b64([]byte(`{"alg":"NONE","typ":"at+jwt"}`)) + "." + parts[1] + "."), want: badAlg},
		{name: "alg nOnE", values: bearer(b64([]byte(`{"alg":"nOnE","typ":"at+jwt"}`)) + "." + parts[1] + "."), want: badAlg},
		{name: "alg empty string", values: bearer(hs(`{"alg":"","typ":"at+jwt"}`, payload(""))), want: malformed},
		{name: "alg hs256 lower case", values: bearer(hs(`{"alg":"hs256","typ":"at+jwt"}`, payload(""))), want: badAlg},
		{name: "alg unlisted PS256", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodPS256, Key: k.rsa, RawHeader: hdr("PS256", atkKidRS, ""), RawPayload: payload("")})), want: badAlg},
		{name: "alg unlisted HS384", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodHS384, Key: k.hs384, RawHeader: hdr("HS384", "", ""), RawPayload: payload("")})), want: badAlg},
		{name: "HS512 MAC'd with the HS256 secret", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodHS512, Key: k.hs256, RawHeader: hdr("HS512", atkKidHS, ""), RawPayload: payload("")})), want: badAlg},
		{name: "HS256 with RSA public key PEM, RS256-only server", server: atkRSOnly, values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodHS256, Key: pem, RawHeader: hdr("HS256", "", ""), RawPayload: payload("")})), want: badAlg},
		{name: "HS256 with RSA public key PEM, no kid", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodHS256, Key: pem, RawHeader: hdr("HS256", "", ""), RawPayload: payload("")})), want: badSig},
		{name: "HS256 with RSA public key PEM, kid of the RSA key", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodHS256, Key: pem, RawHeader: hdr("HS256", atkKidRS, ""), RawPayload: payload("")})), want: badSig},

		// kid.
		{name: "kid unknown", values: bearer(hs(hdr("HS256", "hs-2", ""), payload(""))), want: badSig},
		{name: "kid path traversal", values: bearer(hs(hdr("HS256", "../../../../etc/passwd", ""), payload(""))), want: badSig},
		{name: "kid SQL injection", values: bearer(hs(hdr("HS256", "x' UNION SELECT 'secret", ""), payload(""))), want: badSig},
		{name: "kid huge", values: bearer(hs(hdr("HS256", strings.Repeat("k", 4000), ""), payload(""))), want: malformed},
		{name: "kid not a string", values: bearer(hs(`{"alg":"HS256","typ":"at+jwt","kid":1}`, payload(""))), want: malformed},
		{name: "kid of another algorithm's key", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodRS256, Key: k.rsa, RawHeader: hdr("RS256", atkKidHS, ""), RawPayload: payload("")})), want: badSig},
		{name: "kid of the ES256 key on an EdDSA token", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodEdDSA, Key: k.ed, RawHeader: hdr("EdDSA", atkKidES, ""), RawPayload: payload("")})), want: badSig},

		// Key URLs and embedded keys are never used.
		{name: "jwk attacker key embedded", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodRS256, Key: atk.rsa, RawHeader: jwkHeader, RawPayload: payload("")})), want: badSig},
		{name: "jwk attacker key with our kid", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodRS256, Key: atk.rsa, RawHeader: jwkHeaderKid, RawPayload: payload("")})), want: badSig},
		{name: "jku attacker key set", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodES256, Key: atk.ec, RawHeader: hdr("ES256", "", `,"jku":"https://evil.test/jwks.json"`), RawPayload: payload("")})), want: badSig},
		{name: "x5u attacker certificate", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodRS256, Key: atk.rsa, RawHeader: hdr("RS256", "", `,"x5u":"https://evil.test/cert.pem"`), RawPayload: payload("")})), want: badSig},
		{name: "x5c attacker certificate", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodRS256, Key: atk.rsa, RawHeader: hdr("RS256", "", `,"x5c":["`+x5c+`"]`), RawPayload: payload("")})), want: badSig},
		{name: "signature from another ES256 key", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodES256, Key: atk.ec, RawHeader: hdr("ES256", atkKidES, ""), RawPayload: payload("")})), want: badSig},
		{name: "signature from another HS256 secret", values: bearer(mint(tb, tokenSpec{Method: jwt.SigningMethodHS256, Key: k.otherHS256, RawHeader: hdr("HS256", atkKidHS, ""), RawPayload: payload("")})), want: badSig},
		{name: "signature of another token", values: bearer(swapSignature(hsTok(`,"admin":true`), valid)), want: badSig},
		{name: "empty signature", values: bearer(parts[0] + "." + parts[1] + "."), want: badSig},
		{name: "forged expired token is a bad signature", values: bearer(swapSignature(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"exp":%d`, n-10), "exp")), valid)), want: badSig},

		// Header members we refuse.
		{name: "crit", values: bearer(hs(hdr("HS256", atkKidHS, `,"crit":["exp"],"exp":1`), payload(""))), want: malformed},
		{name: "crit empty", values: bearer(hs(hdr("HS256", atkKidHS, `,"crit":[]`), payload(""))), want: malformed},
		{name: "cty JWT nested token", values: bearer(hs(hdr("HS256", atkKidHS, `,"cty":"JWT"`), payload(""))), want: malformed},
		{name: "cty application/jwt", values: bearer(hs(hdr("HS256", atkKidHS, `,"cty":"application/JWT"`), payload(""))), want: malformed},

		// Encoding.
		{name: "non-canonical base64 payload (trailing bits)", values: bearer(macSegs(hSeg, nonCanon)), want: malformed},
		{name: "non-canonical base64 signature", values: bearer(nonCanonSig(valid)), want: malformed},
		{name: "padding on the signature", values: bearer(valid + "="), want: malformed},
		{name: "padding on the payload", values: bearer(parts[0] + "." + base64.URLEncoding.EncodeToString([]byte(payload(""))) + "." + parts[2]), want: malformed},
		{name: "standard base64 alphabet", values: bearer(strings.NewReplacer("-", "+", "_", "/").Replace(valid) + "+/"), want: malformed},
		{name: "space inside token", values: bearer(parts[0] + ". " + parts[1] + "." + parts[2]), want: malformed},
		{name: "trailing garbage after token", values: bearer(valid + " x"), want: malformed},
		{name: "line break inside (obs-fold, HTTP/1.1)", raw: rawReq("Authorization: Bearer " + parts[0] + ".\r\n " + parts[1] + "." + parts[2] + "\r\n"), want: malformed},
		{name: "bare LF inside (HTTP/1.1)", raw: rawReq("Authorization: Bearer " + parts[0] + ".\n" + parts[1] + "." + parts[2] + "\r\n"), rawStatus: http.StatusBadRequest},
		{name: "invalid UTF-8 in header", values: bearer(hs(hdr("HS256", atkKidHS, `,"x":"`+"\xff\xfe"+`"`), payload(""))), want: malformed},
		{name: "invalid UTF-8 in payload", values: bearer(hsTok(`,"name":"` + "\xc3\x28" + `"`)), want: malformed},
		{name: "invalid UTF-8 in sub", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"sub":"al`+"\xff"+`ice"`, "sub"))), want: malformed},
		{name: "header not JSON", values: bearer(hs(`alg=HS256`, payload(""))), want: malformed},
		{name: "payload trailing garbage", values: bearer(hs(hdr("HS256", atkKidHS, ""), payload("")+"x")), want: malformed},
		{name: "payload JSON array", values: bearer(hs(hdr("HS256", atkKidHS, ""), `["sub","alice"]`)), want: malformed},
		{name: "payload with NaN", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"exp":NaN`, "exp"))), want: malformed},

		// Duplicate names are refused; names differing only in case are
		// other members, and only the exact name counts.
		{name: "duplicate exp", values: bearer(hsTok(fmt.Sprintf(`,"exp":%d`, n-100))), want: malformed},
		{name: "duplicate sub", values: bearer(hsTok(`,"sub":"mallory"`)), want: malformed},
		{name: "past exp beside future EXP", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"exp":%d,"EXP":%d`, n-100, n+100), "exp"))), want: expired},
		{name: "Sub beside sub", values: bearer(hsTok(`,"Sub":"mallory"`)), wantID: testSubject},
		{name: "lone surrogate in sub", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"sub":"\ud800"`, "sub"))), want: malformed},
		{name: "lone low surrogate in a name", values: bearer(hsTok(`,"x\udc00":1`)), want: malformed},
		{name: "escaped duplicate name", values: bearer(hsTok(`,"\u0073ub":"mallory"`)), want: malformed},
		{name: "duplicate alg in header", values: bearer(hs(`{"alg":"HS256","typ":"at+jwt","alg":"none"}`, payload(""))), want: malformed},
		{name: "duplicate typ in header", values: bearer(hs(`{"alg":"HS256","typ":"refresh+jwt","typ":"at+jwt"}`, payload(""))), want: malformed},
		{name: "ALG none beside alg in header", values: bearer(hs(`{"alg":"HS256","ALG":"none","typ":"at+jwt"}`, payload(""))), wantID: testSubject},
		{name: "lone surrogate in kid", values: bearer(hs(`{"alg":"HS256","typ":"at+jwt","kid":"\ud83d"}`, payload(""))), want: malformed},

		// Time claims: types and ranges.
		{name: "missing exp", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout("", "exp"))), want: badClaims},
		{name: "exp null", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"exp":null`, "exp"))), want: badClaims},
		{name: "exp string", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"exp":"%d"`, n+3600), "exp"))), want: badClaims},
		{name: "exp negative", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"exp":-1`, "exp"))), want: badClaims},
		{name: "exp 1e19", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"exp":1e19`, "exp"))), want: badClaims},
		{name: "exp 1e400 (overflows to +Inf)", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"exp":1e400`, "exp"))), want: badClaims},
		{name: "exp past year 9999", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"exp":253402300800`, "exp"))), want: badClaims},
		{name: "exp zero", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"exp":0`, "exp"))), want: expired},
		{name: "nbf boolean", values: bearer(hsTok(`,"nbf":true`)), want: badClaims},
		{name: "nbf 1e19", values: bearer(hsTok(`,"nbf":1e19`)), want: badClaims},
		{name: "iat array", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"iat":[%d]`, n), "iat"))), want: badClaims},
		{name: "iat negative", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"iat":-5`, "iat"))), want: badClaims},
		{name: "iat in the future", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"iat":%d`, n+60), "iat"))), want: notYet},
		{name: "nbf in the future", values: bearer(hsTok(fmt.Sprintf(`,"nbf":%d`, n+60))), want: notYet},
		{name: "exactly at exp", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"exp":%d`, n), "exp"))), want: expired},
		{name: "exp one second ago", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"exp":%d`, n-1), "exp"))), want: expired},
		{name: "exp at leeway edge", server: atkLeeway, values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(fmt.Sprintf(`,"exp":%d`, n-30), "exp"))), want: expired},
		{name: "nbf beyond leeway", server: atkLeeway, values: bearer(hsTok(fmt.Sprintf(`,"nbf":%d`, n+31))), want: notYet},

		// Token type, issuer, audience, identity.
		{name: "refresh token as access token", values: bearer(hs(`{"alg":"HS256","typ":"refresh+jwt"}`, payload(""))), want: wrongType},
		{name: "typ JWT", values: bearer(hs(`{"alg":"HS256","typ":"JWT"}`, payload(""))), want: wrongType},
		{name: "typ missing", values: bearer(hs(`{"alg":"HS256"}`, payload(""))), want: wrongType},
		{name: "wrong issuer", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"iss":"https://evil.test"`, "iss"))), want: badClaims},
		{name: "issuer missing", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout("", "iss"))), want: badClaims},
		{name: "wrong audience", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"aud":"other.test"`, "aud"))), want: badClaims},
		{name: "audience not a string", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"aud":{"x":1}`, "aud"))), want: badClaims},
		{name: "aud present, none configured", server: atkNoAud, values: bearer(valid), want: badClaims},
		{name: "sub a number", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"sub":42`, "sub"))), want: badClaims},
		{name: "sub an array", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"sub":["alice"]`, "sub"))), want: badClaims},
		{name: "sub missing", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout("", "sub"))), want: badClaims},
		{name: "sub empty", values: bearer(hs(hdr("HS256", atkKidHS, ""), payloadWithout(`,"sub":""`, "sub"))), want: badClaims},

		// Size.
		{name: "oversized token (> 8 KiB)", values: bearer(big9k), want: malformed},
		{name: "oversized garbage header (64 KiB)", values: []string{"Bearer " + strings.Repeat("A", 64<<10)}, want: malformed},

		// The Authorization header itself.
		{name: "no header", want: missing},
		{name: "empty header", values: []string{""}, want: missing},
		{name: "two Authorization headers", values: []string{"Bearer " + valid, "Bearer " + valid}, want: malformed},
		{name: "two headers, the first another scheme", values: []string{"Basic YTpi", "Bearer " + valid}, want: malformed},
		{name: "two headers over HTTP/1.1", raw: rawReq("Authorization: Bearer " + valid + "\r\nAuthorization: Bearer " + valid + "\r\n"), want: malformed},
		{name: "Basic scheme", values: []string{"Basic YWxpY2U6cHc="}, want: missing},
		{name: "Token scheme", values: []string{"Token " + valid}, want: missing},
		{name: "scheme glued to token", values: []string{"Bearer" + valid}, want: missing},
		{name: "Bearer alone", values: []string{"Bearer"}, want: malformed},
		{name: "Bearer and spaces only", values: []string{"Bearer    "}, want: malformed},
		{name: "tab separator", values: []string{"Bearer\t" + valid}, want: missing},
		{name: "leading space before scheme (OWS, trimmed on every protocol)", values: []string{" Bearer " + valid}, wantID: testSubject},
		{name: "trailing space after token (OWS, trimmed on every protocol)", values: []string{"Bearer " + valid + " "}, wantID: testSubject},
		{name: "leading and trailing space over HTTP/1.1 (trimmed as OWS)", raw: rawReq("Authorization:   Bearer " + valid + "  \r\n"), wantID: testSubject},
		{name: "bare token without scheme", values: []string{valid}, want: missing},
		{name: "empty header segment", values: bearer("." + parts[1] + "." + parts[2]), want: malformed},
		{name: "empty payload segment", values: bearer(parts[0] + ".." + parts[2]), want: malformed},
		{name: "all segments empty", values: bearer(".."), want: malformed},
		{name: "four segments", values: bearer(valid + ".AAAA"), want: malformed},
		{name: "JWE-shaped five segments", values: bearer(b64([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM"}`)) + ".AAAA.AAAA.AAAA.AAAA"), want: malformed},
		{name: "two segments", values: bearer(parts[0] + "." + parts[1]), want: malformed},
	}
}

// x509PKIX returns the DER SubjectPublicKeyInfo of pub (a stand-in for an
// attacker's certificate in x5c).
func x509PKIX(tb testing.TB, pub any) []byte {
	tb.Helper()
	p := publicPEM(tb, pub)
	s := string(p)
	_, s, _ = strings.Cut(s, "\n")
	s, _, _ = strings.Cut(s, "-----END")
	der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "\n", ""))
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// atkSecrets are strings that must never appear in an error: key material.
func atkSecrets(tb testing.TB) []string {
	tb.Helper()
	k := testKeys()
	pem := string(publicPEM(tb, &k.rsa.PublicKey))
	return []string{
		string(k.hs256), b64(k.hs256), base64.StdEncoding.EncodeToString(k.hs256),
		string(k.otherHS256),
		pem[40:80], // a run of the PEM body
		b64(k.rsa.N.Bytes())[:32],
		b64(k.rsa.D.Bytes())[:32],
	}
}

func TestAttackVectors(t *testing.T) {
	t.Parallel()
	now := time.Unix(time.Now().Unix(), 0)
	cases := atkCases(t, now)
	if len(cases) < 60 {
		t.Fatalf("only %d cases", len(cases))
	}
	seen := map[string]bool{}
	attacks := 0
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		if tc.want != connectjwt.ReasonUnspecified || tc.rawStatus != 0 {
			attacks++
		}
	}
	t.Logf("%d cases, %d attacks", len(cases), attacks)
	servers := atkStartServers(t, now)
	secrets := atkSecrets(t)

	for _, p := range protocols() {
		// Sequential: the handler call counter is per server.
		t.Run(p.name, func(t *testing.T) {
			for _, tc := range cases {
				if tc.raw != "" {
					if p.name != "connect" {
						continue
					}
					t.Run(tc.name, func(t *testing.T) { atkRunRaw(t, servers[tc.server], tc, secrets) })
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					s := servers[tc.server]
					ctx := context.Background()
					if tc.values != nil {
						ctx = withHeaders(ctx, http.Header{"Authorization": tc.values})
					}
					before := s.svc.calls.Load()
					ids, err := call(ctx, s.client(p), unary)
					ran := s.svc.calls.Load() - before
					if tc.want == connectjwt.ReasonUnspecified {
						wantIdentities(t, ids, err, tc.wantID)
						return
					}
					ae := wantReason(t, err, connect.CodeUnauthenticated, tc.want)
					if ran != 0 {
						t.Errorf("handler ran %d times for a refused call", ran)
					}
					var ce *connect.Error
					errors.As(err, &ce)
					texts := []string{err.Error(), ae.GetMessage()}
					for _, vs := range ce.Meta() {
						texts = append(texts, vs...)
					}
					atkNoLeak(t, texts, tc.values, secrets)
					// Attack failures before the signature verified must
					// not carry verified-claim facts.
					unverified := tc.want == connectjwt.ReasonMalformed || tc.want == connectjwt.ReasonInvalidAlgorithm ||
						tc.want == connectjwt.ReasonInvalidSignature || tc.want == connectjwt.ReasonMissing
					if unverified && (ae.GetExpiredAt() != nil || ae.GetNotBefore() != nil) {
						t.Errorf("detail of an unverified token carries times: %v", ae)
					}
				})
			}
		})
	}
}

// atkNoLeak fails when any text contains a piece of the token sent or of
// the key material.
func atkNoLeak(t *testing.T, texts, values, secrets []string) {
	t.Helper()
	for _, text := range texts {
		for _, v := range values {
			tok := strings.TrimSpace(v)
			if i := strings.IndexAny(tok, " \t"); i >= 0 {
				tok = strings.TrimSpace(tok[i+1:])
			}
			for _, part := range strings.FieldsFunc(tok, func(r rune) bool { return r == '.' || r == ' ' }) {
				if len(part) >= 12 && strings.Contains(text, part) {
					t.Errorf("error text %q contains a piece of the token", text)
				}
				if len(part) > 40 && strings.Contains(text, part[len(part)/2:len(part)/2+16]) {
					t.Errorf("error text %q contains a piece of the token", text)
				}
			}
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("error text %q contains key material", text)
			}
		}
		// Values from the token, and the expected values of the
		// configuration, are never named.
		for _, bad := range []string{"etc/passwd", "UNION", "evil.test", "mallory", "other.test", testIssuer, testAudience, "issuer.test", "api.test"} {
			if strings.Contains(text, bad) {
				t.Errorf("error text %q echoes a value from the token", text)
			}
		}
	}
}

// Header values net/http will not carry (line breaks) can still reach a
// Validator used by another transport: they are refused there too, before
// any decoding (golang-jwt's base64 would skip \r and \n).
func TestAttackLineBreaksOutsideHTTP(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)),
		connectjwt.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, tokenSpec{Claims: jwt.MapClaims{"sub": "alice", "exp": now.Add(time.Hour).Unix()}})
	if _, err := v.Validate(context.Background(), tok); err != nil {
		t.Fatalf("control: %v", err)
	}
	i := strings.IndexByte(tok, '.') + 5
	for name, bad := range map[string]string{
		"LF":       tok[:i] + "\n" + tok[i:],
		"CRLF":     tok[:i] + "\r\n" + tok[i:],
		"CR":       tok[:i] + "\r" + tok[i:],
		"NUL":      tok[:i] + "\x00" + tok[i:],
		"trailing": tok + "\n",
		"leading":  "\n" + tok,
	} {
		if _, err := v.Validate(context.Background(), bad); connectjwt.ReasonOf(err) != connectjwt.ReasonMalformed {
			t.Errorf("Validate with %s: %v", name, err)
		}
		h := http.Header{"Authorization": {"Bearer " + bad}}
		if _, err := v.ValidateHeader(context.Background(), h); connectjwt.ReasonOf(err) != connectjwt.ReasonMalformed {
			t.Errorf("ValidateHeader with %s: %v", name, err)
		}
	}
}

// A token that fails several checks is classified by the first one in the
// documented order (validator.go): header, JOSE header, alg, signature, typ,
// payload, claims, time.
func TestAttackCheckOrder(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	n := now.Unix()
	k := testKeys()
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(k.hs256)), connectjwt.WithIssuer(testIssuer),
		connectjwt.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	hs := func(h, p string) string {
		return mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: k.hs256, RawHeader: h, RawPayload: p})
	}
	other := func(h, p string) string {
		return mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: k.otherHS256, RawHeader: h, RawPayload: p})
	}
	expiredWrongIss := fmt.Sprintf(`{"sub":"a","iss":"evil","exp":%d}`, n-10)
	tests := []struct {
		name  string
		token string
		want  connectjwt.Reason
	}{
		{"crit beats bad alg", hs(`{"alg":"none","crit":["x"]}`, expiredWrongIss), connectjwt.ReasonMalformed},
		{"bad alg beats bad signature", other(`{"alg":"HS512","typ":"at+jwt"}`, expiredWrongIss), connectjwt.ReasonInvalidAlgorithm},
		{"bad signature beats wrong typ", other(`{"alg":"HS256","typ":"refresh+jwt"}`, expiredWrongIss), connectjwt.ReasonInvalidSignature},
		{"bad signature beats malformed payload", other(`{"alg":"HS256","typ":"at+jwt"}`, `{"sub":"a","sub":"b"}`), connectjwt.ReasonInvalidSignature},
		{"wrong typ beats malformed payload", hs(`{"alg":"HS256","typ":"refresh+jwt"}`, `{"sub":"a","sub":"b"}`), connectjwt.ReasonWrongTokenType},
		{"malformed payload beats claims", hs(`{"alg":"HS256","typ":"at+jwt"}`, `{"sub":1,"sub":2}`), connectjwt.ReasonMalformed},
		{"claims beat expiry", hs(`{"alg":"HS256","typ":"at+jwt"}`, expiredWrongIss), connectjwt.ReasonInvalidClaims},
		{"expiry beats nbf", hs(`{"alg":"HS256","typ":"at+jwt"}`, fmt.Sprintf(`{"sub":"a","iss":%q,"exp":%d,"nbf":%d}`, testIssuer, n-10, n+10)), connectjwt.ReasonExpired},
	}
	for _, tt := range tests {
		_, err := v.Validate(context.Background(), tt.token)
		if got := connectjwt.ReasonOf(err); got != tt.want {
			t.Errorf("%s: reason %v, want %v (%v)", tt.name, got, tt.want, err)
		}
	}
}

// ECDSA signatures are malleable: (r, n-s) verifies as well as (r, s), so an
// ES256 token has two valid spellings (RFC 7518 does not require low-s, and
// other issuers produce either). SECURITY.md documents that both spellings
// verify with the same claims and that a deny-list must key on jti, as the
// library's RevocationStore does: revoking the jti refuses both spellings.
func TestAttackECDSAMalleabilityDenyListKeyedOnJTI(t *testing.T) {
	t.Parallel()
	k := testKeys()
	now := time.Now()
	store := connectjwt.NewMemoryStore()
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.Key{Algorithm: "ES256", Material: &k.ec256.PublicKey}),
		connectjwt.WithRevocationStore(store))
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, tokenSpec{Method: jwt.SigningMethodES256, Key: k.ec256, Claims: jwt.MapClaims{"sub": "alice", "jti": "j-1", "exp": now.Add(time.Hour).Unix()}})
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %v", err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	twin := make([]byte, 64)
	copy(twin, sig[:32])
	s.FillBytes(twin[32:])
	other := tok[:i+1] + b64(twin)
	if other == tok {
		t.Fatal("the twin is the same spelling")
	}
	c1, err := v.Validate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	// Documented: the twin verifies too, with the same claims.
	c2, err := v.Validate(context.Background(), other)
	if err != nil {
		t.Fatalf("the high-s twin was refused (%v): SECURITY.md says both spellings verify", err)
	}
	if c2.ID != c1.ID || c2.Identity != c1.Identity || !c2.ExpiresAt.Equal(c1.ExpiresAt) {
		t.Fatalf("the twin spelling verified with other claims")
	}
	// Revoking the token (by its jti, through its claims) refuses both
	// spellings.
	if err := store.RevokeToken(context.Background(), c1); err != nil {
		t.Fatal(err)
	}
	for name, tk := range map[string]string{"original": tok, "twin": other} {
		if _, err := v.Validate(context.Background(), tk); connectjwt.ReasonOf(err) != connectjwt.ReasonRevoked {
			t.Errorf("%s spelling after revoking its jti: %v, want REASON_REVOKED", name, err)
		}
	}
}

// Every case of the table also holds for a request that went straight to
// the Validator (no HTTP), where the header parsing is the library's only
// defence.
func TestAttackVectorsDirect(t *testing.T) {
	t.Parallel()
	now := time.Unix(time.Now().Unix(), 0)
	var vs [atkServers]*connectjwt.Validator
	for i, opts := range atkConfigs(now) {
		v, err := connectjwt.NewValidator(opts...)
		if err != nil {
			t.Fatal(err)
		}
		vs[i] = v
	}
	for _, tc := range atkCases(t, now) {
		if tc.raw != "" {
			continue
		}
		h := http.Header{}
		if tc.values != nil {
			h["Authorization"] = tc.values
		}
		c, err := vs[tc.server].ValidateHeader(context.Background(), h)
		if tc.want == connectjwt.ReasonUnspecified {
			if err != nil || c.Identity != tc.wantID {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var f *connectjwt.Failure
		if !errors.As(err, &f) || f.Reason != tc.want || c != nil {
			t.Errorf("%s: got %v (%v), want %v", tc.name, connectjwt.ReasonOf(err), err, tc.want)
		}
	}
}

// Exemptions match procedures by exact name: making Protected public does
// not exempt ProtectedStream (a prefix), and the interceptor, installed with
// HandlerOption first, runs before every other interceptor, which never
// sees an unauthenticated call.
func TestAttackExemptionsAndOrder(t *testing.T) {
	t.Parallel()
	counting := &atkCountingInterceptor{}
	inner := &counting.unauthenticated
	ic := newInterceptor(t, connectjwt.WithPublicProcedures(examplev1connect.ProtectedServiceProtectedProcedure))
	svc := &testService{}
	path, h := examplev1connect.NewProtectedServiceHandler(svc, ic.HandlerOption(), connect.WithInterceptors(counting))
	mux := http.NewServeMux()
	mux.Handle(path, h)
	s := serveOn(t, mux)
	for _, p := range protocols() {
		c := examplev1connect.NewProtectedServiceClient(s.http, s.URL, p.opts...)
		// The public procedure needs nothing.
		if ids, err := call(context.Background(), c, unary); err != nil || ids[0] != anonymous {
			t.Errorf("%s: public procedure: %v %v", p.name, ids, err)
		}
		// Its prefix-sharing neighbour still needs a token.
		for _, sh := range []shape{serverStream, clientStream, bidiStream} {
			_, err := call(context.Background(), c, sh)
			wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonMissing)
			_, err = call(withBearer(context.Background(), "a.b.c"), c, sh)
			wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonMalformed)
		}
	}
	// Case and path variants of the public procedure are not it (the
	// router does not serve them, and nothing is exempted by prefix).
	for _, path := range []string{"/example.v1.ProtectedService/protected", "/example.v1.protectedservice/Protected", "/example.v1.ProtectedService/Protected/x", "/example.v1.ProtectedService/ProtectedX"} {
		res, err := send(s.http, http.MethodPost, s.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Errorf("%s answered 200", path)
		}
	}
	if n := inner.Load(); n != 0 {
		t.Errorf("an inner interceptor saw %d unauthenticated calls", n)
	}
	if n := svc.anonCalls.Load(); n != 3 {
		t.Errorf("handler ran %d anonymous calls, want 3 (the public one, per protocol)", n)
	}
}

// atkCountingInterceptor counts calls that reach it without claims, on
// every procedure but the public one.
type atkCountingInterceptor struct{ unauthenticated atomic.Int64 }

func (c *atkCountingInterceptor) check(ctx context.Context, procedure string) {
	if _, ok := connectjwt.ClaimsFromContext(ctx); !ok && procedure != examplev1connect.ProtectedServiceProtectedProcedure {
		c.unauthenticated.Add(1)
	}
}

func (c *atkCountingInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		c.check(ctx, req.Spec().Procedure)
		return next(ctx, req)
	}
}

func (c *atkCountingInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (c *atkCountingInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		c.check(ctx, conn.Spec().Procedure)
		return next(ctx, conn)
	}
}
