package connectjwt

import (
	"context"
	"fmt"
	"time"
)

// An IssuerOption configures an [Issuer] ([NewIssuer]).
type IssuerOption interface {
	applyToIssuer(*config)
}

// A ValidatorOption configures a [Validator] ([NewValidator]).
type ValidatorOption interface {
	applyToValidator(*config)
}

// An Option configures both an [Issuer] and a [Validator]: the key, issuer,
// audience, identity claim, clock, token types and revocation store, which
// must agree for the validator to accept the issuer's tokens. Keep them in
// one value with [WithOptions] and give it to both constructors:
//
//	shared := connectjwt.WithOptions(
//		connectjwt.WithKey(key),
//		connectjwt.WithIssuer("https://api.example.com"),
//		connectjwt.WithAudience("api"),
//	)
//	issuer, err := connectjwt.NewIssuer(shared, connectjwt.WithTokenLifetimes(15*time.Minute, 24*time.Hour))
//	validator, err := connectjwt.NewValidator(shared, connectjwt.WithLeeway(5*time.Second))
//
// Options that apply to one constructor only have their own types
// ([IssuerOption], [ValidatorOption], [InterceptorOption]), so an option
// given to the wrong constructor does not compile.
type Option interface {
	IssuerOption
	ValidatorOption
}

// sharedOption applies to issuers and validators.
type sharedOption func(*config)

func (o sharedOption) applyToIssuer(c *config)    { o(c) }
func (o sharedOption) applyToValidator(c *config) { o(c) }

// validatorOption applies to validators only.
type validatorOption func(*config)

func (o validatorOption) applyToValidator(c *config) { o(c) }

// issuerOption applies to issuers only.
type issuerOption func(*config)

func (o issuerOption) applyToIssuer(c *config) { o(c) }

// optionList is the result of WithOptions.
type optionList []Option

func (l optionList) applyToIssuer(c *config) {
	for _, o := range l {
		if o != nil {
			o.applyToIssuer(c)
		}
	}
}

func (l optionList) applyToValidator(c *config) {
	for _, o := range l {
		if o != nil {
			o.applyToValidator(c)
		}
	}
}

// WithOptions composes options into one [Option], so the options an
// [Issuer] and the [Validator] that accepts its tokens share can be kept in
// one value.
func WithOptions(opts ...Option) Option {
	return optionList(opts)
}

// Defaults, following flask-jwt-extended where it has one.
const (
	DefaultHeaderName        = "Authorization"
	DefaultHeaderScheme      = "Bearer"
	DefaultIdentityClaim     = "sub"
	DefaultAccessTokenType   = "at+jwt"      // RFC 9068
	DefaultRefreshTokenType  = "refresh+jwt" // anything but the access type
	DefaultAccessTokenTTL    = 15 * time.Minute
	DefaultRefreshTokenTTL   = 30 * 24 * time.Hour
	DefaultMaxTokenBytes     = 8 << 10
	maxKeyIDLen              = 256
	maxLeeway                = 5 * time.Minute
	minTokenBytes            = 16
	maxConfiguredTokenBytes  = 64 << 10
	maxConfiguredStringBytes = 1 << 10
)

type config struct {
	keys          []Key
	algorithms    []string
	headerName    string
	scheme        string
	identityClaim string
	issuer        string
	audience      []string
	leeway        time.Duration
	now           func() time.Time
	accessType    string
	refreshType   string
	maxTokenBytes int
	// Further access token types accepted from the local keys, and whether
	// tokens without typ are (WithAcceptedAccessTypes,
	// WithUntypedAccessTokens).
	acceptedTypes []string
	acceptUntyped bool

	// Issuing.
	accessTTL   time.Duration
	refreshTTL  time.Duration
	sessionTTL  time.Duration // absolute lifetime of a login's tokens; 0: refreshTTL (issue.go)
	extraClaims func(ctx context.Context, identity string) (map[string]any, error)

	// Authorization.
	policies    map[string]Policy
	claimsCheck func(ctx context.Context, procedure string, claims *Claims) error
	store       RevocationStore
	cacheSize   int // verified-token cache entries, 0 for none (cache.go)
	// streamRecheck is how often open streams ask the revocation store
	// again, 0 for never (revocation.go).
	streamRecheck time.Duration
	// observer sees every decision and background event, or nil
	// (observer.go).
	observer Observer

	// Remote key sets, one per issuer (JWKS).
	remote []*trustedIssuer

	errs []error
}

