package connectjwt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

const (
	jwksIssuerA = "https://a.idp.test/"
	jwksIssuerB = "https://b.idp.test/"
	jwksAudA    = "api-a"
	jwksAudB    = "api-b"
)

// jwksKeys are generated once: RSA is slow.
var jwksKeys = sync.OnceValue(func() (k struct { //nolint:gochecknoglobals // keys generated once per test binary: RSA generation is too slow to repeat per test
	rsa           *rsa.PrivateKey
	ec1, ec2, ec3 *ecdsa.PrivateKey
	ed            ed25519.PrivateKey
}) {
	// Key generation from crypto/rand cannot fail (a failing rand.Reader
	// crashes the program since Go 1.24), so the errors are always nil.
	k.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
	for _, p := range []**ecdsa.PrivateKey{&k.ec1, &k.ec2, &k.ec3} {
		*p, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
	return k
})

// jwksServer is a JWK Set endpoint on 127.0.0.1 whose content and health
// the test switches, counting the requests it gets.
type jwksServer struct {
	srv  *httptest.Server
	url  string
	hits atomic.Int32
	mu   sync.Mutex
	body []byte
	mode string // "", "500" or "close"
}

func newJWKSServer(t *testing.T, keys ...connectjwt.Key) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, mode := s.body, s.mode
		s.mu.Unlock()
		switch mode {
		case "500":
			http.Error(w, "down", http.StatusInternalServerError)
		case "close":
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			w.Header().Set("Content-Type", "application/jwk-set+json")
			_, _ = w.Write(body)
		}
	}))
	t.Cleanup(s.srv.Close)
	s.url = s.srv.URL + "/.well-known/jwks.json"
	s.publish(t, keys...)
	return s
}

// publish serves the public keys of keys, as Issuer.JWKSHandler does.
func (s *jwksServer) publish(t *testing.T, keys ...connectjwt.Key) {
	t.Helper()
	body := []byte(`{"keys":[]}`)
	if len(keys) > 0 {
		body = publishedJWKS(t, keys...)
	}
	s.setBody(body)
}

func (s *jwksServer) setBody(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *jwksServer) setMode(mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
}

// publishedJWKS returns what an issuer with keys publishes.
func publishedJWKS(t *testing.T, keys ...connectjwt.Key) []byte {
	t.Helper()
	opts := []connectjwt.Option{}
	for _, k := range keys {
		opts = append(opts, connectjwt.WithKey(k))
	}
	is, err := connectjwt.NewIssuer(connectjwt.WithOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	// A bare request: the handler reads only the method and headers.
	req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/.well-known/jwks.json"}, Header: http.Header{}}
	is.JWKSHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("JWKS handler: %d", rec.Code)
	}
	return rec.Body.Bytes()
}

// fast is a RemoteKeySet tuned for tests.
func fast(iss, url, aud string) connectjwt.RemoteKeySet {
	return connectjwt.RemoteKeySet{
		Issuer: iss, URL: url, Audience: []string{aud},
		MinRefreshInterval: 20 * time.Millisecond,
		MaxWait:            2 * time.Second,
		FetchTimeout:       2 * time.Second,
	}
}

func newRemoteValidator(t *testing.T, sets ...connectjwt.RemoteKeySet) *connectjwt.Validator {
	t.Helper()
	var opts []connectjwt.ValidatorOption
	for _, s := range sets {
		opts = append(opts, connectjwt.WithRemoteKeySet(s))
	}
	v, err := connectjwt.NewValidator(opts...)
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	return v
}

