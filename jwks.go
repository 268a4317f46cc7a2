package connectjwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"golang.org/x/time/rate"

	"github.com/connectjwt/connectjwt/internal/flight"
)

// Defaults of a [RemoteKeySet].
const (
	// DefaultJWKSRefreshInterval is how old a fetched key set may get
	// before it is fetched again.
	DefaultJWKSRefreshInterval = time.Hour
	// DefaultJWKSMinRefreshInterval is the least time between two fetches
	// triggered by tokens (unknown kid, retries after a failure).
	DefaultJWKSMinRefreshInterval = 10 * time.Second
	// DefaultJWKSMaxWait bounds how long a request waits for a fetch.
	DefaultJWKSMaxWait = 2 * time.Second
	// DefaultJWKSFetchTimeout bounds one fetch of the key set.
	DefaultJWKSFetchTimeout = 10 * time.Second

	maxJWKSBytes  = 1 << 20 // a larger response fails the fetch
	maxRemoteKeys = 100     // keys bound from one set; the rest are ignored
)

// remoteAlgorithms are the algorithms a remote key set accepts by default:
// asymmetric only, so a published key can never serve as an HMAC secret.
//
//nolint:gochecknoglobals // read-only table
var remoteAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", algEd25519}

// A RemoteKeySet is a trusted issuer whose public keys are published as a
// JWK Set (RFC 7517) at a URL, as Auth0, Keycloak, Okta, Google, other
// identity providers and [Issuer.JWKSHandler] do. Give it to
// [WithRemoteKeySet]; [WithJWKS] covers the common case.
//
// A token is routed to the set whose Issuer equals its (still unverified)
// iss claim; it must then verify with a key of that set, and only then is
// anything else in it read. So a token that claims issuer A but was signed
// with issuer B's key fails: A's set has no such key.
//
// Keys are selected by the token's kid and bound to one algorithm each: a
// JWK's alg, when present, must equal the token's alg; without one, the key
// type, curve and size must fit the token's alg (RSA of at least 2048 bits
// for RS*/PS*, P-256 for ES256, Ed25519 for EdDSA and Ed25519, ...). A JWK
// with "alg":"EdDSA" verifies only EdDSA tokens, one with "alg":"Ed25519"
// (RFC 9864) only Ed25519 tokens. Symmetric ("oct")
// keys, keys whose use is not "sig" and keys whose key_ops lack "verify" are
// ignored. A token without kid is tried against the keys for its alg (at
// most four).
type RemoteKeySet struct {
	// Issuer is the iss claim of the tokens this set verifies. Required;
	// no two sets may share one, nor a set and [WithIssuer] with local keys.
	Issuer string
	// URL is the JWK Set's address, from configuration only (never from a
	// token). It must be https, except on a loopback host.
	URL string
	// Audience is the aud this service requires, as [WithAudience] for
	// local keys: a token is accepted when one of its audiences is one of
	// these. Without it, tokens that carry an aud are refused.
	Audience []string
	// Algorithms are the accepted alg values, by default RS256, RS384,
	// RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA and Ed25519. HMAC
	// algorithms and "none" are refused. [WithAlgorithms] restricts them
	// further.
	Algorithms []string
	// AccessTokenTypes are the typ header values this issuer's access
	// tokens may carry, by default "at+jwt" (RFC 9068), whatever
	// [WithTokenTypes] sets for local keys. Matching is case-insensitive
	// and ignores an "application/" prefix. An empty type, and the refresh
	// type of [WithTokenTypes], are refused by [NewValidator].
	//
	// Explicit typing is what keeps tokens minted for one purpose out of
	// another (RFC 8725 §3.11). Without a specific typ, a token this issuer
	// minted for another purpose (an ID token, a token for another API) and
	// signed with the same key can be replayed here as an access token.
	// Accept JWT or untyped tokens only from issuers that do not type their
	// access tokens, and then require an audience that only access tokens
	// for this service carry: a generic type ("JWT", "JOSE",
	// "JOSE+JSON") here needs an Audience.
	AccessTokenTypes []string
	// AcceptUntyped accepts this issuer's access tokens without a typ
	// header (a token with an empty typ is still refused). It needs an
	// Audience; see AccessTokenTypes for why.
	AcceptUntyped bool
	// RefreshInterval is how old the fetched set may get before a request
	// triggers a fetch in the background, by default
	// [DefaultJWKSRefreshInterval]. Requests keep using the current keys
	// meanwhile.
	RefreshInterval time.Duration
	// MinRefreshInterval rate-limits fetches: apart from the first, at most
	// one per MinRefreshInterval (by default
	// [DefaultJWKSMinRefreshInterval]), so a flood of tokens with random
	// kids cannot make us hammer the key server.
	MinRefreshInterval time.Duration
	// MaxWait bounds how long a request waits for a fetch it needs (an
	// unknown kid, or no keys yet), by default [DefaultJWKSMaxWait]. The
	// fetch goes on in the background, for the requests after it.
	MaxWait time.Duration
	// FetchTimeout bounds one fetch, by default [DefaultJWKSFetchTimeout].
	FetchTimeout time.Duration
	// HTTPClient fetches the set; by default a client with
	// [http.DefaultTransport]. Responses over 1 MiB are refused.
	HTTPClient *http.Client
	// AllowInsecureHTTP permits an http URL on a non-loopback host, e.g.
	// inside a private network. Anyone on the path could substitute keys.
	AllowInsecureHTTP bool
	// OnFetchError, if set, is called with every failed fetch, for logs,
	// and with the keys a successful fetch had to skip: a key that does not
	// parse or validate (a wrong x5t or x5c, an unknown use, an EC point off
	// its curve) is never used, and the set's other keys still are. A set
	// whose keys all fail is a failed fetch.
	OnFetchError func(err error)
}