func defaultConfig() *config {
	return &config{
		headerName:    DefaultHeaderName,
		scheme:        DefaultHeaderScheme,
		identityClaim: DefaultIdentityClaim,
		now:           time.Now,
		accessType:    DefaultAccessTokenType,
		refreshType:   DefaultRefreshTokenType,
		maxTokenBytes: DefaultMaxTokenBytes,
		accessTTL:     DefaultAccessTokenTTL,
		refreshTTL:    DefaultRefreshTokenTTL,
		cacheSize:     DefaultCacheSize,
		streamRecheck: DefaultStreamRevocationCheck,
		policies:      map[string]Policy{},
	}
}

func (c *config) err() error {
	if len(c.errs) > 0 {
		return c.errs[0]
	}
	return nil
}

func (c *config) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("connectjwt: "+format, args...))
}

// WithKey adds a key (see [Key]). Tokens are verified only with a key whose
// algorithm equals their alg header (and whose ID equals their kid, when the
// token has one). An [Issuer] signs with the last key that holds signing
// material, so appending a new key rotates signing while tokens signed with
// the older keys keep verifying until their key is removed.
func WithKey(k Key) Option {
	return sharedOption(func(c *config) { c.keys = append(c.keys, k) })
}

// WithAlgorithms restricts the accepted alg values further, for the
// [WithKey] keys and every remote key set ([WithJWKS]) alike. By default the
// accepted algorithms are exactly those of the configured keys (and a
// remote set's own list); "none" is never accepted. A key, or a remote key
// set, left with no accepted algorithm makes [NewValidator] fail.
func WithAlgorithms(algs ...string) ValidatorOption {
	return validatorOption(func(c *config) { c.algorithms = append(c.algorithms, algs...) })
}

// WithHeader sets the header that carries the token and its scheme (Flask's
// JWT_HEADER_NAME and JWT_HEADER_TYPE), by default "Authorization" and
// "Bearer". The scheme is matched case-insensitively; an empty scheme means
// the header value is the bare token.
func WithHeader(name, scheme string) ValidatorOption {
	return validatorOption(func(c *config) {
		if name == "" {
			c.errorf("WithHeader needs a header name")
		}
		c.headerName, c.scheme = name, scheme
	})
}

// WithIdentityClaim names the claim that holds the identity (Flask's
// JWT_IDENTITY_CLAIM), by default "sub". It must be a non-empty string in
// every accepted token; [IdentityFromContext] returns it.
func WithIdentityClaim(name string) Option {
	return sharedOption(func(c *config) {
		if name == "" {
			c.errorf("WithIdentityClaim needs a claim name")
		}
		c.identityClaim = name
	})
}

// WithIssuer sets the iss claim that an [Issuer] writes and that validation
// requires. Without it, validation accepts any issuer.
func WithIssuer(iss string) Option {
	return sharedOption(func(c *config) { c.issuer = iss })
}

// WithAudience sets the aud claim that an [Issuer] writes and that validation
// requires (a token is accepted when one of its audiences is one of these).
// Without it, validation rejects every token that carries an aud claim
// (RFC 7519 §4.1.3).
func WithAudience(aud ...string) Option {
	return sharedOption(func(c *config) { c.audience = append(c.audience, aud...) })
}

// WithLeeway allows for clock skew when checking exp, nbf and iat (Flask's
// JWT_DECODE_LEEWAY). The default is none; at most five minutes.
func WithLeeway(d time.Duration) ValidatorOption {
	return validatorOption(func(c *config) {
		if d < 0 || d > maxLeeway {
			c.errorf("WithLeeway must be between 0 and %s", maxLeeway)
		}
		c.leeway = d
	})
}

// WithClock sets the clock used to issue and check tokens, for tests.
func WithClock(now func() time.Time) Option {
	return sharedOption(func(c *config) {
		if now == nil {
			c.errorf("WithClock needs a function")
		}
		c.now = now
	})
}

