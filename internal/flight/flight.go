// Package flight runs one call per key at a time and lets other callers
// wait for it ("single flight"). Unlike golang.org/x/sync/singleflight, the
// waiting is the caller's: each caller decides how long it waits (its
// context, its own limit) and whether a failed result is shared or its own
// call is made instead, and a caller that stops waiting does not cancel the
// call.
package flight

import (
	"context"
	"errors"
	"sync"
)

// A Group runs at most one call per key at a time. The zero Group is ready
// to use; a Group must not be copied after first use.
type Group[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*Call[V]
}

// A Call is one run of a function; its result is ready once Done is closed.
type Call[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// ErrPanicked is the result of a call whose function panicked (the panic
// goes on in the caller that ran it).
var ErrPanicked = errors.New("flight: call panicked")

// Done returns a channel closed when the call's result is ready.
func (c *Call[V]) Done() <-chan struct{} { return c.done }

// Result returns the call's result. It must be called after Done is
// closed.
func (c *Call[V]) Result() (V, error) { return c.val, c.err }

// begin returns the call in flight for key and false, or registers a new
// call and returns it with true when allow (nil: always) agrees, or nil.
// allow runs under the group's lock.
func (g *Group[K, V]) begin(key K, allow func() bool) (*Call[V], bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.calls[key]; c != nil {
		return c, false
	}
	if allow != nil && !allow() {
		return nil, false
	}
	c := &Call[V]{done: make(chan struct{})}
	if g.calls == nil {
		g.calls = make(map[K]*Call[V])
	}
	g.calls[key] = c
	return c, true
}

// run runs work as call's function and publishes its result; a panic is
// published as ErrPanicked and goes on.
func (g *Group[K, V]) run(key K, call *Call[V], work func() (V, error)) (V, error) {
	call.err = ErrPanicked
	defer func() {
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(call.done)
	}()
	call.val, call.err = work()
	return call.val, call.err
}

// Do runs fn for key on the calling goroutine, unless a call for key is in
// flight: then it waits for that call, or for ctx, and shared is true (err
// is ctx's error when ctx ended first). fn's result is published only when
// fn returns; whatever fn must do before waiters see the result (fill a
// cache) it does itself.
//
//nolint:revive // error-return: the results of x/sync/singleflight's Do, in its order
func (g *Group[K, V]) Do(ctx context.Context, key K, fn func() (V, error)) (v V, err error, shared bool) {
	call, leader := g.begin(key, nil)
	if leader {
		v, err = g.run(key, call, fn)
		return v, err, false
	}
	select {
	case <-call.done:
		return call.val, call.err, true
	case <-ctx.Done():
		return v, ctx.Err(), true
	}
}

// Go returns the call in flight for key; if there is none, it starts fn for
// key on a new goroutine, provided allow (nil: always) agrees, and returns
// that call. allow runs under the group's lock, so a check there cannot race
// with a call's start or end. Go returns nil when allow refused.
func (g *Group[K, V]) Go(key K, allow func() bool, fn func() (V, error)) *Call[V] {
	c, leader := g.begin(key, allow)
	if leader {
		go func() { _, _ = g.run(key, c, fn) }() // the result is published in c
	}
	return c
}