// WithJWKS trusts tokens of issuer whose keys are published as a JWK Set at
// jwksURL, requiring one of audience (see [RemoteKeySet] for the defaults
// and [WithRemoteKeySet] for the other settings):
//
//	connectjwt.WithJWKS("https://tenant.eu.auth0.com/",
//		"https://tenant.eu.auth0.com/.well-known/jwks.json", "https://api.example.com")
//
// Give it once per trusted issuer; each set has its own keys and audience.
// It may be the only source of keys.
func WithJWKS(issuer, jwksURL string, audience ...string) ValidatorOption {
	return WithRemoteKeySet(RemoteKeySet{Issuer: issuer, URL: jwksURL, Audience: audience})
}

// WithRemoteKeySet trusts tokens of set.Issuer whose keys are published at
// set.URL (see [RemoteKeySet]).
//
// The set is fetched in the background as soon as a [Validator] is built
// from the option; a failing first fetch does not
// fail construction. Requests then behave as follows:
//
//   - the token's kid is in the fetched set: it is verified at once, without
//     network, even while the key server is down; a set older than
//     RefreshInterval is fetched again in the background;
//   - the kid is unknown (or nothing was fetched yet): the request joins the
//     one fetch in flight or starts one, if the rate limit allows, and waits
//     for it at most MaxWait. Found: verified, so a key rotated in at the
//     issuer is picked up by the first token that uses it. Still unknown
//     while the key server answered: [ErrInvalidSignature];
//   - the key server cannot be reached, answers an error, is slower than
//     MaxWait, or the last fetch failed and the rate limit allows no new
//     one: [ErrUnavailable], which the [Interceptor] sends as
//     CodeUnavailable with REASON_UNAVAILABLE, so clients retry rather than
//     log in again.
//
// Keys are fetched on demand by requests: no goroutine outlives a fetch, and
// a [Validator] needs no Close.
func WithRemoteKeySet(set RemoteKeySet) ValidatorOption {
	trusted, err := newRemoteIssuer(set)
	return validatorOption(func(c *config) {
		if err != nil {
			c.errs = append(c.errs, err)
			return
		}
		c.remote = append(c.remote, trusted)
		// The first fetch starts when the validator is built (see
		// newValidator), not here: a constructor that then fails must not
		// leave fetches running.
	})
}

