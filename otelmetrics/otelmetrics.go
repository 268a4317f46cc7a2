// Package otelmetrics records what a [connectjwt.Validator] decides and does
// as OpenTelemetry metrics, and marks refusals on the call's span.
//
//	obs, err := otelmetrics.NewObserver()
//	...
//	v, err := connectjwt.NewValidator(keys, connectjwt.WithObserver(obs))
//
// It records, named in OpenTelemetry's semantic-convention style:
//
//   - connectjwt.decisions (counter, {decision}): every authenticated call,
//     by connectjwt.outcome (allowed, anonymous, refused), connectjwt.reason
//     (refusals only, e.g. REASON_EXPIRED), rpc.service and rpc.method;
//   - connectjwt.validation.duration (histogram, s): the time
//     authentication took, by connectjwt.outcome, rpc.service and rpc.method;
//   - connectjwt.cache.lookups (counter, {lookup}): verified-token cache
//     lookups, by connectjwt.cache.result (hit, miss);
//   - connectjwt.jwks.fetches (counter, {fetch}): JWK Set fetches, by
//     connectjwt.issuer and connectjwt.jwks.result (ok, error,
//     rate_limited);
//   - connectjwt.jwks.fetch.duration (histogram, s), by connectjwt.issuer
//     and connectjwt.jwks.result;
//   - connectjwt.jwks.keys_skipped (counter, {key}): keys of fetched sets
//     that could not be used, by connectjwt.issuer;
//   - connectjwt.revocation.duration (histogram, s): revocation-store
//     checks, by connectjwt.revocation.result (not_revoked, revoked,
//     error); its count by result is the error count;
//   - connectjwt.stream.ends (counter, {stream}): streams ended by
//     authentication, by connectjwt.reason, rpc.service and rpc.method.
//
// rpc.service and rpc.method are set only for procedure names of the form
// "/package.Service/Method", and only for the first 1000 kinds of decision
// (procedure, outcome and reason) seen; other names and later kinds are
// recorded without them. The net/http middleware reports request paths,
// which a client chooses, so this bound keeps a client from growing the
// number of series.
// No attribute ever holds token text, a key ID or an identity.
//
// When the call's context holds a recording span (otelconnect's, or
// otelhttp's around the handler), a refusal adds a "connectjwt.refused"
// event to it and sets connectjwt.outcome and connectjwt.reason on it. A
// Connect request gate runs before interceptors, so a refusal there is on
// the span only when the span is started outside the Connect handler (e.g.
// by otelhttp).
package otelmetrics

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/connectjwt/connectjwt"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the meter.
const ScopeName = "github.com/connectjwt/connectjwt/otelmetrics"

// Attribute keys.
const (
	keyOutcome     = attribute.Key("connectjwt.outcome")
	keyReason      = attribute.Key("connectjwt.reason")
	keyCacheResult = attribute.Key("connectjwt.cache.result")
	keyIssuer      = attribute.Key("connectjwt.issuer")
	keyJWKSResult  = attribute.Key("connectjwt.jwks.result")
	keyRevocation  = attribute.Key("connectjwt.revocation.result")
	keyRPCService  = attribute.Key("rpc.service")
	keyRPCMethod   = attribute.Key("rpc.method")
)

// An Option configures [NewObserver].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	provider metric.MeterProvider
}

// WithMeterProvider sets the meter provider, by default the global one
// ([otel.GetMeterProvider]).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) { c.provider = mp })
}

// NewObserver returns a [connectjwt.Observer] that records metrics; give it
// to [connectjwt.WithObserver].
func NewObserver(opts ...Option) (connectjwt.Observer, error) {
	cfg := config{}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	if cfg.provider == nil {
		cfg.provider = otel.GetMeterProvider()
	}
	meter := cfg.provider.Meter(ScopeName)
	obs := &observer{
		cacheHit:             []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(keyCacheResult.String("hit")))},
		cacheMiss:            []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(keyCacheResult.String("miss")))},
		revocationNotRevoked: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(keyRevocation.String("not_revoked")))},
		revocationRevoked:    []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(keyRevocation.String("revoked")))},
		revocationError:      []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(keyRevocation.String("error")))},
	}
	var err error
	if obs.decisions, err = meter.Int64Counter("connectjwt.decisions", metric.WithUnit("{decision}"),
		metric.WithDescription("Calls authenticated, by outcome and reason.")); err != nil {
		return nil, err
	}
	if obs.duration, err = meter.Float64Histogram("connectjwt.validation.duration", metric.WithUnit("s"),
		metric.WithDescription("Time spent authenticating a call.")); err != nil {
		return nil, err
	}
	if obs.cache, err = meter.Int64Counter("connectjwt.cache.lookups", metric.WithUnit("{lookup}"),
		metric.WithDescription("Verified-token cache lookups, by result.")); err != nil {
		return nil, err
	}
	if obs.fetches, err = meter.Int64Counter("connectjwt.jwks.fetches", metric.WithUnit("{fetch}"),
		metric.WithDescription("JWK Set fetches, by result.")); err != nil {
		return nil, err
	}
	if obs.fetchTime, err = meter.Float64Histogram("connectjwt.jwks.fetch.duration", metric.WithUnit("s"),
		metric.WithDescription("Time spent fetching a JWK Set.")); err != nil {
		return nil, err
	}
	if obs.skipped, err = meter.Int64Counter("connectjwt.jwks.keys_skipped", metric.WithUnit("{key}"),
		metric.WithDescription("Keys of fetched JWK Sets that could not be used.")); err != nil {
		return nil, err
	}
	if obs.revocation, err = meter.Float64Histogram("connectjwt.revocation.duration", metric.WithUnit("s"),
		metric.WithDescription("Time spent asking the revocation store, by result.")); err != nil {
		return nil, err
	}
	if obs.streamEnds, err = meter.Int64Counter("connectjwt.stream.ends", metric.WithUnit("{stream}"),
		metric.WithDescription("Streams ended because their token expired, was revoked or could not be re-checked.")); err != nil {
		return nil, err
	}
	return obs, nil
}