func TestJWKSAlgorithms(t *testing.T) {
	k := jwksKeys()
	for _, key := range []connectjwt.Key{
		{ID: "rsa-1", Algorithm: "RS256", Material: k.rsa},
		{ID: "ps-1", Algorithm: "PS256", Material: k.rsa},
		{ID: "ec-1", Algorithm: "ES256", Material: k.ec1},
		{ID: "ed-1", Algorithm: "EdDSA", Material: k.ed},
	} {
		t.Run(key.Algorithm, func(t *testing.T) {
			ctx := context.Background()
			srv := newJWKSServer(t, key)
			v := newRemoteValidator(t, fast(jwksIssuerA, srv.url, jwksAudA))
			claims, err := v.Validate(ctx, mint(t, tokenSpec{Signer: key, Claims: claimsFor(jwksIssuerA, jwksAudA)}))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if claims.KeyID != key.ID || claims.Algorithm != key.Algorithm || claims.Identity != "alice" {
				t.Errorf("claims = %+v", claims)
			}
			// A token without kid is tried against the keys of its alg.
			signer := key.Material
			noKID := mint(t, tokenSpec{Method: jwt.GetSigningMethod(key.Algorithm), Key: signer, Claims: claimsFor(jwksIssuerA, jwksAudA)})
			if _, err := v.Validate(ctx, noKID); err != nil {
				t.Errorf("token without kid: %v", err)
			}
			// Wrong audience, after the signature verified.
			_, err = v.Validate(ctx, mint(t, tokenSpec{Signer: key, Claims: claimsFor(jwksIssuerA, "other")}))
			wantReason(t, err, fromValidator, connectjwt.ReasonInvalidClaims)
			if n := srv.hits.Load(); n != 1 {
				t.Errorf("%d fetches, want 1", n)
			}
		})
	}
}

// The issuer publishes a new key and signs with it: the first token with the
// new kid triggers one fetch and verifies, concurrent ones share that fetch,
// and old tokens keep verifying while their key is listed.
func TestJWKSRotation(t *testing.T) {
	ctx := context.Background()
	k := jwksKeys()
	oldKey := connectjwt.Key{ID: "2025", Algorithm: "ES256", Material: k.ec1}
	newKey := connectjwt.Key{ID: "2026", Algorithm: "EdDSA", Material: k.ed}
	srv := newJWKSServer(t, oldKey)
	set := fast(jwksIssuerA, srv.url, jwksAudA)
	set.MinRefreshInterval = time.Minute // only the first token with the new kid may fetch
	v := newRemoteValidator(t, set)
	oldToken := mint(t, tokenSpec{Signer: oldKey, Claims: claimsFor(jwksIssuerA, jwksAudA)})
	if _, err := v.Validate(ctx, oldToken); err != nil {
		t.Fatalf("old token: %v", err)
	}

	srv.publish(t, oldKey, newKey)
	newToken := mint(t, tokenSpec{Signer: newKey, Claims: claimsFor(jwksIssuerA, jwksAudA)})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := v.Validate(ctx, newToken); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("new token during rotation: %v", err)
	}
	if _, err := v.Validate(ctx, mint(t, tokenSpec{Signer: oldKey, Claims: claimsFor(jwksIssuerA, jwksAudA)})); err != nil {
		t.Errorf("old key after rotation: %v", err)
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}

	// Retired: the old key is removed, and a refresh drops it.
	srv.publish(t, newKey)
	v = newRemoteValidator(t, set)
	_, err := v.Validate(ctx, oldToken)
	wantReason(t, err, fromValidator, connectjwt.ReasonInvalidSignature)
	if _, err := v.Validate(ctx, newToken); err != nil {
		t.Errorf("new token: %v", err)
	}
}