func newRemoteIssuer(set RemoteKeySet) (*trustedIssuer, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("connectjwt: key set %q: "+format, append([]any{set.Issuer}, args...)...)
	}
	if set.Issuer == "" {
		return nil, errors.New("connectjwt: a remote key set needs an issuer")
	}
	if err := checkJWKSURL(set.URL, set.AllowInsecureHTTP); err != nil {
		return nil, bad("%v", err)
	}
	algs := slices.Clone(set.Algorithms)
	if len(algs) == 0 {
		algs = slices.Clone(remoteAlgorithms)
	}
	for _, a := range algs {
		if !slices.Contains(remoteAlgorithms, a) || signingMethod(a) == nil {
			return nil, bad("algorithm %q is not allowed for a remote key set", a)
		}
	}
	types := []string{DefaultAccessTokenType}
	if len(set.AccessTokenTypes) > 0 {
		types = nil
	}
	generic := set.AcceptUntyped
	for _, typ := range set.AccessTokenTypes {
		typ = normalizeType(typ)
		if typ == "" {
			return nil, bad("an empty access token type is not a type; use AcceptUntyped")
		}
		generic = generic || slices.Contains(genericTypes, typ)
		if !slices.Contains(types, typ) {
			types = append(types, typ)
		}
	}
	if generic && len(set.Audience) == 0 {
		return nil, bad("accepting untyped or generically typed (JWT) access tokens needs an Audience")
	}
	dur := func(d *time.Duration, def time.Duration, name string) error {
		switch {
		case *d < 0:
			return bad("%s must not be negative", name)
		case *d == 0:
			*d = def
		}
		return nil
	}
	if err := errors.Join(
		dur(&set.RefreshInterval, DefaultJWKSRefreshInterval, "RefreshInterval"),
		dur(&set.MinRefreshInterval, DefaultJWKSMinRefreshInterval, "MinRefreshInterval"),
		dur(&set.MaxWait, DefaultJWKSMaxWait, "MaxWait"),
		dur(&set.FetchTimeout, DefaultJWKSFetchTimeout, "FetchTimeout"),
	); err != nil {
		return nil, err
	}
	client := &http.Client{}
	if set.HTTPClient != nil {
		c := *set.HTTPClient
		client = &c
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = cappedTransport{base}
	// A redirect must meet the same rule as the URL: no https → http
	// downgrade unless plain HTTP is allowed.
	next := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if err := checkJWKSURL(req.URL.String(), set.AllowInsecureHTTP); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	r := &remoteKeys{
		url:          set.URL,
		client:       client,
		algs:         algs,
		refreshEvery: set.RefreshInterval,
		maxWait:      set.MaxWait,
		fetchTimeout: set.FetchTimeout,
		limiter:      rate.NewLimiter(rate.Every(set.MinRefreshInterval), 1),
		onError:      set.OnFetchError,
		issuer:       set.Issuer,
	}
	ti := &trustedIssuer{issuer: set.Issuer, audience: slices.Clone(set.Audience), algs: algs, keys: r,
		types: types, untyped: set.AcceptUntyped}
	return ti, nil
}

// checkJWKSURL requires an absolute https URL, or http on a loopback host.
func checkJWKSURL(raw string, insecure bool) error {
	parsed, err := url.Parse(raw)
	if err != nil || parsed.Host == "" || parsed.Opaque != "" {
		return errors.New("URL must be an absolute http(s) URL")
	}
	switch parsed.Scheme {
	case "https":
		return nil
	case "http":
		host := parsed.Hostname()
		ip := net.ParseIP(host)
		if insecure || strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback() {
			return nil
		}
		return errors.New("URL must be https (or set AllowInsecureHTTP)")
	}
	return errors.New("URL must be an absolute http(s) URL")
}

