package connectjwt

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
)

// expiringConn refuses to send or receive once its token has expired.
type expiringConn struct {
	connect.StreamingHandlerConn
	now      func() time.Time
	deadline time.Time
	expired  atomic.Bool
}

// check fails once the token has expired. The handler's error is replaced
// by the expired-token loader's when the stream ends, so this one only has
// to stop the handler; it is new on every call because *connect.Error is
// mutable (Meta).
func (c *expiringConn) check() error {
	if c.expired.Load() || !c.now().Before(c.deadline) {
		c.expired.Store(true)
		return connect.NewError(connect.CodeUnauthenticated, ErrExpired)
	}
	return nil
}

func (c *expiringConn) Receive(msg any) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.StreamingHandlerConn.Receive(msg)
}

func (c *expiringConn) Send(msg any) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.StreamingHandlerConn.Send(msg)
}

// errStreamExpired is the cancellation cause of a stream whose token expired.
var errStreamExpired = errors.New("connectjwt: token expired during the stream")

// untilExpiry runs a streaming handler that must stop when the token
// expires: a timer cancels the context at exp (plus leeway), every Send and
// Receive checks the clock, and an expired stream ends with the loader's
// expired error whatever the handler returned.
func (i *Interceptor) untilExpiry(ctx context.Context, conn connect.StreamingHandlerConn, claims *Claims, next connect.StreamingHandlerFunc) error {
	deadline := claims.ExpiresAt.Add(i.cfg.leeway)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(deadline.Sub(i.cfg.now()), func() { cancel(errStreamExpired) })
	defer timer.Stop()
	ec := &expiringConn{StreamingHandlerConn: conn, now: i.cfg.now, deadline: deadline}
	err := next(ctx, ec)
	if ec.expired.Load() || errors.Is(context.Cause(ctx), errStreamExpired) {
		f := fail(ErrExpired, claims)
		f.Procedure = conn.Spec().Procedure
		return i.reject(ctx, f, conn.Peer())
	}
	return err
}
