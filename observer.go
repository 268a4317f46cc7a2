package connectjwt

import (
	"context"
	"time"
)

// An Observer sees every decision a [Validator] makes and what it does in
// the background, for logs and metrics. Install one with [WithObserver];
// [NewSlogObserver] writes to a [log/slog] logger, and the otelmetrics
// module records OpenTelemetry metrics.
//
// Decisions are reported on the goroutine of the call they decide, before
// the call goes on; events on whichever goroutine did the work (a key-set
// fetch runs on its own). So both methods must be quick, must not block, and
// must be safe for concurrent use. Neither [Decision] nor [Event] ever holds
// token text or key material. An Observer must not modify the [Claims] or
// [Failure] it is shown: they are shared with the call.
type Observer interface {
	// ObserveDecision is called once per authenticated call, with the
	// call's context.
	ObserveDecision(ctx context.Context, d Decision)
	// ObserveEvent is called for each background event (see [EventKind]).
	ObserveEvent(ctx context.Context, e Event)
}

// WithObserver reports every decision and background event of the
// validator to o. Without it (or with a nil o) nothing is reported and
// authentication does no extra work.
func WithObserver(o Observer) ValidatorOption {
	return validatorOption(func(c *config) { c.observer = o })
}

// Outcome is how a call was decided.
type Outcome uint8

// The outcomes of a [Decision].
const (
	// OutcomeAllowed: a valid token passed every check.
	OutcomeAllowed Outcome = iota + 1
	// OutcomeAnonymous: the call went on without a token, because the
	// procedure is public, or optional and the call carried no token.
	OutcomeAnonymous
	// OutcomeRefused: the call was refused; [Decision.Reason] says why.
	OutcomeRefused
)

// String returns "allowed", "anonymous" or "refused".
func (o Outcome) String() string {
	switch o {
	case OutcomeAllowed:
		return "allowed"
	case OutcomeAnonymous:
		return "anonymous"
	case OutcomeRefused:
		return "refused"
	}
	return "unknown"
}

// CacheResult says whether the verified-token cache ([WithCacheSize])
// answered a call.
type CacheResult uint8

// The cache results of a [Decision].
const (
	// CacheUnused: the cache was off or not consulted (no token, a public
	// procedure, a header that holds no token).
	CacheUnused CacheResult = iota
	// CacheHit: the token had been verified before; only the time and
	// revocation checks ran.
	CacheHit
	// CacheMiss: the token was verified in full.
	CacheMiss
)

// String returns "unused", "hit" or "miss".
func (c CacheResult) String() string {
	switch c {
	case CacheHit:
		return "hit"
	case CacheMiss:
		return "miss"
	default:
		return "unused"
	}
}

// A Decision is the outcome of one call's authentication.
//
// Issuer, KeyID and Algorithm come from a token whose signature verified;
// for a token refused before that (malformed, bad signature, unknown key)
// they are empty, so an attacker cannot choose the values an Observer
// records (or the cardinality of a metric).
type Decision struct {
	// Procedure is the procedure called, "/package.Service/Method" (for
	// the net/http middleware, the request path).
	Procedure string
	// Outcome is how the call was decided.
	Outcome Outcome
	// Reason is why the call was refused; REASON_UNSPECIFIED otherwise.
	Reason Reason
	// Failure is the refusal, nil unless Outcome is [OutcomeRefused]. Its
	// Cause may hold a store's or key server's error, meant for logs.
	Failure *Failure
	// Claims are the verified claims, or nil.
	Claims *Claims
	// Issuer is the verified token's iss claim, or empty.
	Issuer string
	// KeyID is the verified token's kid header, or empty.
	KeyID string
	// Algorithm is the alg the token verified with, or empty.
	Algorithm string
	// Cache says whether the verified-token cache answered.
	Cache CacheResult
	// Duration is the time authentication took.
	Duration time.Duration
}

// EventKind is the kind of a background [Event].
type EventKind uint8