// remoteKeys is the keySource of a RemoteKeySet: the bound keys of the last
// successful fetch, and at most one fetch in flight.
type remoteKeys struct {
	url          string
	client       *http.Client
	algs         []string
	refreshEvery time.Duration
	maxWait      time.Duration
	fetchTimeout time.Duration
	limiter      *rate.Limiter // every fetch but the first
	onError      func(error)
	issuer       string
	// observer is the [WithObserver] of the validator built with the set
	// (the last one, when several validators share it), or nil.
	observer atomic.Pointer[Observer]

	once sync.Once
	snap atomic.Pointer[keySnapshot] // nil until a fetch succeeded

	fetches flight.Group[struct{}, struct{}] // at most one fetch at a time

	mu      sync.Mutex
	lastErr error // of the last completed fetch; nil when it succeeded
	// unknown holds when each kid missing from the set was first asked
	// about: a fetch that started before then cannot say the kid does not
	// exist. At most maxUnknownKIDs entries; when full it is cleared,
	// which only makes answers more cautious (UNAVAILABLE).
	unknown map[kidAlg]time.Time
}

// maxUnknownKIDs bounds remoteKeys.unknown.
const maxUnknownKIDs = 4096

// errKIDNotChecked: the kid is missing from the set, but no fetch since it
// was first asked about has been allowed yet (a flood of forged kids used
// up the rate limit), so a key rotated in a moment ago may still be it.
var errKIDNotChecked = errors.New("connectjwt: kid not in the key set fetched so far; fetching again is rate-limited")

// keySnapshot is an immutable set of keys, each bound to one algorithm.
type keySnapshot struct {
	byKID   map[kidAlg][]*boundKey
	byAlg   map[string][]*boundKey // for tokens without kid
	fetched time.Time
	skipped []error   // keys of the set that could not be used, and why
	started time.Time // when the fetch that got this set began
	// keys counts the keys bound; unbound those parsed but not usable
	// here (use, key_ops, alg, or beyond maxRemoteKeys).
	keys, unbound int
}

type kidAlg struct{ kid, alg string }

func (s *keySnapshot) find(kid, alg string) []*boundKey {
	if kid == "" {
		return s.byAlg[alg]
	}
	return s.byKID[kidAlg{kid, alg}]
}

var (
	errKeyServerSlow = errors.New("connectjwt: key server did not answer in time")
	errJWKSTooLarge  = errors.New("connectjwt: JWK Set response too large")
)

// start begins the first fetch, once; it is not rate-limited.
func (r *remoteKeys) start() {
	r.once.Do(func() { r.fetches.Go(struct{}{}, nil, r.fetchFunc(context.Background())) })
}