// WithTokenTypes sets the JOSE typ header values of access and refresh
// tokens, by default "at+jwt" (RFC 9068) and "refresh+jwt". They must differ,
// so neither kind of token is ever accepted as the other. Matching is
// case-insensitive and ignores an "application/" prefix. They apply to the
// [WithKey] keys; [WithAcceptedAccessTypes] and [WithUntypedAccessTokens]
// accept further access tokens from those keys, and each remote key set has
// its own [RemoteKeySet.AccessTokenTypes].
func WithTokenTypes(access, refresh string) Option {
	return sharedOption(func(c *config) {
		if normalizeType(access) == "" || normalizeType(access) == normalizeType(refresh) {
			c.errorf("WithTokenTypes needs two different, non-empty types")
		}
		c.accessType, c.refreshType = access, refresh
	})
}

// WithAcceptedAccessTypes accepts access tokens with these typ header
// values, besides the access type of [WithTokenTypes], when they verify with
// the [WithKey] keys: "JWT" for tokens issued by flask-jwt-simple, PyJWT and
// most libraries. Matching is as for [WithTokenTypes]. An empty type is an
// error (see [WithUntypedAccessTokens]), and so is the refresh type: a
// refresh token never passes as an access token. Tokens that an [Issuer]
// creates keep their own types. It needs [WithKey] keys; for remote key
// sets see [RemoteKeySet.AccessTokenTypes].
//
// Explicit typing is what keeps tokens minted for one purpose out of
// another (RFC 8725 §3.11). Without a specific typ, a token this issuer
// minted for another purpose (an ID token, a token for another API) and
// signed with the same key can be replayed here as an access token. Accept
// JWT or untyped tokens only from issuers that do not type their access
// tokens, and then require an audience that only access tokens for this
// service carry.
func WithAcceptedAccessTypes(types ...string) ValidatorOption {
	return validatorOption(func(c *config) {
		if len(types) == 0 {
			c.errorf("WithAcceptedAccessTypes needs at least one type")
		}
		for _, t := range types {
			if normalizeType(t) == "" {
				c.errorf("WithAcceptedAccessTypes: an empty type is not a type; use WithUntypedAccessTokens")
			}
		}
		c.acceptedTypes = append(c.acceptedTypes, types...)
	})
}

// WithUntypedAccessTokens accepts access tokens without a typ header when
// they verify with the [WithKey] keys, as PyJWT, jose and several identity
// providers make them. Tokens with an empty typ are still refused, and the
// refresh tokens of an [Issuer] always carry their type, so none of them
// passes as an access token. It needs [WithKey] keys; for remote key sets
// see [RemoteKeySet.AcceptUntyped].
//
// Without a specific typ, a token this issuer minted for another purpose
// (an ID token, a token for another API) and signed with the same key can
// be replayed here as an access token (RFC 8725 §3.11). Accept JWT or
// untyped tokens only from issuers that do not type their access tokens,
// and then require an audience that only access tokens for this service
// carry.
func WithUntypedAccessTokens() ValidatorOption {
	return validatorOption(func(c *config) { c.acceptUntyped = true })
}

// WithMaxTokenSize caps the size of the header value that is parsed at all,
// by default 8 KiB. Larger values are refused as malformed before any
// decoding.
func WithMaxTokenSize(n int) ValidatorOption {
	return validatorOption(func(c *config) {
		if n < minTokenBytes || n > maxConfiguredTokenBytes {
			c.errorf("WithMaxTokenSize must be between %d and %d", minTokenBytes, maxConfiguredTokenBytes)
		}
		c.maxTokenBytes = n
	})
}

// WithRevocationStore sets where revoked tokens are recorded. A [Validator]
// refuses every token the store reports revoked ([ErrRevoked]; a store
// error fails the call closed with [ErrUnavailable]); an [Issuer] refuses
// revoked refresh tokens, and the [AuthService] built on it records Logout
// and Revoke there. Give it to both in one shared option ([WithOptions]).
func WithRevocationStore(store RevocationStore) Option {
	return sharedOption(func(c *config) { c.store = store })
}