// The fetched set is refreshed in the background once older than
// RefreshInterval; requests keep verifying meanwhile.
func TestJWKSPeriodicRefresh(t *testing.T) {
	ctx := context.Background()
	k := jwksKeys()
	key := connectjwt.Key{ID: "a", Algorithm: "ES256", Material: k.ec1}
	srv := newJWKSServer(t, key)
	set := fast(jwksIssuerA, srv.url, jwksAudA)
	set.RefreshInterval = 50 * time.Millisecond
	v := newRemoteValidator(t, set)
	deadline := time.Now().Add(5 * time.Second)
	for srv.hits.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d fetches", srv.hits.Load())
		}
		// A new token each time: the validator's token cache would
		// answer a repeated one without looking at keys.
		if _, err := v.Validate(ctx, mint(t, tokenSpec{Signer: key, Claims: claimsFor(jwksIssuerA, jwksAudA)})); err != nil {
			t.Fatalf("Validate: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A flood of tokens with random kids makes a bounded number of fetches, and
// fails as invalid signature (the key server is up) or, once the rate limit
// allows no fetch since the kid was first seen, as unavailable (see
// TestJWKSRotationDuringKIDFlood); valid tokens keep verifying.
func TestJWKSUnknownKIDFlood(t *testing.T) {
	ctx := context.Background()
	k := jwksKeys()
	good := connectjwt.Key{ID: "good", Algorithm: "ES256", Material: k.ec1}
	srv := newJWKSServer(t, good)
	set := fast(jwksIssuerA, srv.url, jwksAudA)
	set.MinRefreshInterval = time.Minute
	v := newRemoteValidator(t, set)
	goodToken := mint(t, tokenSpec{Signer: good, Claims: claimsFor(jwksIssuerA, jwksAudA)})
	if _, err := v.Validate(ctx, goodToken); err != nil {
		t.Fatal(err)
	}
	const flood = 200
	var wg sync.WaitGroup
	var unexpected atomic.Int32
	start := time.Now()
	for i := range flood {
		forged := mint(t, tokenSpec{Signer: connectjwt.Key{ID: fmt.Sprintf("random-%d-%d", i, time.Now().UnixNano()), Algorithm: "ES256", Material: k.ec2}, Claims: claimsFor(jwksIssuerA, jwksAudA)})
		wg.Go(func() {
			_, err := v.Validate(ctx, forged)
			if r := connectjwt.ReasonOf(err); r != connectjwt.ReasonInvalidSignature && r != connectjwt.ReasonUnavailable {
				unexpected.Add(1)
			}
			if _, err := v.Validate(ctx, goodToken); err != nil {
				unexpected.Add(1)
			}
		})
	}
	wg.Wait()
	if n := unexpected.Load(); n != 0 {
		t.Errorf("%d unexpected results", n)
	}
	if n := srv.hits.Load(); n > 2 {
		t.Errorf("%d fetches for %d random kids, want at most 2", n, flood)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("flood took %v", d)
	}
}

// The key server fails: at startup (construction still succeeds), while a
// kid is unknown (unavailable, retryable) and keeps failing; known keys keep
// verifying from the cache; recovery heals without a restart.
func TestJWKSOutageAndRecovery(t *testing.T) {
	ctx := context.Background()
	k := jwksKeys()
	key1 := connectjwt.Key{ID: "k1", Algorithm: "ES256", Material: k.ec1}
	key2 := connectjwt.Key{ID: "k2", Algorithm: "ES256", Material: k.ec2}
	tok1 := mint(t, tokenSpec{Signer: key1, Claims: claimsFor(jwksIssuerA, jwksAudA)})
	tok2 := mint(t, tokenSpec{Signer: key2, Claims: claimsFor(jwksIssuerA, jwksAudA)})
	for _, mode := range []string{"500", "close"} {
		t.Run(mode, func(t *testing.T) {
			srv := newJWKSServer(t, key1)
			srv.setMode(mode)
			started := time.Now()
			v := newRemoteValidator(t, fast(jwksIssuerA, srv.url, jwksAudA)) // first fetch fails: no error
			if d := time.Since(started); d > time.Second {
				t.Errorf("construction took %v", d)
			}
			_, err := v.Validate(ctx, tok1)
			wantReason(t, err, fromValidator, connectjwt.ReasonUnavailable)
			if !errors.Is(err, connectjwt.ErrUnavailable) {
				t.Errorf("err = %v", err)
			}
			// Back up: healed within MinRefreshInterval.
			srv.setMode("")
			eventually(t, func() error { _, err := v.Validate(ctx, tok1); return err })
			// Down again: the cached key still verifies; an unknown kid is
			// unavailable, not a forgery.
			srv.setMode(mode)
			if _, err := v.Validate(ctx, mint(t, tokenSpec{Signer: key1, Claims: claimsFor(jwksIssuerA, jwksAudA)})); err != nil {
				t.Errorf("cached key during outage: %v", err)
			}
			time.Sleep(30 * time.Millisecond)
			_, err = v.Validate(ctx, tok2)
			wantReason(t, err, fromValidator, connectjwt.ReasonUnavailable)
			_, err = v.Validate(ctx, tok2) // rate-limited: the last fetch failed
			wantReason(t, err, fromValidator, connectjwt.ReasonUnavailable)
			// Recovery with the new key published.
			srv.publish(t, key1, key2)
			srv.setMode("")
			eventually(t, func() error { _, err := v.Validate(ctx, tok2); return err })
		})
	}
}

// A key server that accepts but never answers costs a request MaxWait.
func TestJWKSSlowKeyServer(t *testing.T) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	k := jwksKeys()
	key := connectjwt.Key{ID: "k1", Algorithm: "ES256", Material: k.ec1}
	set := fast(jwksIssuerA, "http://"+ln.Addr().String()+"/jwks", jwksAudA)
	set.MaxWait = 200 * time.Millisecond
	set.FetchTimeout = time.Second
	v := newRemoteValidator(t, set)
	start := time.Now()
	_, err = v.Validate(context.Background(), mint(t, tokenSpec{Signer: key, Claims: claimsFor(jwksIssuerA, jwksAudA)}))
	wantReason(t, err, fromValidator, connectjwt.ReasonUnavailable)
	if d := time.Since(start); d > time.Second {
		t.Errorf("request blocked %v", d)
	}
}

func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Each issuer has its own key set and audience: tokens are not
// interchangeable, and a token claiming issuer A signed with B's key fails.
func TestJWKSTwoIssuers(t *testing.T) {
	k := jwksKeys()
	keyA := connectjwt.Key{ID: "a", Algorithm: "RS256", Material: k.rsa}
	keyB := connectjwt.Key{ID: "b", Algorithm: "ES256", Material: k.ec2}
	srvA, srvB := newJWKSServer(t, keyA), newJWKSServer(t, keyB)
	v := newRemoteValidator(t, fast(jwksIssuerA, srvA.url, jwksAudA), fast(jwksIssuerB, srvB.url, jwksAudB))

	for _, tc := range []struct {
		name  string
		token string
		want  connectjwt.Reason
	}{
		{"A", mint(t, tokenSpec{Signer: keyA, Claims: claimsFor(jwksIssuerA, jwksAudA)}), connectjwt.ReasonUnspecified},
		{"B", mint(t, tokenSpec{Signer: keyB, Claims: claimsFor(jwksIssuerB, jwksAudB)}), connectjwt.ReasonUnspecified},
		{"claims A, signed by B", mint(t, tokenSpec{Signer: keyB, Claims: claimsFor(jwksIssuerA, jwksAudA)}), connectjwt.ReasonInvalidSignature},
		{"claims B, signed by A", mint(t, tokenSpec{Signer: keyA, Claims: claimsFor(jwksIssuerB, jwksAudB)}), connectjwt.ReasonInvalidSignature},
		{"claims A, signed by B, B's kid renamed", mint(t, tokenSpec{Signer: connectjwt.Key{ID: "a", Algorithm: "ES256", Material: k.ec2}, Claims: claimsFor(jwksIssuerA, jwksAudA)}), connectjwt.ReasonInvalidSignature},
		{"A's token for B's audience", mint(t, tokenSpec{Signer: keyA, Claims: claimsFor(jwksIssuerA, jwksAudB)}), connectjwt.ReasonInvalidClaims},
		{"B's token for A's audience", mint(t, tokenSpec{Signer: keyB, Claims: claimsFor(jwksIssuerB, jwksAudA)}), connectjwt.ReasonInvalidClaims},
		{"unknown issuer", mint(t, tokenSpec{Signer: keyA, Claims: claimsFor("https://c.idp.test/", jwksAudA)}), connectjwt.ReasonInvalidClaims},
		{"issuer with one more slash", mint(t, tokenSpec{Signer: keyA, Claims: claimsFor(jwksIssuerA+"/", jwksAudA)}), connectjwt.ReasonInvalidClaims},
		{"no issuer", mint(t, tokenSpec{Method: jwt.GetSigningMethod("RS256"), Key: k.rsa, Claims: claimsFor("", jwksAudA)}), connectjwt.ReasonInvalidClaims},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantReason(t, validateFinal(t, v, tc.token), fromValidator, tc.want)
		})
	}
}