// lookup returns the keys for kid and alg. A nil result without error is a
// final answer (no such key: INVALID_SIGNATURE) and is given only when a
// fetch that began after the kid was first asked about has come back
// without it; until the rate limit allows that fetch, the answer is
// errKIDNotChecked (UNAVAILABLE, retryable), so forged kids cannot make a
// key that was rotated in meanwhile look forged.
func (r *remoteKeys) lookup(ctx context.Context, kid, alg string) ([]*boundKey, error) {
	r.start() //nolint:contextcheck // the first fetch belongs to no request
	s := r.snap.Load()
	if s != nil {
		if keys := s.find(kid, alg); len(keys) > 0 {
			if time.Since(s.fetched) >= r.refreshEvery {
				_, _ = r.refresh(ctx) // in the background; keep using these keys
			}
			return keys, nil
		}
	}
	seen := r.firstAsked(kid, alg)
	timer := time.NewTimer(r.maxWait)
	defer timer.Stop()
	for {
		call, lastErr := r.refresh(ctx)
		if call == nil { // rate-limited
			if o := r.observer.Load(); o != nil {
				emitEvent(ctx, *o, Event{Kind: EventJWKSRateLimited, Issuer: r.issuer})
			}
			if lastErr != nil {
				return nil, lastErr
			}
			s = r.snap.Load()
			switch {
			case s == nil:
				return nil, errors.New("connectjwt: key set not fetched yet")
			case len(s.find(kid, alg)) > 0:
				return s.find(kid, alg), nil
			case s.started.Before(seen):
				return nil, errKIDNotChecked
			}
			return nil, nil
		}
		select {
		case <-call.Done():
		case <-timer.C:
			return nil, errKeyServerSlow
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if _, err := call.Result(); err != nil {
			return nil, err
		}
		s = r.snap.Load()
		if keys := s.find(kid, alg); len(keys) > 0 || !s.started.Before(seen) {
			return keys, nil
		}
		// The fetch began before this kid was first asked about: only a
		// later one can tell. At most one more round: any fetch started
		// from here on began after seen.
	}
}

// firstAsked returns when kid was first asked about while missing from the
// set, recording now if it was not.
func (r *remoteKeys) firstAsked(kid, alg string) time.Time {
	key := kidAlg{kid, alg}
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.unknown[key]; ok {
		return t
	}
	if r.unknown == nil || len(r.unknown) >= maxUnknownKIDs {
		r.unknown = make(map[kidAlg]time.Time)
	}
	now := time.Now()
	r.unknown[key] = now
	return now
}

// refresh returns the fetch in flight, or starts one if the rate limit
// allows; otherwise it returns nil and the last fetch's error.
func (r *remoteKeys) refresh(ctx context.Context) (*flight.Call[struct{}], error) {
	if call := r.fetches.Go(struct{}{}, r.limiter.Allow, r.fetchFunc(ctx)); call != nil {
		return call, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return nil, r.lastErr
}

// fetchFunc returns a fetch that outlives the request that asked for it
// (it keeps ctx's values, not its cancellation); every waiter shares its
// result.
func (r *remoteKeys) fetchFunc(ctx context.Context) func() (struct{}, error) {
	return func() (struct{}, error) {
		started := time.Now()
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.fetchTimeout)
		start := time.Now()
		s, err := r.fetch(fctx)
		cancel()
		if s != nil {
			s.started = started
		}
		if o := r.observer.Load(); o != nil {
			e := Event{Kind: EventJWKSFetch, Issuer: r.issuer, Err: err, Duration: time.Since(start)}
			if s != nil {
				e.Keys, e.KeysSkipped = s.keys, len(s.skipped)+s.unbound
			}
			emitEvent(fctx, *o, e)
		}
		if err != nil {
			err = fmt.Errorf("connectjwt: fetching JWK Set: %w", err)
			if r.onError != nil {
				r.onError(err)
			}
		} else {
			r.snap.Store(s)
		}
		r.mu.Lock()
		r.lastErr = err
		r.mu.Unlock()
		return struct{}{}, err
	}
}

// fetch gets the set, parses each of its keys with jwkset, and binds them.
// A key that fails to parse or validate is skipped, reported and never
// used; the others are bound. The fetch fails (and the previous keys stay)
// when the response is not a JWK Set at all, or when keys were listed but
// none of them could be parsed.
func (r *remoteKeys) fetch(ctx context.Context) (*keySnapshot, error) {
	// r.url is the operator's configured JWKS URL, checked by checkJWKSURL.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil) //nolint:gosec // G704: see above
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req) //nolint:gosec // G704: the configured URL, as above
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("key server answered %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || set.Keys == nil {
		return nil, errors.New("response is not a JWK Set")
	}
	if len(set.Keys) > maxRemoteKeys {
		set.Keys = set.Keys[:maxRemoteKeys]
	}
	jwks := make([]jwkset.JWK, 0, len(set.Keys))
	var skipped []error
	ignored := 0
	for i, raw := range set.Keys {
		var kty struct {
			KTY string `json:"kty"`
		}
		if json.Unmarshal(raw, &kty) == nil && kty.KTY == string(jwkset.KtyOct) {
			ignored++ // symmetric keys are never used from a remote set
			continue
		}
		// Private parts, if a set has any, are not even parsed.
		j, err := jwkset.NewJWKFromRawJSON(raw, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			skipped = append(skipped, skippedKeyError(i, raw, err))
			continue
		}
		jwks = append(jwks, j)
	}
	if len(jwks) == 0 && len(skipped) > 0 {
		return nil, fmt.Errorf("no usable key in the JWK Set: %w", errors.Join(skipped...))
	}
	s := r.bind(jwks)
	s.skipped = skipped
	s.unbound += ignored
	r.reportSkipped(skipped)
	return s, nil
}