type observer struct {
	decisions  metric.Int64Counter
	duration   metric.Float64Histogram
	cache      metric.Int64Counter
	fetches    metric.Int64Counter
	fetchTime  metric.Float64Histogram
	skipped    metric.Int64Counter
	revocation metric.Float64Histogram
	streamEnds metric.Int64Counter

	// The measurement options of the fixed attribute sets, made once so
	// recording allocates nothing.
	cacheHit, cacheMiss                                      []metric.AddOption
	revocationNotRevoked, revocationRevoked, revocationError []metric.RecordOption

	// sets caches the attribute sets of decisions (a decisionKey →
	// decisionSets), up to maxCachedSets entries.
	sets  sync.Map
	nsets atomic.Int32
}

// maxCachedSets bounds the attribute-set cache and so the number of
// procedures recorded by name; beyond it, sets are built per call, without
// rpc.service and rpc.method. It stays under the SDK's default cardinality
// limit (2000 series an instrument).
const maxCachedSets = 1000

type decisionKey struct {
	procedure string
	outcome   connectjwt.Outcome
	reason    connectjwt.Reason
}

// decisionSets are the measurement options of one kind of decision, as
// slices made once, so recording allocates nothing.
type decisionSets struct {
	count    []metric.AddOption
	duration []metric.RecordOption
}

func (o *observer) setsFor(key decisionKey) decisionSets {
	if cached, ok := o.sets.Load(key); ok {
		if sets, ok := cached.(decisionSets); ok {
			return sets
		}
	}
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, keyOutcome.String(key.outcome.String()))
	full := o.nsets.Load() >= maxCachedSets
	if !full {
		attrs = append(attrs, rpcAttrs(key.procedure)...)
	}
	sets := decisionSets{duration: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}}
	if key.outcome == connectjwt.OutcomeRefused {
		attrs = append(attrs, keyReason.String(key.reason.String()))
	}
	sets.count = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	if !full {
		if _, loaded := o.sets.LoadOrStore(key, sets); !loaded {
			o.nsets.Add(1)
		}
	}
	return sets
}

// rpcAttrs splits a procedure "/package.Service/Method" into rpc.service
// and rpc.method; any other name gives none.
func rpcAttrs(procedure string) []attribute.KeyValue {
	if len(procedure) < 4 || procedure[0] != '/' {
		return nil
	}
	service, method, ok := strings.Cut(procedure[1:], "/")
	if !ok || service == "" || method == "" || strings.Contains(method, "/") || !strings.Contains(service, ".") {
		return nil
	}
	return []attribute.KeyValue{keyRPCService.String(service), keyRPCMethod.String(method)}
}

// ObserveDecision implements [connectjwt.Observer].
func (o *observer) ObserveDecision(ctx context.Context, decision connectjwt.Decision) {
	sets := o.setsFor(decisionKey{decision.Procedure, decision.Outcome, decision.Reason})
	o.decisions.Add(ctx, 1, sets.count...)
	o.duration.Record(ctx, decision.Duration.Seconds(), sets.duration...)
	switch decision.Cache {
	case connectjwt.CacheHit:
		o.cache.Add(ctx, 1, o.cacheHit...)
	case connectjwt.CacheMiss:
		o.cache.Add(ctx, 1, o.cacheMiss...)
	case connectjwt.CacheUnused:
		// No lookup: nothing to count.
	}
	if decision.Outcome == connectjwt.OutcomeRefused {
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			reason := keyReason.String(decision.Reason.String())
			span.SetAttributes(keyOutcome.String(decision.Outcome.String()), reason)
			span.AddEvent("connectjwt.refused", trace.WithAttributes(reason))
		}
	}
}

// ObserveEvent implements [connectjwt.Observer].
func (o *observer) ObserveEvent(ctx context.Context, event connectjwt.Event) {
	switch event.Kind {
	case connectjwt.EventJWKSFetch:
		result := "ok"
		if event.Err != nil {
			result = "error"
		}
		attrs := metric.WithAttributes(keyIssuer.String(event.Issuer), keyJWKSResult.String(result))
		o.fetches.Add(ctx, 1, attrs)
		o.fetchTime.Record(ctx, event.Duration.Seconds(), attrs)
		if event.KeysSkipped > 0 {
			o.skipped.Add(ctx, int64(event.KeysSkipped), metric.WithAttributes(keyIssuer.String(event.Issuer)))
		}
	case connectjwt.EventJWKSRateLimited:
		o.fetches.Add(ctx, 1, metric.WithAttributes(keyIssuer.String(event.Issuer), keyJWKSResult.String("rate_limited")))
	case connectjwt.EventRevocationCheck:
		result := o.revocationNotRevoked
		switch {
		case event.Err != nil:
			result = o.revocationError
		case event.Revoked:
			result = o.revocationRevoked
		}
		o.revocation.Record(ctx, event.Duration.Seconds(), result...)
	case connectjwt.EventStreamEnd:
		attrs := append(rpcAttrs(event.Procedure), keyReason.String(event.Reason.String()))
		o.streamEnds.Add(ctx, 1, metric.WithAttributes(attrs...))
	}
}