// Symmetric keys in a JWKS are never used, HMAC algorithms cannot be
// enabled for a remote set, and keys are bound to their alg and use.
func TestJWKSIgnoresSymmetricAndMisboundKeys(t *testing.T) {
	ctx := context.Background()
	k := jwksKeys()
	secret := []byte("a published HMAC secret of at least 32 bytes")
	rsaPub := &k.rsa.PublicKey
	b64 := base64.RawURLEncoding.EncodeToString
	set := map[string]any{"keys": []map[string]any{
		{"kty": "oct", "kid": "hmac", "alg": "HS256", "k": b64(secret)},
		{"kty": "oct", "kid": "hmac-noalg", "k": b64(secret)},
		{"kty": "RSA", "kid": "rs-only", "alg": "RS256", "use": "sig", "n": b64(rsaPub.N.Bytes()), "e": b64(big.NewInt(int64(rsaPub.E)).Bytes())},
		{"kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256", "x": b64(k.ec1.X.FillBytes(make([]byte, 32))), "y": b64(k.ec1.Y.FillBytes(make([]byte, 32)))},
		{"kty": "EC", "kid": "wrap", "key_ops": []string{"wrapKey"}, "crv": "P-256", "x": b64(k.ec2.X.FillBytes(make([]byte, 32))), "y": b64(k.ec2.Y.FillBytes(make([]byte, 32)))},
	}}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	srv := newJWKSServer(t)
	srv.setBody(body)
	v := newRemoteValidator(t, fast(jwksIssuerA, srv.url, jwksAudA))

	mintKID := func(alg string, key any, kid string) string {
		return mint(t, tokenSpec{Signer: connectjwt.Key{ID: kid, Algorithm: alg, Material: key}, Claims: claimsFor(jwksIssuerA, jwksAudA)})
	}
	if _, err := v.Validate(ctx, mintKID("RS256", k.rsa, "rs-only")); err != nil {
		t.Fatalf("RS256 key: %v", err)
	}
	for _, tc := range []struct {
		name, token string
		want        connectjwt.Reason
	}{
		{"HS256 with the oct key", mintKID("HS256", secret, "hmac"), connectjwt.ReasonInvalidAlgorithm},
		{"HS256 with the RSA key as secret", mintKID("HS256", []byte(b64(rsaPub.N.Bytes())), "rs-only"), connectjwt.ReasonInvalidAlgorithm},
		{"PS256 with an RS256-only key", mintKID("PS256", k.rsa, "rs-only"), connectjwt.ReasonInvalidSignature},
		{"encryption key", mintKID("ES256", k.ec1, "enc"), connectjwt.ReasonInvalidSignature},
		{"key_ops without verify", mintKID("ES256", k.ec2, "wrap"), connectjwt.ReasonInvalidSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantReason(t, validateFinal(t, v, tc.token), fromValidator, tc.want)
		})
	}

	for _, bad := range []connectjwt.RemoteKeySet{
		{Issuer: jwksIssuerA, URL: srv.url, Algorithms: []string{"HS256"}},
		{Issuer: jwksIssuerA, URL: srv.url, Algorithms: []string{"none"}},
		{Issuer: "", URL: srv.url},
		{Issuer: jwksIssuerA, URL: "http://idp.example.com/jwks"}, // not https
		{Issuer: jwksIssuerA, URL: "/jwks"},
		{Issuer: jwksIssuerA, URL: srv.url, MaxWait: -1},
	} {
		if _, err := connectjwt.NewValidator(connectjwt.WithRemoteKeySet(bad)); err == nil {
			t.Errorf("NewValidator accepted %+v", bad)
		}
	}
	if _, err := connectjwt.NewValidator(connectjwt.WithJWKS(jwksIssuerA, srv.url), connectjwt.WithJWKS(jwksIssuerA, srv.url)); err == nil {
		t.Error("the same issuer twice was accepted")
	}
}

