package connectjwt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// A Call describes one request to authenticate, independent of the RPC
// framework that serves it (see [Validator.Authenticate]).
type Call struct {
	// Procedure is the full name of the procedure, "/package.Service/Method".
	Procedure string
	// Schema is the method's protoreflect.MethodDescriptor, as generated
	// code gives it (connect.Spec.Schema), or nil. Its .proto policy
	// options apply when no Go option names the procedure.
	Schema any
	// Header holds every value of the token header
	// ([Validator.HeaderName]), as received.
	Header []string
}

// HeaderName returns the canonical name of the header that carries the
// token, "Authorization" unless set by [WithHeader].
func (v *Validator) HeaderName() string {
	if v == nil || v.cfg == nil {
		return DefaultHeaderName
	}
	return v.headerKey
}

// HeaderScheme returns the scheme that precedes the token in its header
// ([Validator.HeaderName]), "Bearer" unless set by [WithHeader]; empty when
// the header holds the bare token. Front ends name it in the RFC 6750
// WWW-Authenticate challenge of a refusal.
func (v *Validator) HeaderScheme() string {
	if v == nil || v.cfg == nil {
		return DefaultHeaderScheme
	}
	return v.cfg.scheme
}

// Authenticate runs the whole check for one call: it finds the procedure's
// [Policy], reads the token from the header values (exactly one value, the
// scheme, the size cap), validates it, asks the [RevocationStore], and
// applies the policy's scopes and freshness and the [WithClaimsCheck]
// function. On success it returns a context for the handler that carries
// the verified claims ([ClaimsFromContext]), or no claims for a public
// procedure and for an optional one called without a token. Otherwise it
// returns ctx and the [*Failure], with Procedure set, for the front end to
// turn into its error (see [DefaultError]).
func (v *Validator) Authenticate(ctx context.Context, call Call) (context.Context, *Failure) {
	if v == nil || v.cfg == nil {
		f := notConfigured()
		f.Procedure = call.Procedure
		return ctx, f
	}
	start := v.observeStart()
	p := v.policy(call.Procedure, call.Schema)
	if p.Public {
		v.observeDecision(ctx, call.Procedure, nil, nil, CacheUnused, start)
		return withAuth(ctx, authState{v: v, procedure: call.Procedure}), nil
	}
	claims, f, cache := v.validateHeader(ctx, call.Header)
	if f == nil {
		f = v.cfg.authorize(ctx, call.Procedure, p, claims)
	} else if p.Optional && errors.Is(f, ErrMissing) {
		v.observeDecision(ctx, call.Procedure, nil, nil, CacheUnused, start)
		return withAuth(ctx, authState{v: v, procedure: call.Procedure}), nil
	}
	if f != nil {
		f.Procedure = call.Procedure
		v.observeDecision(ctx, call.Procedure, nil, f, cache, start)
		return ctx, f
	}
	v.observeDecision(ctx, call.Procedure, claims, nil, cache, start)
	return withAuth(ctx, authState{v: v, claims: claims, procedure: call.Procedure}), nil
}

