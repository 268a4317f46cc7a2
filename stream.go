package connectjwt

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
)

// expiringConn refuses to send or receive once its token has expired, and a
// Receive that is waiting for the client when the token expires returns at
// once with the expired error.
//
// Why Receive needs more than a clock check: a handler blocked in Receive
// while the client sends nothing is blocked in a read of the request body,
// which does not watch any context; cancelling the handler's context does not
// wake it. So Receive runs the inner Receive on its own goroutine and waits
// for whichever comes first, the message or the expiry. The inner Receive
// decodes into a fresh message of the same type, copied into the caller's
// message only when it arrived in time: an abandoned inner Receive can never
// write into memory the handler owns. After expiry no further inner Receive
// is started, and the abandoned one returns when the stream is torn down
// (connect-go closes the request body when the handler returns), so it does
// not leak.
type expiringConn struct {
	connect.StreamingHandlerConn
	now      func() time.Time
	deadline time.Time
	expired  atomic.Bool
	// expiredCh is closed by the expiry timer.
	expiredCh chan struct{}
	// results carries the outcome of the one inner Receive in flight. A
	// StreamingHandlerConn allows one Receive at a time, so one slot is
	// enough; an abandoned Receive writes its result here and exits.
	results chan error
	// abandoned is set once a Receive returned before its inner Receive:
	// from then on the stream is dead.
	abandoned atomic.Bool
}

// check fails once the token has expired. The handler's error is replaced
// by the expired-token loader's when the stream ends, so this one only has
// to stop the handler; it is new on every call because *connect.Error is
// mutable (Meta).
func (c *expiringConn) check() error {
	if c.expired.Load() || !c.now().Before(c.deadline) {
		c.expired.Store(true)
		return c.expiredError()
	}
	return nil
}

func (c *expiringConn) expiredError() error {
	return connect.NewError(connect.CodeUnauthenticated, ErrExpired)
}

func (c *expiringConn) Receive(msg any) error {
	if err := c.check(); err != nil {
		return err
	}
	if c.abandoned.Load() {
		return c.expiredError()
	}
	fresh, commit := freshMessage(msg)
	if fresh == nil {
		// Not a pointer: nothing can be decoded into it; let the inner
		// conn report that, synchronously.
		return c.StreamingHandlerConn.Receive(msg)
	}
	inner := c.StreamingHandlerConn
	go func() { c.results <- inner.Receive(fresh) }()
	select {
	case err := <-c.results:
		if err != nil {
			// An error from the stream (io.EOF, a reset) stands, unless
			// the token expired meanwhile.
			if cerr := c.check(); cerr != nil {
				return cerr
			}
			return err
		}
		// A message that arrived after the token expired is dropped.
		if cerr := c.check(); cerr != nil {
			return cerr
		}
		commit()
		return nil
	case <-c.expiredCh:
		c.abandoned.Store(true)
		c.expired.Store(true)
		return c.expiredError()
	}
}

func (c *expiringConn) Send(msg any) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.StreamingHandlerConn.Send(msg)
}

// freshMessage returns a new, empty message of msg's type to decode into and
// a function that moves the decoded message into msg; fresh is nil when msg
// is not a pointer.
func freshMessage(msg any) (fresh any, commit func()) {
	v := reflect.ValueOf(msg)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, nil
	}
	if m, ok := msg.(proto.Message); ok {
		f := m.ProtoReflect().New().Interface()
		return f, func() {
			proto.Reset(m)
			proto.Merge(m, f)
		}
	}
	f := reflect.New(v.Type().Elem())
	return f.Interface(), func() { v.Elem().Set(f.Elem()) }
}

// errStreamExpired is the cancellation cause of a stream whose token expired.
var errStreamExpired = errors.New("connectjwt: token expired during the stream")

// untilExpiry runs a streaming handler that must stop when the token
// expires: a timer cancels the context at exp (plus leeway) and wakes a
// Receive that is waiting for the client, every Send and Receive checks the
// clock, and an expired stream ends with the loader's expired error whatever
// the handler returned.
func (i *Interceptor) untilExpiry(ctx context.Context, conn connect.StreamingHandlerConn, claims *Claims, next connect.StreamingHandlerFunc) error {
	deadline := claims.ExpiresAt.Add(i.cfg.leeway)
	parent := ctx // for the loader: the stream's own context is cancelled by then
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ec := &expiringConn{
		StreamingHandlerConn: conn,
		now:                  i.cfg.now,
		deadline:             deadline,
		expiredCh:            make(chan struct{}),
		results:              make(chan error, 1),
	}
	timer := time.AfterFunc(deadline.Sub(i.cfg.now()), func() {
		close(ec.expiredCh) // an AfterFunc timer fires at most once
		cancel(errStreamExpired)
	})
	defer timer.Stop()
	err := next(ctx, ec)
	if ec.expired.Load() || errors.Is(context.Cause(ctx), errStreamExpired) {
		f := fail(ErrExpired, claims)
		f.Procedure = conn.Spec().Procedure
		return i.reject(parent, f, conn.Peer())
	}
	return err
}