// The publishing handler: public parameters only, never an HMAC secret,
// caching headers, conditional and HEAD requests.
func TestJWKSHandler(t *testing.T) {
	k := jwksKeys()
	is, err := connectjwt.NewIssuer(
		connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))),
		connectjwt.WithKey(connectjwt.Key{ID: "rsa", Algorithm: "RS256", Material: k.rsa}),
		connectjwt.WithKey(connectjwt.Key{ID: "ec", Algorithm: "ES256", Material: &k.ec1.PublicKey}),
		connectjwt.WithKey(connectjwt.Key{Algorithm: "EdDSA", Material: k.ed}),
	)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(is.JWKSHandler())
	defer srv.Close()
	res, err := send(nil, http.MethodGet, srv.URL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	err = json.NewDecoder(res.Body).Decode(&set)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/jwk-set+json" ||
		res.Header.Get("Cache-Control") != "public, max-age=300" || res.Header.Get("ETag") == "" {
		t.Errorf("response %d, headers %v", res.StatusCode, res.Header)
	}
	if len(set.Keys) != 3 {
		t.Fatalf("%d keys published, want 3 (no HMAC): %v", len(set.Keys), set.Keys)
	}
	want := map[string][]string{
		"RSA": {"kty", "kid", "alg", "use", "n", "e"},
		"EC":  {"kty", "kid", "alg", "use", "crv", "x", "y"},
		"OKP": {"kty", "kid", "alg", "use", "crv", "x"},
	}
	for _, key := range set.Keys {
		members := want[fmt.Sprint(key["kty"])]
		if len(key) != len(members) || key["use"] != "sig" || key["kid"] == "" {
			t.Errorf("published key %v", key)
		}
		for _, m := range members {
			if _, ok := key[m]; !ok {
				t.Errorf("key %v lacks %q", key["kid"], m)
			}
		}
	}
	if ed := set.Keys[2]; ed["alg"] != "EdDSA" || ed["crv"] != "Ed25519" {
		t.Errorf("Ed25519 key %v", ed)
	}

	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	if res, err := send(nil, http.MethodHead, srv.URL, "", nil); err != nil || res.StatusCode != http.StatusOK || res.ContentLength <= 0 {
		t.Errorf("HEAD: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	if res, err := send(nil, http.MethodPost, srv.URL, "text/plain", strings.NewReader("x")); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}

// A key without ID gets its RFC 7638 thumbprint (the RFC's own example),
// and issued tokens carry it.
func TestJWKSThumbprintKeyID(t *testing.T) {
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	nb, _ := base64.RawURLEncoding.DecodeString(n)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: 65537}
	body := publishedJWKS(t, connectjwt.Key{Algorithm: "RS256", Material: pub}, connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	if !strings.Contains(string(body), `"kid":"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"`) {
		t.Errorf("published %s", body)
	}
	// Issuer and validator given the same key agree on its ID.
	k := jwksKeys()
	key := connectjwt.Key{Algorithm: "ES256", Material: k.ec3}
	issue := func(k connectjwt.Key) string {
		t.Helper()
		is, err := connectjwt.NewIssuer(connectjwt.WithKey(k), connectjwt.WithIssuer(jwksIssuerA))
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := is.CreateAccessToken(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := issue(key)
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.Key{Algorithm: "ES256", Material: &k.ec3.PublicKey}), connectjwt.WithIssuer(jwksIssuerA))
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Validate(context.Background(), tok)
	if err != nil || len(claims.KeyID) != 43 {
		t.Errorf("claims %+v, err %v", claims, err)
	}
	hs := issue(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	if parts := strings.Split(hs, "."); !strings.Contains(mustB64(t, parts[0]), `"kid":"`) {
		t.Errorf("HMAC token without kid: %s", mustB64(t, parts[0]))
	}
}

func mustB64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Publish with the handler, verify with WithJWKS pointing at it: every
// asymmetric algorithm round-trips, including across a rotation.
func TestJWKSPublishRoundTrip(t *testing.T) {
	ctx := context.Background()
	k := jwksKeys()
	keys := []connectjwt.Key{
		{Algorithm: "RS256", Material: k.rsa},
		{Algorithm: "ES256", Material: k.ec1},
		{Algorithm: "EdDSA", Material: k.ed},
	}
	var opts []connectjwt.Option
	for _, key := range keys {
		opts = append(opts, connectjwt.WithKey(key))
	}
	opts = append(opts, connectjwt.WithIssuer(jwksIssuerA), connectjwt.WithAudience(jwksAudA))
	issuer, err := connectjwt.NewIssuer(connectjwt.WithOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", issuer.JWKSHandler())
	srv := httptest.NewServer(mux)
	defer srv.Close()
	v := newRemoteValidator(t, fast(jwksIssuerA, srv.URL+"/.well-known/jwks.json", jwksAudA))
	// Tokens of each configured key (older keys as a rotated issuer had).
	for _, key := range keys {
		if _, err := v.Validate(ctx, mint(t, tokenSpec{Signer: key, Claims: claimsFor(jwksIssuerA, jwksAudA)})); err != nil {
			t.Errorf("%s: %v", key.Algorithm, err)
		}
	}
	tok, _, _ := issuer.CreateAccessToken(ctx, "bob")
	if c, err := v.Validate(ctx, tok); err != nil || c.Algorithm != "EdDSA" || c.Identity != "bob" {
		t.Errorf("issuer's token: %+v %v", c, err)
	}
}

// Through the interceptor over HTTP, on every protocol: a key server outage
// is CodeUnavailable with REASON_UNAVAILABLE; once it is back, calls pass.
func TestJWKSInterceptorUnavailable(t *testing.T) {
	k := jwksKeys()
	key := connectjwt.Key{ID: "k", Algorithm: "ES256", Material: k.ec1}
	jwks := newJWKSServer(t, key)
	jwks.setMode("500")
	auth, err := interceptorFor(t, connectjwt.WithRemoteKeySet(fast(jwksIssuerA, jwks.url, jwksAudA)))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(examplev1connect.NewProtectedServiceHandler(greeter{}, auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	defer stop()
	token := mint(t, tokenSpec{Signer: key, Claims: claimsFor(jwksIssuerA, jwksAudA)})
	call := func(opts []connect.ClientOption) (*connect.Response[examplev1.ProtectedResponse], error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client := examplev1connect.NewProtectedServiceClient(httpClient, url, opts...)
		req := connect.NewRequest(&examplev1.ProtectedRequest{})
		req.Header().Set("Authorization", "Bearer "+token)
		return client.Protected(ctx, req)
	}
	for _, proto := range wireProtocols() {
		t.Run(proto.name+"/down", func(t *testing.T) {
			_, err := call(proto.opts)
			if connect.CodeOf(err) != connect.CodeUnavailable || connectjwt.ReasonOf(err) != connectjwt.ReasonUnavailable {
				t.Errorf("err = %v (reason %v)", err, connectjwt.ReasonOf(err))
			}
		})
	}
	jwks.setMode("")
	for _, proto := range wireProtocols() {
		t.Run(proto.name+"/up", func(t *testing.T) {
			eventually(t, func() error {
				res, err := call(proto.opts)
				if err == nil && res.Msg.GetIdentity() != "alice" {
					err = fmt.Errorf("identity %q", res.Msg.GetIdentity())
				}
				return err
			})
		})
	}
}

// A redirect from an https key server to plain http is refused. The plain
// server is reachable (the client's dialer routes the remote host name to
// it), so without the check the keys would be fetched.
func TestJWKSRedirectDowngradeRefused(t *testing.T) {
	var hits atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	defer plain.Close()
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://keys.example.test/jwks.json", http.StatusFound)
	}))
	defer secure.Close()
	client := secure.Client()
	base, ok := client.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T", client.Transport)
	}
	tr := base.Clone()
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == "keys.example.test:80" {
			addr = plain.Listener.Addr().String()
		}
		return d.DialContext(ctx, network, addr)
	}
	client.Transport = tr
	v, err := connectjwt.NewValidator(connectjwt.WithRemoteKeySet(connectjwt.RemoteKeySet{
		Issuer: "https://idp.test/", URL: secure.URL + "/jwks.json", HTTPClient: client,
		MaxWait: time.Second, FetchTimeout: time.Second,
	}))
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signed := mint(t, tokenSpec{Signer: connectjwt.Key{ID: "k", Algorithm: "RS256", Material: key},
		Claims: jwt.MapClaims{"iss": "https://idp.test/", "sub": "a", "exp": time.Now().Add(time.Hour).Unix()}})
	if _, err := v.Validate(context.Background(), signed); !errors.Is(err, connectjwt.ErrUnavailable) {
		t.Errorf("Validate after a downgrade redirect = %v, want ErrUnavailable", err)
	}
	if hits.Load() != 0 {
		t.Error("the plain-http key server was fetched after a redirect")
	}
}

// claimsFor returns the claims of an access token for alice from iss to
// aud (each left out when empty), valid for a minute.
func claimsFor(iss, aud string) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	if iss != "" {
		c["iss"] = iss
	}
	if aud != "" {
		c["aud"] = aud
	}
	return c
}