// StreamContext returns a context for a streaming handler that ends when the
// token whose claims ctx carries ([ClaimsFromContext]) expires, at exp plus
// leeway, or, with a [RevocationStore], when the store reports it revoked
// (asked every [WithStreamRevocationCheck] interval); [context.Cause] then
// returns the [*Failure] (expired, revoked, or unavailable when the store
// failed or did not answer within the interval). Without claims in ctx, or
// on a nil or zero Validator, the context ends only with ctx. Call the
// CancelFunc when the stream ends, before the handler returns.
//
// When [StreamDeadlines] wraps the HTTP handler that serves the stream, the
// HTTP stream's read and write deadlines are set to the token's expiry plus
// one second; once the context ends by expiry or revocation, the read
// deadline becomes now, so a handler blocked reading from a silent client
// returns at once, while writes keep their second of grace for the error
// that ends the stream. The deadlines are not touched after the CancelFunc
// returns.
func (v *Validator) StreamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	claims, ok := ClaimsFromContext(ctx)
	if !ok || v == nil || v.cfg == nil {
		return context.WithCancel(ctx)
	}
	// Expiry is measured on the configured clock and scheduled on the
	// real one.
	exp := claims.ExpiresAt.Add(v.cfg.leeway)
	deadline := time.Now().Add(exp.Sub(v.cfg.now()))
	sctx, cancelDeadline := context.WithDeadlineCause(ctx, deadline, fail(ErrExpired, claims))
	cancel := context.CancelFunc(cancelDeadline)
	if every := v.cfg.streamRecheckInterval(); every > 0 {
		rctx, cancelCause := context.WithCancelCause(sctx)
		stop := v.watchRevocation(rctx, func() bool { return rctx.Err() != nil }, claims, every, func(f *Failure) { cancelCause(f) })
		sctx, cancel = rctx, func() {
			stop()
			cancelCause(context.Canceled)
			cancelDeadline()
		}
	}
	d, _ := ctx.Value(connDeadlinesKey{}).(*connDeadlines)
	if d == nil && v.cfg.observer == nil {
		return sctx, cancel
	}
	// What happens when the stream's context ends: the HTTP read ends
	// now, and the observer hears why. Under a lock that the CancelFunc
	// also takes, so neither runs after the handler is done.
	d.setAll(deadline.Add(connDeadlineGrace))
	var mu sync.Mutex
	cancelled := false
	stopEnd := context.AfterFunc(sctx, func() {
		f, ok := context.Cause(sctx).(*Failure)
		if !ok {
			return // cancelled, or the call ended
		}
		mu.Lock()
		defer mu.Unlock()
		if cancelled {
			return
		}
		d.end(time.Now())
		v.observeEvent(ctx, Event{Kind: EventStreamEnd, Issuer: claims.Issuer, Procedure: procedureOf(ctx), Reason: f.Reason})
	})
	return sctx, func() {
		stopEnd()
		mu.Lock()
		cancelled = true
		mu.Unlock()
		cancel()
	}
}

// watchRevocation asks the store every interval whether claims' token has
// been revoked, until ended reports true or the returned stop is called, and
// calls refuse with the failure when it has. It fails closed: a lookup that
// errors, panics or has not answered within the interval refuses as
// unavailable. Lookups run with ctx. No goroutine waits between checks.
func (v *Validator) watchRevocation(ctx context.Context, ended func() bool, claims *Claims, every time.Duration, refuse func(*Failure)) (stop func() bool) {
	var t *time.Timer
	check := func() {
		if ended() {
			return
		}
		if f := v.recheckOnce(ctx, claims, every); f != nil {
			refuse(f)
			return
		}
		if !ended() { // not after the stream ended: the timer would hold it
			t.Reset(every)
		}
	}
	// Created stopped, so check never sees t unset.
	t = time.AfterFunc(math.MaxInt64, check)
	t.Reset(every)
	return t.Stop
}

// recheckOnce asks the store once, within every, whether claims' token has
// been revoked.
func (v *Validator) recheckOnce(ctx context.Context, claims *Claims, every time.Duration) *Failure {
	lookup, cancel := context.WithTimeout(ctx, every)
	defer cancel()
	result := make(chan *Failure, 1)
	go func() {
		result <- func() (f *Failure) {
			defer func() {
				if r := recover(); r != nil {
					f = revocationUnavailable(claims, fmt.Errorf("revocation store panicked: %v", r))
				}
			}()
			_, f = v.checkRevoked(lookup, claims)
			return f
		}()
	}()
	select {
	case f := <-result:
		return f
	case <-lookup.Done():
		if ctx.Err() != nil {
			return nil // the stream ended
		}
		return revocationUnavailable(claims, context.DeadlineExceeded)
	}
}