// skippedKeyError describes the key at index i of a set that could not be
// used: its position, its kid when it has a readable one, and why.
func skippedKeyError(i int, raw json.RawMessage, err error) error {
	var id struct {
		KID string `json:"kid"`
	}
	if json.Unmarshal(raw, &id) == nil && id.KID != "" && len(id.KID) <= maxKeyIDLen {
		return fmt.Errorf("key %d (kid %q) skipped: %w", i, id.KID, err)
	}
	return fmt.Errorf("key %d skipped: %w", i, err)
}

// reportSkipped tells the operator about keys a fetch skipped, through
// OnFetchError: the fetch itself succeeded, and the other keys are in use.
func (r *remoteKeys) reportSkipped(skipped []error) {
	if len(skipped) > 0 && r.onError != nil {
		r.onError(fmt.Errorf("connectjwt: JWK Set %s: %d of its keys skipped: %w", r.url, len(skipped), errors.Join(skipped...)))
	}
}

// bind binds every usable key of a fetched set to each algorithm it may
// verify, once per fetch.
func (r *remoteKeys) bind(jwks []jwkset.JWK) *keySnapshot {
	s := &keySnapshot{byKID: map[kidAlg][]*boundKey{}, byAlg: map[string][]*boundKey{}, fetched: time.Now()}
	for _, jwk := range jwks {
		meta := jwk.Marshal()
		if meta.KTY == jwkset.KtyOct || meta.USE != "" && meta.USE != jwkset.UseSig ||
			len(meta.KEYOPS) > 0 && !slices.Contains(meta.KEYOPS, jwkset.KeyOpsVerify) {
			continue
		}
		pub := publicKeyOf(jwk.Key())
		if pub == nil {
			continue
		}
		algs := r.algs
		if meta.ALG != "" {
			if !slices.Contains(r.algs, string(meta.ALG)) {
				continue
			}
			algs = []string{string(meta.ALG)}
		}
		bound := false
		for _, alg := range algs {
			b, err := bindKey(Key{ID: meta.KID, Algorithm: alg, Material: pub})
			if err != nil {
				continue // the key does not fit alg
			}
			if meta.KID != "" {
				s.byKID[kidAlg{meta.KID, alg}] = append(s.byKID[kidAlg{meta.KID, alg}], b)
			}
			s.byAlg[alg] = append(s.byAlg[alg], b)
			bound = true
		}
		if bound {
			s.keys++
		}
	}
	s.unbound = len(jwks) - s.keys
	return s
}

// publicKeyOf returns the public half of a signature key jwkset parsed, or
// nil for anything else (symmetric, X25519).
func publicKeyOf(key any) any {
	switch key := key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return key
	case *rsa.PrivateKey:
		return &key.PublicKey
	case *ecdsa.PrivateKey:
		return &key.PublicKey
	case ed25519.PrivateKey:
		return key.Public()
	}
	return nil
}

// cappedTransport refuses response bodies over maxJWKSBytes.
type cappedTransport struct{ base http.RoundTripper }

func (t cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{rc: resp.Body, left: maxJWKSBytes + 1}
	return resp, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errJWKSTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left <= 0 && err == nil {
		err = errJWKSTooLarge
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }
