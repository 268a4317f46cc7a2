package connectjwt

import (
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
