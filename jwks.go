package connectjwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
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
	"github.com/golang-jwt/jwt/v5"
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
var remoteAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

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
// for RS*/PS*, P-256 for ES256, Ed25519 for EdDSA, ...). Symmetric ("oct")
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
	// RS512, PS256, PS384, PS512, ES256, ES384, ES512 and EdDSA. HMAC
	// algorithms and "none" are refused. ([WithAlgorithms] applies to the
	// [WithKey] keys only.)
	Algorithms []string
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
	// OnFetchError, if set, is called with every failed fetch, for logs.
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
// It applies to [NewValidator] and [NewInterceptor], and may be the only
// source of keys.
func WithJWKS(issuer, jwksURL string, audience ...string) Option {
	return WithRemoteKeySet(RemoteKeySet{Issuer: issuer, URL: jwksURL, Audience: audience})
}

// WithRemoteKeySet trusts tokens of set.Issuer whose keys are published at
// set.URL (see [RemoteKeySet]).
//
// The set is fetched in the background as soon as a [Validator] or
// [Interceptor] is built from the option; a failing first fetch does not
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
// Library: fetching and parsing use github.com/MicahParks/jwkset
// (NewStorageFromHTTP for one fetch, its JWK validation for RSA, EC and OKP
// keys). Scheduling is our own, with golang.org/x/time/rate, because
// jwkset's refresh machinery (which keyfunc v3 wraps) cannot meet these
// points: its refresh on unknown kid discards the fetch error, so an outage
// would look like a forged token (not retryable); concurrent requests each
// wait on the rate limiter instead of sharing one fetch, so during a
// rotation all but one would fail or wait; its refresh goroutine runs until
// a context ends, while a Validator has no Close; and its first fetch blocks
// construction. Here no goroutine outlives a fetch: refreshes are started
// by requests.
func WithRemoteKeySet(set RemoteKeySet) Option {
	ti, err := newRemoteIssuer(set)
	return option{scopeVerify, "WithRemoteKeySet", func(c *config) {
		if err != nil {
			c.errs = append(c.errs, err)
			return
		}
		c.remote = append(c.remote, ti)
		// The first fetch starts when the validator is built (see
		// newValidator), not here: a constructor that then fails must not
		// leave fetches running.
	}}
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
		if !slices.Contains(remoteAlgorithms, a) || jwt.GetSigningMethod(a) == nil {
			return nil, bad("algorithm %q is not allowed for a remote key set", a)
		}
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
	}
	ti := &trustedIssuer{issuer: set.Issuer, audience: slices.Clone(set.Audience), algs: algs, keys: r}
	return ti, nil
}

// checkJWKSURL requires an absolute https URL, or http on a loopback host.
func checkJWKSURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("URL must be an absolute http(s) URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
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

	once sync.Once
	snap atomic.Pointer[keySnapshot] // nil until a fetch succeeded

	fetches flight.Group[struct{}, struct{}] // at most one fetch at a time

	mu      sync.Mutex
	lastErr error // of the last completed fetch; nil when it succeeded
}

// keySnapshot is an immutable set of keys, each bound to one algorithm.
type keySnapshot struct {
	byKID   map[kidAlg][]*boundKey
	byAlg   map[string][]*boundKey // for tokens without kid
	fetched time.Time
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

func (r *remoteKeys) lookup(ctx context.Context, kid, alg string) ([]*boundKey, error) {
	r.start()
	s := r.snap.Load()
	if s != nil {
		if keys := s.find(kid, alg); len(keys) > 0 {
			if time.Since(s.fetched) >= r.refreshEvery {
				r.refresh(ctx) // in the background; keep using these keys
			}
			return keys, nil
		}
	}
	call, lastErr := r.refresh(ctx)
	if call == nil { // rate-limited
		if lastErr != nil {
			return nil, lastErr
		}
		if s == nil {
			return nil, errors.New("connectjwt: key set not fetched yet")
		}
		return nil, nil
	}
	timer := time.NewTimer(r.maxWait)
	defer timer.Stop()
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
	return r.snap.Load().find(kid, alg), nil
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
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.fetchTimeout)
		s, err := r.fetch(fctx)
		cancel()
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

// fetch gets and parses the set with jwkset, and binds its keys.
func (r *remoteKeys) fetch(ctx context.Context) (*keySnapshot, error) {
	st, err := jwkset.NewStorageFromHTTP(r.url, jwkset.HTTPClientStorageOptions{
		Client:      r.client,
		Ctx:         ctx,
		HTTPTimeout: r.fetchTimeout,
	})
	if err != nil {
		return nil, err
	}
	jwks, err := st.KeyReadAll(ctx)
	if err != nil {
		return nil, err
	}
	return r.bind(jwks), nil
}

// bind binds every usable key of a fetched set to each algorithm it may
// verify, once per fetch.
func (r *remoteKeys) bind(jwks []jwkset.JWK) *keySnapshot {
	s := &keySnapshot{byKID: map[kidAlg][]*boundKey{}, byAlg: map[string][]*boundKey{}, fetched: time.Now()}
	for i, j := range jwks {
		if i == maxRemoteKeys {
			break
		}
		m := j.Marshal()
		if m.KTY == jwkset.KtyOct || m.USE != "" && m.USE != jwkset.UseSig ||
			len(m.KEYOPS) > 0 && !slices.Contains(m.KEYOPS, jwkset.KeyOpsVerify) {
			continue
		}
		pub := publicKeyOf(j.Key())
		if pub == nil {
			continue
		}
		algs := r.algs
		if m.ALG != "" {
			if !slices.Contains(r.algs, string(m.ALG)) {
				continue
			}
			algs = []string{string(m.ALG)}
		}
		for _, alg := range algs {
			b, err := bindKey(Key{ID: m.KID, Algorithm: alg, Material: pub})
			if err != nil {
				continue // the key does not fit alg
			}
			if m.KID != "" {
				s.byKID[kidAlg{m.KID, alg}] = append(s.byKID[kidAlg{m.KID, alg}], b)
			}
			s.byAlg[alg] = append(s.byAlg[alg], b)
		}
	}
	return s
}

// publicKeyOf returns the public half of a signature key jwkset parsed, or
// nil for anything else (symmetric, X25519).
func publicKeyOf(k any) any {
	switch k := k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k
	case *rsa.PrivateKey:
		return &k.PublicKey
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	case ed25519.PrivateKey:
		return k.Public()
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
