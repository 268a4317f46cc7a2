package connectjwt

import (
	"context"
	"fmt"
	"time"
)

// An Option configures an [Issuer], a [Validator] or an [Interceptor]. Most
// options apply to all three, so one slice of options can build an issuer
// and the interceptor that accepts its tokens; an option that does not apply
// to a constructor (say [WithPublicProcedures] given to [NewIssuer]) makes it
// return an error rather than be silently ignored.
type Option interface {
	apply(*config)
	scope() scope
	name() string
}

type scope uint8

const (
	scopeIssuer scope = 1 << iota
	scopeValidator
	scopeInterceptor

	scopeShared = scopeIssuer | scopeValidator | scopeInterceptor
	scopeVerify = scopeValidator | scopeInterceptor
)

type option struct {
	s    scope
	n    string
	setF func(*config)
}

func (o option) apply(c *config) { o.setF(c) }
func (o option) scope() scope    { return o.s }
func (o option) name() string    { return o.n }

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

	// Issuing.
	accessTTL  time.Duration
	refreshTTL time.Duration
	claimsHook func(ctx context.Context, identity string) (map[string]any, error)

	// Interceptor.
	loaders     loaders
	policies    map[string]Policy
	claimsCheck func(ctx context.Context, procedure string, claims *Claims) error
	blocklist   Blocklist
	cacheSize   int // verified-token cache entries: 0 default, < 0 off (cache.go)
	// streamRecheck: how often open streams ask the blocklist again; 0
	// default, < 0 off (revocation.go).
	streamRecheck time.Duration
	// observer sees every decision and background event, or nil
	// (observer.go).
	observer Observer

	// Remote key sets, one per issuer (JWKS).
	remote []*trustedIssuer

	errs []error
}

func newConfig(s scope, ctor string, opts []Option) (*config, error) {
	c := &config{
		headerName:    DefaultHeaderName,
		scheme:        DefaultHeaderScheme,
		identityClaim: DefaultIdentityClaim,
		now:           time.Now,
		accessType:    DefaultAccessTokenType,
		refreshType:   DefaultRefreshTokenType,
		maxTokenBytes: DefaultMaxTokenBytes,
		accessTTL:     DefaultAccessTokenTTL,
		refreshTTL:    DefaultRefreshTokenTTL,
		policies:      map[string]Policy{},
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if o.scope()&s == 0 {
			return nil, fmt.Errorf("connectjwt: %s does not apply to %s", o.name(), ctor)
		}
		o.apply(c)
	}
	if len(c.errs) > 0 {
		return nil, c.errs[0]
	}
	return c, nil
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
	return option{scopeShared, "WithKey", func(c *config) { c.keys = append(c.keys, k) }}
}

// WithAlgorithms restricts the accepted alg values further. By default the
// accepted algorithms are exactly those of the configured keys; "none" is
// never accepted.
func WithAlgorithms(algs ...string) Option {
	return option{scopeVerify, "WithAlgorithms", func(c *config) { c.algorithms = append(c.algorithms, algs...) }}
}

// WithHeader sets the header that carries the token and its scheme (Flask's
// JWT_HEADER_NAME and JWT_HEADER_TYPE), by default "Authorization" and
// "Bearer". The scheme is matched case-insensitively; an empty scheme means
// the header value is the bare token.
func WithHeader(name, scheme string) Option {
	return option{scopeVerify, "WithHeader", func(c *config) {
		if name == "" {
			c.errorf("WithHeader needs a header name")
		}
		c.headerName, c.scheme = name, scheme
	}}
}

// WithIdentityClaim names the claim that holds the identity (Flask's
// JWT_IDENTITY_CLAIM), by default "sub". It must be a non-empty string in
// every accepted token; [IdentityFromContext] returns it.
func WithIdentityClaim(name string) Option {
	return option{scopeShared, "WithIdentityClaim", func(c *config) {
		if name == "" {
			c.errorf("WithIdentityClaim needs a claim name")
		}
		c.identityClaim = name
	}}
}

// WithIssuer sets the iss claim that an [Issuer] writes and that validation
// requires. Without it, validation accepts any issuer.
func WithIssuer(iss string) Option {
	return option{scopeShared, "WithIssuer", func(c *config) { c.issuer = iss }}
}

// WithAudience sets the aud claim that an [Issuer] writes and that validation
// requires (a token is accepted when one of its audiences is one of these).
// Without it, validation rejects every token that carries an aud claim
// (RFC 7519 §4.1.3).
func WithAudience(aud ...string) Option {
	return option{scopeShared, "WithAudience", func(c *config) { c.audience = append(c.audience, aud...) }}
}

// WithLeeway allows for clock skew when checking exp, nbf and iat (Flask's
// JWT_DECODE_LEEWAY). The default is none; at most five minutes.
func WithLeeway(d time.Duration) Option {
	return option{scopeVerify, "WithLeeway", func(c *config) {
		if d < 0 || d > maxLeeway {
			c.errorf("WithLeeway must be between 0 and %s", maxLeeway)
		}
		c.leeway = d
	}}
}

// WithClock sets the clock used to issue and check tokens, for tests.
func WithClock(now func() time.Time) Option {
	return option{scopeShared, "WithClock", func(c *config) {
		if now == nil {
			c.errorf("WithClock needs a function")
		}
		c.now = now
	}}
}

// WithTokenTypes sets the JOSE typ header values of access and refresh
// tokens, by default "at+jwt" (RFC 9068) and "refresh+jwt". They must differ,
// so neither kind of token is ever accepted as the other. Matching is
// case-insensitive and ignores an "application/" prefix.
func WithTokenTypes(access, refresh string) Option {
	return option{scopeShared, "WithTokenTypes", func(c *config) {
		if normalizeType(access) == "" || normalizeType(access) == normalizeType(refresh) {
			c.errorf("WithTokenTypes needs two different, non-empty types")
		}
		c.accessType, c.refreshType = access, refresh
	}}
}

// WithMaxTokenSize caps the size of the header value that is parsed at all,
// by default 8 KiB. Larger values are refused as malformed before any
// decoding.
func WithMaxTokenSize(n int) Option {
	return option{scopeVerify, "WithMaxTokenSize", func(c *config) {
		if n < minTokenBytes || n > maxConfiguredTokenBytes {
			c.errorf("WithMaxTokenSize must be between %d and %d", minTokenBytes, maxConfiguredTokenBytes)
		}
		c.maxTokenBytes = n
	}}
}

// A Blocklist says whether a token whose signature verified has been revoked
// (Flask's token_in_blocklist_loader). An error fails the call closed with
// [ErrUnavailable]: a revoked token never passes because a store was down.
type Blocklist interface {
	IsRevoked(ctx context.Context, claims *Claims) (bool, error)
}

// BlocklistFunc adapts a function to [Blocklist].
type BlocklistFunc func(ctx context.Context, claims *Claims) (bool, error)

// IsRevoked calls f.
func (f BlocklistFunc) IsRevoked(ctx context.Context, claims *Claims) (bool, error) {
	return f(ctx, claims)
}

// WithBlocklist checks every token whose signature, type and claims verified
// against b; a revoked token fails with [ErrRevoked]. Given to [NewIssuer],
// it also applies to the refresh tokens that [AuthService] accepts.
func WithBlocklist(b Blocklist) Option {
	return option{scopeShared, "WithBlocklist", func(c *config) { c.blocklist = b }}
}
