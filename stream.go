package connectjwt

import (
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

var errConnExpired = connect.NewError(connect.CodeUnauthenticated, errors.New("token has expired"))

func (c *expiringConn) check() error {
	if c.expired.Load() || !c.now().Before(c.deadline) {
		c.expired.Store(true)
		return errConnExpired
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
