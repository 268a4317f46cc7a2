package connectjwt

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
)

// untilExpiry runs a streaming handler that must stop when its token
// expires or is revoked:
//
//   - the handler's context ends at exp (plus leeway), or when the stream
//     revocation check finds the token revoked; [context.Cause] is then the
//     *[Failure];
//   - every Send and Receive checks the clock and the context, before and
//     (Receive) after the inner call;
//   - a Receive waiting for a silent client is released when the context
//     ends, by moving the HTTP stream's read deadline to now, when
//     [Interceptor.Middleware] is installed; without it, such a Receive
//     returns only when the client sends, closes or the server's own
//     ReadTimeout fires (a read of the request body does not watch any
//     context);
//   - an expired or revoked stream ends with the loader's error whatever the
//     handler returned.
func (i *Interceptor) untilExpiry(ctx context.Context, conn connect.StreamingHandlerConn, claims *Claims, next connect.StreamingHandlerFunc) error {
	expired := fail(ErrExpired, claims)
	expired.Procedure = conn.Spec().Procedure
	sctx, cancel := i.v.streamContext(ctx, claims, expired)
	// Also when next panics: goroutines the handler started on its context
	// must not outlive the stream (or the token).
	defer cancel()
	setConnDeadlines(ctx, i.v.expiryOnRealClock(claims).Add(connDeadlineGrace))
	stopRelease := releaseReadAtEnd(ctx, sctx)
	defer stopRelease()
	ec := &expiringConn{
		StreamingHandlerConn: conn,
		ctx:                  sctx,
		now:                  i.cfg.now,
		deadline:             claims.ExpiresAt.Add(i.cfg.leeway),
		expiredFailure:       expired,
	}
	err := next(sctx, ec)
	// Before the check below: a handler that returned in time is not
	// reported as expired (or revoked) because a timer fired a moment later.
	stopRelease()
	cancel()
	if f := ec.failure(); f != nil {
		// ctx, not the stream's own context, which has ended by now.
		return i.reject(ctx, f, conn.Peer())
	}
	return err
}

// streamContext returns the context a stream authenticated by claims runs
// with: ctx until the token expires (exp plus leeway) or, with the stream
// revocation check ([WithStreamRevocationCheck]), is found revoked; then it
// is done and [context.Cause] is the *Failure (expired, the cause for
// expiry). cancel must be called when the stream ends.
func (v *Validator) streamContext(ctx context.Context, claims *Claims, expired *Failure) (context.Context, context.CancelFunc) {
	at := v.expiryOnRealClock(claims)
	every := v.cfg.streamRecheckInterval()
	if every <= 0 {
		return context.WithDeadlineCause(ctx, at, expired)
	}
	rctx, revoke := context.WithCancelCause(ctx)
	sctx, cancel := context.WithDeadlineCause(rctx, at, expired)
	stop := v.recheckRevocation(ctx, sctx, revoke, claims, expired.Procedure, every)
	return sctx, func() {
		cancel()
		revoke(context.Canceled)
		stop()
	}
}

// expiryOnRealClock is when the token of claims expires (exp plus leeway),
// measured on the configured clock ([WithClock]) and expressed on the real
// one, where timers and deadlines run.
func (v *Validator) expiryOnRealClock(claims *Claims) time.Time {
	return time.Now().Add(claims.ExpiresAt.Add(v.cfg.leeway).Sub(v.cfg.now()))
}

// recheckRevocation asks the blocklist every interval whether claims' token
// has been revoked while the stream (whose context is sctx) runs, and ends
// it through revoke with the failure when it has. It fails closed: a lookup
// that errors, panics or has not answered within the interval ends the
// stream as unavailable. ctx is the call's context. The returned function
// stops the checks.
func (v *Validator) recheckRevocation(ctx, sctx context.Context, revoke context.CancelCauseFunc, claims *Claims, procedure string, every time.Duration) (stop func() bool) {
	refuse := func(f *Failure) {
		f.Procedure = procedure
		revoke(f)
	}
	var t *time.Timer
	check := func() {
		if sctx.Err() != nil {
			return
		}
		// A store that hangs must not keep a revoked stream open.
		watchdog := time.AfterFunc(every, func() { refuse(revocationUnavailable(claims, context.DeadlineExceeded)) })
		defer watchdog.Stop()
		lookup, cancel := context.WithTimeout(ctx, every)
		defer cancel()
		f := func() (f *Failure) {
			// This runs on a timer's goroutine, where a panic would end
			// the process rather than one request.
			defer func() {
				if r := recover(); r != nil {
					f = revocationUnavailable(claims, fmt.Errorf("blocklist panicked: %v", r))
				}
			}()
			_, f = v.checkRevoked(lookup, claims)
			return f
		}()
		if f != nil {
			refuse(f)
			return
		}
		if sctx.Err() == nil { // not after the stream ended: the timer would hold it
			t.Reset(every)
		}
	}
	// Created stopped, so check never sees t unset.
	t = time.AfterFunc(math.MaxInt64, check)
	t.Reset(every)
	return t.Stop
}

// releaseReadAtEnd arranges that, when sctx ends by expiry or revocation, a
// Receive blocked on a silent client returns: it moves the read deadline of
// the call's HTTP stream to now, when [Interceptor.Middleware] is installed
// (ctx is the call's context). The returned stop must be called before the
// handler returns, since the HTTP stream's deadlines may not be touched after
// that; it waits for a release under way.
func releaseReadAtEnd(ctx, sctx context.Context) (stop func()) {
	d, ok := ctx.Value(connDeadlinesKey{}).(*connDeadlines)
	if !ok {
		return func() {}
	}
	var mu sync.Mutex
	stopped := false
	stopFunc := context.AfterFunc(sctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := context.Cause(sctx).(*Failure); ok && !stopped {
			_ = d.rc.SetReadDeadline(time.Now())
		}
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
	ctx            context.Context // the handler's
	now            func() time.Time
	deadline       time.Time // exp plus leeway, on the configured clock
	expiredFailure *Failure
	expired        atomic.Bool // once set by a clock check, stays set
}

// failure returns why the stream must stop (expired or revoked), or nil
// while it may go on.
func (c *expiringConn) failure() *Failure {
	if c.ctx.Err() != nil {
		if f, ok := context.Cause(c.ctx).(*Failure); ok {
			return f
		}
	}
	if c.expired.Load() || !c.now().Before(c.deadline) {
		c.expired.Store(true)
		return c.expiredFailure
	}
	return nil
}

// check returns the error that stops the handler, or nil. The handler's
// error is replaced by the loader's when the stream ends, so this one only
// has to stop the handler; it is new on every call because *connect.Error is
// mutable (Meta).
func (c *expiringConn) check() error {
	if f := c.failure(); f != nil {
		return connect.NewError(CodeOf(f.Reason), f.Err)
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
