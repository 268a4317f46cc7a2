package connectjwt

import (
	"context"
	"errors"
	"fmt"
	"math"
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
	var claims *Claims
	var f *Failure
	cache := CacheUnused
	if !p.Public {
		claims, f, cache = v.validateHeader(ctx, call.Header)
		switch {
		case f == nil:
			f = v.cfg.authorize(ctx, call.Procedure, p, claims)
		case p.Optional && errors.Is(f, ErrMissing):
			f, cache = nil, CacheUnused // anonymous
		}
	}
	if f != nil {
		f.Procedure = call.Procedure
		v.observeDecision(ctx, call.Procedure, nil, f, cache, start)
		return ctx, f
	}
	v.observeDecision(ctx, call.Procedure, claims, nil, cache, start)
	return withAuth(ctx, authState{v: v, claims: claims, procedure: call.Procedure}), nil
}

// StreamContext returns the context for a streaming handler whose call
// [Validator.Authenticate] admitted with ctx: it ends when the token whose
// claims ctx carries ([ClaimsFromContext]) expires, at exp plus leeway, or,
// with a [RevocationStore], when the store reports it revoked (asked every
// [WithStreamRevocationCheck] interval). [context.Cause] then returns the
// [*Failure] (expired, revoked, or unavailable when the store failed or did
// not answer within the interval), with Procedure set. Without claims in ctx
// the context ends only with ctx.
//
// When [StreamDeadlines] wraps the HTTP handler that serves the call,
// StreamContext also sets the HTTP stream's write deadline to the expiry
// plus one second and its read deadline likewise, and once the returned
// context ends by expiry or revocation it moves the read deadline to now: a
// handler blocked in a read of a client that stopped sending is released at
// once, and one blocked in a write to a client that stopped reading a
// second later.
//
// The CancelFunc must be called when the stream ends and before the
// handler returns: the HTTP stream's deadlines may not be touched after
// that, and the CancelFunc waits for a deadline change under way.
func (v *Validator) StreamContext(ctx context.Context) (context.Context, context.CancelFunc) {
	st, ok := ctx.Value(claimsKey{}).(*authState)
	if !ok || st.claims == nil || v == nil || v.cfg == nil {
		return context.WithCancel(ctx)
	}
	return v.streamContext(ctx, st.claims, st.procedure)
}

// watchRevocation asks the store every interval whether claims' token has
// been revoked, until ended reports true or the returned stop is called, and
// calls refuse with the failure when it has. It fails closed: a lookup that
// errors, panics or has not answered within the interval refuses as
// unavailable. Lookups run with ctx. No goroutine waits between checks.
func (v *Validator) watchRevocation(ctx context.Context, ended func() bool, claims *Claims, every time.Duration, refuse func(*Failure)) (stop func() bool) {
	var timer *time.Timer
	check := func() {
		if ended() {
			return
		}
		if f := v.recheckOnce(ctx, claims, every); f != nil {
			refuse(f)
			return
		}
		if !ended() { // not after the stream ended: the timer would hold it
			timer.Reset(every)
		}
	}
	// Created stopped, so check never sees timer unset.
	timer = time.AfterFunc(math.MaxInt64, check)
	timer.Reset(every)
	return timer.Stop
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
