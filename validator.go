package connectjwt

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A Validator verifies tokens (Flask's decode_jwt) and decides whether a
// call may proceed ([Validator.Authenticate]): it holds the keys, the
// procedures' policies, the verified-token cache and the revocation store.
// It holds no connect types, so one Validator serves an [Interceptor] and
// any other front end, which then share one cache, one key set fetch and
// one policy. Build it with [NewValidator]; the zero Validator refuses every
// token.
//
// The checks run in this fixed order, and the first that fails decides the
// [Reason]:
//
//  1. header: exactly one, size cap, scheme, alphabet (missing, malformed);
//  2. JOSE header: strict base64url, UTF-8, unique names, no crit, no nested
//     token (malformed);
//  3. alg is one of the allowed algorithms (invalid algorithm);
//  4. a key for alg and kid verifies the signature (invalid signature);
//  5. typ is an access token type the token's issuer is trusted for
//     ([WithTokenTypes], [WithAcceptedAccessTypes],
//     [RemoteKeySet.AccessTokenTypes]), or the refresh type of the local
//     keys for [Validator.ValidateRefresh] (wrong token type);
//  6. payload: strict base64url, UTF-8, unique names (malformed);
//  7. registered claims well-typed, exp present, iss, aud and the identity
//     claim as configured (invalid claims);
//  8. exp (expired), then nbf and iat (not yet valid), with leeway;
//  9. the [RevocationStore] (revoked, or unavailable when it fails).
//
// No claim is read before step 4 succeeds, with one exception: with remote
// key sets ([WithRemoteKeySet]), the unverified iss picks the key set
// before step 3, and an iss that names no trusted issuer fails there
// (invalid claims, "issuer is not trusted"), whatever the signature.
//
// Access tokens that pass steps 1–8 are remembered (see [WithCacheSize]):
// when the same token comes again, steps 1–7 are skipped, and steps 8 and 9
// run as for any token, so the answer is the same with or without the cache.
type Validator struct {
	cfg       *config
	headerKey string
	local     *trustedIssuer   // WithKey keys with WithIssuer and WithAudience
	remote    []*trustedIssuer // picked by the token's iss
	access    string           // normalized token types
	refresh   string
	cache     *tokenCache // verified access tokens, or nil
	static    *staticKeys // the WithKey keys (possibly none), v.local's key source
	policies  sync.Map    // MethodDescriptor → Policy, resolved from .proto options
}

// A keySource finds the keys that may verify a token with this kid and alg.
// An error means the keys could not be had (a key server is down) and fails
// the call with ErrUnavailable; no keys means no key matches.
type keySource interface {
	lookup(ctx context.Context, kid, alg string) ([]*boundKey, error)
}

// A trustedIssuer binds an issuer to its keys, algorithms, audience and
// the access token types it is trusted for.
type trustedIssuer struct {
	issuer   string
	audience []string
	algs     []string
	keys     keySource
	types    []string // normalized typ values of access tokens
	untyped  bool     // access tokens without typ are accepted
}

// acceptsAccess reports whether an access token of t may have this JOSE
// header's typ.
func (t *trustedIssuer) acceptsAccess(hdr joseHeader) bool {
	if !hdr.typed {
		return t.untyped
	}
	for _, want := range t.types {
		if typeMatches(hdr.typ, want) {
			return true
		}
	}
	return false
}

// genericTypes are typ values that say nothing about a token's purpose.
//
//nolint:gochecknoglobals // read-only table
var genericTypes = []string{"jwt", "jose", "jose+json"}

// staticKeys are keys fixed at construction.
type staticKeys struct {
	all  []*boundKey
	byID map[string][]*boundKey
}

func (s *staticKeys) lookup(_ context.Context, kid, _ string) ([]*boundKey, error) {
	if kid != "" {
		return s.byID[kid], nil
	}
	return s.all, nil
}

// NewValidator returns a Validator for the given options. It needs at least
// one [Key] ([WithKey]); every other option has a default. Bad configuration
// is an error here, never at the first request.
func NewValidator(opts ...ValidatorOption) (*Validator, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o != nil {
			o.applyToValidator(cfg)
		}
	}
	if err := cfg.err(); err != nil {
		return nil, err
	}
	return newValidator(cfg)
}

func newValidator(cfg *config) (*Validator, error) {
	if len(cfg.keys) == 0 && len(cfg.remote) == 0 {
		return nil, errors.New("connectjwt: no key configured; use WithKey")
	}
	v := &Validator{
		cfg:       cfg,
		static:    &staticKeys{byID: map[string][]*boundKey{}},
		headerKey: textproto.CanonicalMIMEHeaderKey(cfg.headerName),
		access:    normalizeType(cfg.accessType),
		refresh:   normalizeType(cfg.refreshType),
	}
	if v.access == "" || v.access == v.refresh {
		return nil, errors.New("connectjwt: access and refresh token types must differ")
	}
	v.cache = newTokenCache(cfg.cacheSize) // nil when off
	for _, a := range cfg.algorithms {
		if strings.EqualFold(a, "none") {
			return nil, errors.New(`connectjwt: algorithm "none" is never allowed`)
		}
	}
	for _, k := range cfg.keys {
		b, err := bindKey(k)
		if err != nil {
			return nil, err
		}
		if len(cfg.algorithms) > 0 && !slices.Contains(cfg.algorithms, b.alg) {
			return nil, fmt.Errorf("connectjwt: key algorithm %s is not in WithAlgorithms", b.alg)
		}
		v.static.all = append(v.static.all, b)
		v.static.byID[b.id] = append(v.static.byID[b.id], b)
	}
	if len(v.static.all) > 0 {
		types, err := v.localAccessTypes()
		if err != nil {
			return nil, err
		}
		v.local = &trustedIssuer{issuer: cfg.issuer, audience: cfg.audience, keys: v.static,
			types: types, untyped: cfg.acceptUntyped}
		for _, b := range v.static.all {
			if !slices.Contains(v.local.algs, b.alg) {
				v.local.algs = append(v.local.algs, b.alg)
			}
		}
	}
	if v.local == nil && (len(cfg.acceptedTypes) > 0 || cfg.acceptUntyped) {
		return nil, errors.New("connectjwt: WithAcceptedAccessTypes and WithUntypedAccessTokens apply to WithKey keys; " +
			"for a remote key set use its AccessTokenTypes and AcceptUntyped")
	}
	for _, remote := range cfg.remote {
		if err := v.addRemote(cfg, remote); err != nil {
			return nil, err
		}
	}
	// Everything checked: start the first fetch of each remote key set, in
	// the background (a failed fetch does not fail construction).
	for _, remote := range v.remote {
		if rk, ok := remote.keys.(*remoteKeys); ok && cfg.observer != nil {
			rk.observer.Store(&cfg.observer)
		}
		if s, ok := remote.keys.(interface{ start() }); ok {
			s.start()
		}
	}
	return v, nil
}

// addRemote checks a remote key set against the validator's configuration
// and adds it.
func (v *Validator) addRemote(cfg *config, remote *trustedIssuer) error {
	if remote.issuer == "" || remote.issuer == cfg.issuer && v.local != nil {
		return errors.New("connectjwt: every key set needs its own issuer")
	}
	for _, other := range v.remote {
		if other.issuer == remote.issuer {
			return fmt.Errorf("connectjwt: issuer %q is configured twice", remote.issuer)
		}
	}
	if slices.Contains(remote.types, v.refresh) {
		return fmt.Errorf("connectjwt: key set %q: AccessTokenTypes lists the refresh token type", remote.issuer)
	}
	if len(cfg.algorithms) > 0 {
		// WithAlgorithms restricts every key set; a copy, as the option
		// that made it may build other validators.
		restricted := *remote
		restricted.algs = nil
		for _, a := range remote.algs {
			if slices.Contains(cfg.algorithms, a) {
				restricted.algs = append(restricted.algs, a)
			}
		}
		if len(restricted.algs) == 0 {
			return fmt.Errorf("connectjwt: key set %q allows none of WithAlgorithms", remote.issuer)
		}
		remote = &restricted
	}
	v.remote = append(v.remote, remote)
	return nil
}

// localAccessTypes are the normalized access token types accepted from the
// local keys: ours, and those of WithAcceptedAccessTypes, never the
// refresh type.
func (v *Validator) localAccessTypes() ([]string, error) {
	types := []string{v.access}
	for _, typ := range v.cfg.acceptedTypes {
		typ = normalizeType(typ)
		if typ == v.refresh {
			return nil, errors.New("connectjwt: WithAcceptedAccessTypes lists the refresh token type")
		}
		if !slices.Contains(types, typ) {
			types = append(types, typ)
		}
	}
	return types, nil
}

// Validate verifies an access token and returns its claims. Every error is a
// [*Failure] wrapping one of the sentinel errors.
func (v *Validator) Validate(ctx context.Context, token string) (*Claims, error) {
	c, f, _ := v.validateToken(ctx, token, false)
	return claimsOrError(c, f)
}

// ValidateRefresh verifies a refresh token and returns its claims; an access
// token fails with [ErrWrongTokenType].
func (v *Validator) ValidateRefresh(ctx context.Context, token string) (*Claims, error) {
	c, f, _ := v.validateToken(ctx, token, true)
	return claimsOrError(c, f)
}

// ValidateHeader extracts the access token from the configured header of h
// ([Validator.HeaderName]) and verifies it. It applies no policy; see
// [Validator.Authenticate].
func (v *Validator) ValidateHeader(ctx context.Context, h http.Header) (*Claims, error) {
	if v == nil || v.cfg == nil {
		return nil, notConfigured()
	}
	c, f, _ := v.validateHeader(ctx, h[v.headerKey])
	return claimsOrError(c, f)
}

// claimsOrError returns f as an error only when it is set, so a nil
// *Failure never becomes a non-nil error.
func claimsOrError(c *Claims, f *Failure) (*Claims, error) {
	if f != nil {
		return nil, f
	}
	return c, nil
}

// validateHeader validates the token in the header values; the
// CacheResult says whether the verified-token cache answered.
func (v *Validator) validateHeader(ctx context.Context, values []string) (*Claims, *Failure, CacheResult) {
	if v == nil || v.cfg == nil {
		return nil, notConfigured(), CacheUnused
	}
	token, err := tokenFromHeader(values, v.headerKey, v.cfg.scheme, v.cfg.maxTokenBytes)
	if err != nil {
		return nil, fail(err, nil), CacheUnused
	}
	return v.validateToken(ctx, token, false)
}

// notConfigured is the failure of the zero Validator: no key matches.
func notConfigured() *Failure {
	return fail(fmt.Errorf("%w: validator is not configured", ErrInvalidSignature), nil)
}

// joseHeader holds the JOSE header members we act on.
type joseHeader struct {
	alg, typ, kid string
	typed         bool // typ is present (possibly empty)
}

// maxKeysTried bounds signature attempts for a token without kid.
const maxKeysTried = 4

func (v *Validator) validateToken(ctx context.Context, token string, refresh bool) (*Claims, *Failure, CacheResult) {
	if v == nil || v.cfg == nil {
		return nil, notConfigured(), CacheUnused
	}
	if v.cache != nil && !refresh {
		return v.validateCached(ctx, token)
	}
	c, f := v.validateUncached(ctx, token, refresh)
	return c, f, CacheUnused
}

// validateUncached runs every step.
func (v *Validator) validateUncached(ctx context.Context, token string, refresh bool) (*Claims, *Failure) {
	c, f := v.verifyToken(ctx, token, refresh)
	if f != nil {
		return nil, f
	}
	return v.checkRevoked(ctx, c)
}

// verifyToken runs steps 1–8: everything but the revocation check, whose
// answer can change at any time and so is never cached.
func (v *Validator) verifyToken(ctx context.Context, token string, refresh bool) (*Claims, *Failure) {
	if token == "" {
		return nil, fail(ErrMissing, nil)
	}
	if len(token) > v.cfg.maxTokenBytes {
		return nil, fail(fmt.Errorf("%w: token larger than %d bytes", ErrMalformed, v.cfg.maxTokenBytes), nil)
	}
	if !compactJWS(token) {
		return nil, fail(fmt.Errorf("%w: not a compact JWS", ErrMalformed), nil)
	}
	dot1 := strings.IndexByte(token, '.')
	dot2 := dot1 + 1 + strings.IndexByte(token[dot1+1:], '.')

	// 2. JOSE header.
	hdr, err := v.parseHeader(token[:dot1])
	if err != nil {
		return nil, fail(err, nil)
	}
	// With several issuers, the (unverified) iss picks the key set; nothing
	// else is read, and the signature must then verify with that set.
	var payload []byte
	var members []jsonMember
	src := v.local
	if len(v.remote) > 0 {
		if payload, members, err = decodePayload(token[dot1+1 : dot2]); err != nil {
			return nil, fail(err, nil)
		}
		if src, err = v.route(members); err != nil {
			// The (unverified) iss names no trusted issuer: say so, as
			// invalid claims, without echoing it. The token is refused
			// whatever its signature.
			return nil, fail(err, nil)
		}
	}
	// 3. Algorithm.
	if !slices.Contains(src.algs, hdr.alg) {
		return nil, fail(ErrInvalidAlgorithm, nil)
	}
	// 4. Key and signature.
	sig, err := base64.RawURLEncoding.Strict().DecodeString(token[dot2+1:])
	if err != nil {
		return nil, fail(fmt.Errorf("%w: signature is not canonical base64url", ErrMalformed), nil)
	}
	if f := verify(ctx, src.keys, token[:dot2], sig, hdr); f != nil {
		return nil, f
	}
	// 5. Explicit typing (RFC 8725 §3.11): an access type src is trusted
	// for, or our refresh type, which only our own keys sign.
	if refresh {
		if src != v.local || !hdr.typed || !typeMatches(hdr.typ, v.refresh) {
			return nil, fail(ErrWrongTokenType, nil)
		}
	} else if !src.acceptsAccess(hdr) {
		return nil, fail(ErrWrongTokenType, nil)
	}
	// 6. Payload.
	if payload == nil {
		if payload, members, err = decodePayload(token[dot1+1 : dot2]); err != nil {
			return nil, fail(err, nil)
		}
	}
	// 7. Registered claims.
	c := &Claims{Type: hdr.typ, KeyID: hdr.kid, Algorithm: hdr.alg, payload: payload}
	if err := parseClaims(c, members, v.cfg.identityClaim); err != nil {
		return nil, fail(err, nil)
	}
	if err := src.checkIssuerAudience(c); err != nil {
		return nil, fail(err, c)
	}
	// 8. Time.
	if f := v.checkTime(c, v.cfg.now()); f != nil {
		return nil, f
	}
	return c, nil
}

// checkLive runs steps 8 and 9 on claims that passed steps 1–7 before (a
// cache hit).
func (v *Validator) checkLive(ctx context.Context, c *Claims, now time.Time) (*Claims, *Failure) {
	if f := v.checkTime(c, now); f != nil {
		return nil, f
	}
	return v.checkRevoked(ctx, c)
}

// checkTime is step 8: exp (expired), then nbf and iat (not yet valid),
// with leeway.
func (v *Validator) checkTime(c *Claims, now time.Time) *Failure {
	leeway := v.cfg.leeway
	if !now.Before(c.ExpiresAt.Add(leeway)) {
		return fail(ErrExpired, c)
	}
	if !c.NotBefore.IsZero() && now.Add(leeway).Before(c.NotBefore) {
		return fail(ErrNotYetValid, c)
	}
	if !c.IssuedAt.IsZero() && now.Add(leeway).Before(c.IssuedAt) {
		return fail(fmt.Errorf("%w: issued in the future", ErrNotYetValid), c)
	}
	return nil
}

// revocationUnavailable is the failure of a revocation check that could not
// be answered; cause says why.
func revocationUnavailable(c *Claims, cause error) *Failure {
	return failCause(fmt.Errorf("%w: revocation check failed", ErrUnavailable), c, cause)
}

// checkRevoked is step 9: the revocation store, when one is configured.
func (v *Validator) checkRevoked(ctx context.Context, c *Claims) (*Claims, *Failure) {
	if bl := v.cfg.store; bl != nil {
		start := v.observeStart()
		revoked, err := bl.IsRevoked(ctx, c)
		if v.cfg.observer != nil {
			v.observeEvent(ctx, Event{Kind: EventRevocationCheck, Issuer: c.Issuer, Err: err, Revoked: revoked, Duration: time.Since(start)})
		}
		if err != nil {
			return nil, revocationUnavailable(c, err)
		}
		if revoked {
			return nil, fail(ErrRevoked, c)
		}
	}
	return c, nil
}

func (v *Validator) parseHeader(seg string) (joseHeader, error) {
	var header joseHeader
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return header, fmt.Errorf("%w: header is not canonical base64url", ErrMalformed)
	}
	members, err := jsonObject(raw)
	if err != nil {
		return header, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	for _, m := range members {
		var err error
		switch string(m.name) {
		case "alg":
			header.alg, err = parseString("alg", m.value)
		case "typ":
			header.typ, err = parseString("typ", m.value)
			header.typed = true
		case "kid":
			header.kid, err = parseString("kid", m.value)
			if err == nil && len(header.kid) > maxKeyIDLen {
				err = errors.New("kid is too long")
			}
		case "crit":
			// We understand no extension, so any crit is unsupported
			// (RFC 7515 §4.1.11).
			return header, fmt.Errorf("%w: crit header is not supported", ErrMalformed)
		case "cty":
			cty, cerr := parseString("cty", m.value)
			if cerr != nil || typeMatches(cty, "jwt") {
				return header, fmt.Errorf("%w: nested tokens are not accepted", ErrMalformed)
			}
			// jku, x5u, jwk and x5c are deliberately ignored: keys come
			// from configuration only (RFC 8725 §3.10).
		}
		if err != nil {
			return header, fmt.Errorf("%w: header member is not a string", ErrMalformed)
		}
	}
	if header.alg == "" {
		return header, fmt.Errorf("%w: alg header is missing", ErrMalformed)
	}
	return header, nil
}

func decodePayload(seg string) ([]byte, []jsonMember, error) {
	payload, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: payload is not canonical base64url", ErrMalformed)
	}
	members, err := jsonObject(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	return payload, members, nil
}

// route picks the trusted issuer named by the payload's iss, falling back
// to the local keys. It fails with invalid claims when no trusted issuer can
// accept the token: its iss names none of them and the local keys are absent
// or have an issuer of their own ([WithIssuer]) that differs, or iss is not
// a string.
func (v *Validator) route(members []jsonMember) (*trustedIssuer, error) {
	raw, ok := member(members, "iss")
	if !ok {
		if v.local == nil {
			return nil, errIssuerMissing
		}
		return v.local, nil
	}
	iss, err := parseString("iss", raw)
	if err != nil {
		return nil, err
	}
	for _, r := range v.remote {
		if r.issuer == iss {
			return r, nil
		}
	}
	if v.local == nil || v.local.issuer != "" && v.local.issuer != iss {
		return nil, errIssuerNotTrusted
	}
	return v.local, nil
}

var (
	errIssuerMissing    = fmt.Errorf("%w: iss is missing", ErrInvalidClaims)
	errIssuerNotTrusted = fmt.Errorf("%w: issuer is not trusted", ErrInvalidClaims)
)

// verify checks the signature with the keys bound to alg (and kid, when the
// token names one), classifying golang-jwt's errors by sentinel.
func verify(ctx context.Context, keys keySource, signingString string, sig []byte, hdr joseHeader) *Failure {
	candidates, err := keys.lookup(ctx, hdr.kid, hdr.alg)
	if err != nil {
		return failCause(fmt.Errorf("%w: keys are unavailable", ErrUnavailable), nil, err)
	}
	tried := 0
	for _, key := range candidates {
		if key.alg != hdr.alg {
			continue
		}
		if tried == maxKeysTried {
			break
		}
		tried++
		err := verifySignature(key, signingString, sig)
		if err == nil {
			return nil
		}
		// Any error means this key does not verify this signature
		// (golang-jwt returns rsa.ErrVerification for RS/PS,
		// ErrECDSAVerification, ErrEd25519Verification or
		// ErrSignatureInvalid for the others); keys are bound to their
		// algorithm at construction, so try the next candidate.
	}
	if tried == 0 {
		return fail(fmt.Errorf("%w: no key matches the token", ErrInvalidSignature), nil)
	}
	return fail(ErrInvalidSignature, nil)
}

// verifySignature is k.method.Verify, with HMAC keys served from the key's
// pool of keyed hashes.
func verifySignature(k *boundKey, signingString string, sig []byte) error {
	if k.macs == nil {
		return k.method.Verify(signingString, sig, k.verify)
	}
	state := k.macs.Get().(*hmacState) //nolint:errcheck,forcetypeassert // the pool makes only *hmacState
	defer k.macs.Put(state)
	state.mac.Reset()
	state.buf = append(state.buf[:0], signingString...)
	state.mac.Write(state.buf)
	state.buf = state.mac.Sum(state.buf[:0])
	if !hmac.Equal(sig, state.buf) {
		return jwt.ErrSignatureInvalid
	}
	return nil
}

// hmacState is a keyed hash and a scratch buffer for the signing input.
type hmacState struct {
	mac hash.Hash
	buf []byte
}

func (t *trustedIssuer) checkIssuerAudience(c *Claims) error {
	if t.issuer != "" && c.Issuer != t.issuer {
		return errIssuerNotTrusted
	}
	if len(t.audience) == 0 {
		if len(c.Audience) > 0 {
			return fmt.Errorf("%w: token has an audience but none is configured", ErrInvalidClaims)
		}
		return nil
	}
	for _, a := range c.Audience {
		if slices.Contains(t.audience, a) {
			return nil
		}
	}
	return fmt.Errorf("%w: invalid audience", ErrInvalidClaims)
}

// typeMatches reports whether typ, a typ header, names the normalized type
// want.
func typeMatches(typ, want string) bool {
	return normalizeType(typ) == want
}

// normalizeType lowercases a typ value and drops an "application/" prefix
// (RFC 7515 §4.1.9).
func normalizeType(typ string) string {
	t := strings.ToLower(typ)
	return strings.TrimPrefix(t, "application/")
}
