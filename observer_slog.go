package connectjwt

import (
	"context"
	"log/slog"
)

// A SlogOption configures [NewSlogObserver].
type SlogOption interface {
	applySlog(*slogObserver)
}

type slogOption func(*slogObserver)

func (o slogOption) applySlog(s *slogObserver) { o(s) }

// SlogRefusalLevel sets the level at which refused calls are logged, by
// default [slog.LevelInfo].
func SlogRefusalLevel(level slog.Level) SlogOption {
	return slogOption(func(s *slogObserver) { s.refused = level })
}

// SlogDecisionLevel sets the level at which admitted calls (allowed or
// anonymous) are logged, by default [slog.LevelDebug].
func SlogDecisionLevel(level slog.Level) SlogOption {
	return slogOption(func(s *slogObserver) { s.admitted = level })
}

// NewSlogObserver returns an [Observer] that writes to logger: refused calls
// at [SlogRefusalLevel], admitted ones at [SlogDecisionLevel], background
// failures (a key-set fetch or revocation check that failed, a stream ended
// because its token could not be re-checked) as warnings and other
// background events at debug level. Records carry the procedure, outcome,
// reason, the verified token's issuer, kid and algorithm, the cache result
// and the duration; a refusal adds its client-safe message and, when there is
// one, the cause behind it. They never carry the token or key material.
func NewSlogObserver(logger *slog.Logger, opts ...SlogOption) Observer {
	s := &slogObserver{logger: logger, refused: slog.LevelInfo, admitted: slog.LevelDebug}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	for _, o := range opts {
		if o != nil {
			o.applySlog(s)
		}
	}
	return s
}

type slogObserver struct {
	logger            *slog.Logger
	refused, admitted slog.Level
}

func (s *slogObserver) ObserveDecision(ctx context.Context, d Decision) {
	level, msg := s.admitted, "connectjwt: call admitted"
	if d.Outcome == OutcomeRefused {
		level, msg = s.refused, "connectjwt: call refused"
	}
	if !s.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 12)
	attrs = append(attrs,
		slog.String("procedure", d.Procedure),
		slog.String("outcome", d.Outcome.String()),
	)
	if d.Outcome == OutcomeRefused {
		attrs = append(attrs, slog.String("reason", d.Reason.String()))
		attrs = appendFailure(attrs, d.Failure)
	}
	if d.Issuer != "" {
		attrs = append(attrs, slog.String("issuer", d.Issuer))
	}
	if d.KeyID != "" {
		attrs = append(attrs, slog.String("kid", d.KeyID))
	}
	if d.Algorithm != "" {
		attrs = append(attrs, slog.String("alg", d.Algorithm))
	}
	attrs = append(attrs,
		slog.String("cache", d.Cache.String()),
		slog.Duration("duration", d.Duration),
	)
	s.logger.LogAttrs(ctx, level, msg, attrs...)
}

// appendFailure appends what a refusal's failure (if any) tells.
func appendFailure(attrs []slog.Attr, f *Failure) []slog.Attr {
	if f == nil {
		return attrs
	}
	attrs = append(attrs, slog.String("error", f.Error()))
	if len(f.MissingScopes) > 0 {
		attrs = append(attrs, slog.Any("missing_scopes", f.MissingScopes))
	}
	if f.Cause != nil {
		attrs = append(attrs, slog.String("cause", f.Cause.Error()))
	}
	return attrs
}

func (s *slogObserver) ObserveEvent(ctx context.Context, e Event) {
	level := slog.LevelDebug
	if e.Err != nil || e.Kind == EventJWKSRateLimited ||
		e.Kind == EventStreamEnd && e.Reason == ReasonUnavailable {
		level = slog.LevelWarn
	}
	if !s.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("event", e.Kind.String()))
	if e.Issuer != "" {
		attrs = append(attrs, slog.String("issuer", e.Issuer))
	}
	if e.Procedure != "" {
		attrs = append(attrs, slog.String("procedure", e.Procedure))
	}
	switch e.Kind {
	case EventJWKSFetch:
		if e.Err == nil {
			attrs = append(attrs, slog.Int("keys", e.Keys), slog.Int("keys_skipped", e.KeysSkipped))
		}
		attrs = append(attrs, slog.Duration("duration", e.Duration))
	case EventRevocationCheck:
		if e.Err == nil {
			attrs = append(attrs, slog.Bool("revoked", e.Revoked))
		}
		attrs = append(attrs, slog.Duration("duration", e.Duration))
	case EventStreamEnd:
		attrs = append(attrs, slog.String("reason", e.Reason.String()))
	default: // no attributes beyond the common ones
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	s.logger.LogAttrs(ctx, level, "connectjwt: "+eventMessage(e), attrs...)
}

// eventMessage is the log message of a background event.
func eventMessage(e Event) string {
	switch e.Kind {
	case EventJWKSFetch:
		if e.Err != nil {
			return "JWK Set fetch failed"
		}
		return "JWK Set fetched"
	case EventJWKSRateLimited:
		return "JWK Set fetch rate-limited"
	case EventRevocationCheck:
		if e.Err != nil {
			return "revocation check failed"
		}
		return "revocation checked"
	case EventStreamEnd:
		return "stream ended by authentication"
	}
	return "event"
}