// The kinds of [Event].
const (
	// EventJWKSFetch: a fetch of a remote JWK Set ([WithJWKS]) finished.
	// Err is nil when it succeeded; Keys and KeysSkipped count the keys
	// bound and the ones that could not be used.
	EventJWKSFetch EventKind = iota + 1
	// EventJWKSRateLimited: a token named a key the set lacks, and a new
	// fetch was not started because the rate limit refused it.
	EventJWKSRateLimited
	// EventRevocationCheck: the [RevocationStore] answered (Revoked) or failed
	// (Err), after Duration.
	EventRevocationCheck
	// EventStreamEnd: an open stream was ended by authentication: its
	// token expired (Reason REASON_EXPIRED), was revoked (REASON_REVOKED),
	// or could not be re-checked (REASON_UNAVAILABLE).
	EventStreamEnd
)

// String returns the kind's name, e.g. "jwks_fetch".
func (k EventKind) String() string {
	switch k {
	case EventJWKSFetch:
		return "jwks_fetch"
	case EventJWKSRateLimited:
		return "jwks_rate_limited"
	case EventRevocationCheck:
		return "revocation_check"
	case EventStreamEnd:
		return "stream_end"
	}
	return "unknown"
}

// An Event is something a [Validator] did besides deciding a call.
type Event struct {
	// Kind says what happened and which fields are set.
	Kind EventKind
	// Issuer is the key set's issuer (JWKS events) or the token's
	// (revocation checks, stream ends).
	Issuer string
	// Procedure is the stream's procedure (stream ends) or the call's
	// (revocation checks), when known.
	Procedure string
	// Err is why a fetch or revocation check failed, or nil. It may carry
	// a key server's or store's error text, meant for logs.
	Err error
	// Reason is why a stream ended.
	Reason Reason
	// Duration is how long a fetch or revocation check took.
	Duration time.Duration
	// Keys is the number of keys a successful fetch bound.
	Keys int
	// KeysSkipped is the number of keys in a fetched set that cannot be
	// used (wrong type or use, unsupported algorithm, too many).
	KeysSkipped int
	// Revoked is a revocation check's answer.
	Revoked bool
}

// Emit helpers for the call sites, on a configured Validator (v.cfg set).
// Each is small enough to inline, checks for an observer first and does
// nothing else without one: with no observer installed, authentication
// reads no clock and builds nothing.

// observeStart returns the time a decision starts, or the zero time (no
// clock read) when nothing observes it.
func (v *Validator) observeStart() time.Time {
	if v.cfg.observer == nil {
		return time.Time{}
	}
	return observeNow()
}

// observeNow is time.Now behind a call that keeps observeStart inlinable.
//
//go:noinline
func observeNow() time.Time { return time.Now() }

// observeDecision reports the decision on one call that began at start
// (from [Validator.observeStart]): claims when it passed with a token, f
// when it was refused, neither when it went on anonymously.
func (v *Validator) observeDecision(ctx context.Context, procedure string, claims *Claims, f *Failure, cache CacheResult, start time.Time) {
	if o := v.cfg.observer; o != nil {
		emitDecision(ctx, o, procedure, claims, f, cache, start)
	}
}

func emitDecision(ctx context.Context, o Observer, procedure string, claims *Claims, f *Failure, cache CacheResult, start time.Time) {
	o.ObserveDecision(ctx, newDecision(procedure, claims, f, cache, time.Since(start)))
}

// observeEvent reports a background event.
func (v *Validator) observeEvent(ctx context.Context, e Event) {
	if o := v.cfg.observer; o != nil {
		emitEvent(ctx, o, e)
	}
}

func emitEvent(ctx context.Context, o Observer, e Event) {
	o.ObserveEvent(ctx, e)
}

// newDecision builds a Decision. A refusal's claims are its Failure's.
func newDecision(procedure string, claims *Claims, f *Failure, cache CacheResult, d time.Duration) Decision {
	dec := Decision{Procedure: procedure, Claims: claims, Cache: cache, Duration: d}
	switch {
	case f != nil:
		dec.Outcome, dec.Reason, dec.Failure, dec.Claims = OutcomeRefused, f.Reason, f, f.Claims
		if dec.Reason == ReasonUnspecified {
			dec.Reason = ReasonOf(f.Err)
		}
		if dec.Procedure == "" {
			dec.Procedure = f.Procedure
		}
	case claims != nil:
		dec.Outcome = OutcomeAllowed
	default:
		dec.Outcome = OutcomeAnonymous
	}
	if c := dec.Claims; c != nil {
		dec.Issuer, dec.KeyID, dec.Algorithm = c.Issuer, c.KeyID, c.Algorithm
	}
	return dec
}
