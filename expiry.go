package connectjwt

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
)

// untilExpiry runs a streaming handler that must stop when its token
// expires or is revoked. The handler runs with [Validator.StreamContext],
// and on top of it:
//
//   - every Send and Receive checks the clock and the context, before and
//     (Receive) after the inner call;
//   - an expired or revoked stream ends with the loader's error whatever the
//     handler returned.
func (i *Interceptor) untilExpiry(ctx context.Context, conn connect.StreamingHandlerConn, claims *Claims, next connect.StreamingHandlerFunc) error {
	sctx, cancel := i.v.StreamContext(ctx)
	// Also when next panics: goroutines the handler started on its context
	// must not outlive the stream (or the token), and the HTTP stream's
	// deadlines must not be touched after the handler returned.
	defer cancel()
	expiring := &expiringConn{
		StreamingHandlerConn: conn,
		ctx:                  sctx,
		now:                  i.v.cfg.now,
		claims:               claims,
		deadline:             claims.ExpiresAt.Add(i.v.cfg.leeway),
	}
	err := next(sctx, expiring)
	// Before the check below: a handler that returned in time is not
	// reported as expired (or revoked) because a timer fired a moment later.
	cancel()
	if f := expiring.failure(); f != nil {
		// ctx, not the stream's own context, which has ended by now.
		return i.reject(ctx, f, conn.Peer())
	}
	return err
}

// streamContext is [Validator.StreamContext] for a call that claims
// authenticated (procedure is its Procedure).
func (v *Validator) streamContext(ctx context.Context, claims *Claims, procedure string) (context.Context, context.CancelFunc) {
	expired := fail(ErrExpired, claims)
	expired.Procedure = procedure
	at := v.expiryOnRealClock(claims)
	sctx, cancelDeadline := context.WithDeadlineCause(ctx, at, expired)
	cancel := cancelDeadline
	if every := v.cfg.streamRecheckInterval(); every > 0 {
		var revoke context.CancelCauseFunc
		sctx, revoke = context.WithCancelCause(sctx)
		rctx := sctx
		stopWatch := v.watchRevocation(rctx, func() bool { return rctx.Err() != nil }, claims, every, func(f *Failure) {
			f.Procedure = procedure
			revoke(f)
		})
		cancel = func() {
			stopWatch()
			revoke(context.Canceled)
			cancelDeadline()
		}
	}
	setConnDeadlines(ctx, at.Add(connDeadlineGrace))
	stopEnd := v.atStreamEnd(ctx, sctx, claims, procedure)
	if stopEnd == nil {
		return sctx, cancel
	}
	return sctx, func() {
		stopEnd()
		cancel()
	}
}

// expiryOnRealClock is when the token of claims expires (exp plus leeway),
// measured on the configured clock ([WithClock]) and expressed on the real
// one, where timers and deadlines run.
func (v *Validator) expiryOnRealClock(claims *Claims) time.Time {
	return time.Now().Add(claims.ExpiresAt.Add(v.cfg.leeway).Sub(v.cfg.now()))
}

// atStreamEnd arranges what happens when sctx ends by expiry or
// revocation: a read blocked on a silent client returns, because the read
// deadline of the call's HTTP stream moves to now (when [StreamDeadlines] is
// installed; ctx is the call's context), and the observer hears why the
// stream ended. The returned stop must be called before the handler
// returns, since the HTTP stream's deadlines may not be touched after that;
// it waits for an end under way. It is nil when there is nothing to do.
func (v *Validator) atStreamEnd(ctx, sctx context.Context, claims *Claims, procedure string) (stop func()) {
	d, _ := ctx.Value(connDeadlinesKey{}).(*connDeadlines)
	if d == nil && v.cfg.observer == nil {
		return nil // nothing to do
	}
	var mu sync.Mutex
	stopped := false
	stopFunc := context.AfterFunc(sctx, func() {
		mu.Lock()
		defer mu.Unlock()
		var f *Failure
		if !errors.As(context.Cause(sctx), &f) || stopped {
			return // cancelled, or the call ended
		}
		if d != nil {
			// A read blocked on a silent client returns now; a write
			// blocked on a client that stopped reading gets the second of
			// grace, counted from now: a revocation ends a stream as
			// promptly as an expiry.
			now := time.Now()
			_ = d.rc.SetReadDeadline(now)
			if end := now.Add(connDeadlineGrace); beforeServerDeadline(end, d.start, 0, d.writeTimeout) {
				_ = d.rc.SetWriteDeadline(end)
			}
		}
		v.observeEvent(ctx, Event{Kind: EventStreamEnd, Issuer: claims.Issuer, Procedure: procedure, Reason: f.Reason})
	})
	return func() {
		if !stopFunc() {
			mu.Lock()
			stopped = true
			mu.Unlock()
		}
	}
}

// expiringConn refuses to send or receive once its stream's token has
// expired (on the clock, or the stream's context ended at the deadline) or
// been revoked. A message that arrives after expiry is refused: Receive
// returns the expired error (the message may have been decoded into msg
// already; like any Receive that fails, its contents are not to be used).
type expiringConn struct {
	connect.StreamingHandlerConn

	ctx      context.Context //nolint:containedctx // the handler's; failure reads why it ended
	now      func() time.Time
	claims   *Claims
	deadline time.Time   // exp plus leeway, on the configured clock
	expired  atomic.Bool // once set by a clock check, stays set
}

// failure returns why the stream must stop (expired or revoked), or nil
// while it may go on.
func (c *expiringConn) failure() *Failure {
	if c.ctx.Err() != nil {
		if f, ok := errors.AsType[*Failure](context.Cause(c.ctx)); ok {
			return f
		}
	}
	if c.expired.Load() || !c.now().Before(c.deadline) {
		c.expired.Store(true)
		// Rare (the configured clock passed exp before the real one), so
		// made when needed.
		f := fail(ErrExpired, c.claims)
		f.Procedure = c.Spec().Procedure
		return f
	}
	return nil
}

// check returns the error that stops the handler, or nil. The handler's
// error is replaced by the loader's when the stream ends, so this one only
// has to stop the handler; it is new on every call because *connect.Error is
// mutable (Meta).
func (c *expiringConn) check() error {
	if f := c.failure(); f != nil {
		return connect.NewError(f.Reason.Code(), f.Err)
	}
	return nil
}

func (c *expiringConn) Receive(msg any) error {
	if err := c.check(); err != nil {
		return err
	}
	err := c.StreamingHandlerConn.Receive(msg)
	// A message or an error (io.EOF, a reset, the read deadline) that came
	// after the token expired gives way to the expired error.
	if cerr := c.check(); cerr != nil {
		return cerr
	}
	return err
}

func (c *expiringConn) Send(msg any) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.StreamingHandlerConn.Send(msg)
}
