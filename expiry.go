package connectjwt

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"weak"
)

// streamContext is the context a streaming handler runs with: its parent
// (the call's context) until the token expires, then done with
// [context.DeadlineExceeded], like a context from [context.WithDeadline].
//
// It exists because the standard one costs about eight allocations per
// stream (the context, its timer and closures, the parent's child map and
// done channel), while this one lives inside the stream's [expiringConn] and
// its expiry is kept by the interceptor's [expiries], one timer for all open
// streams. A stream whose handler never asks for Done costs nothing more;
// Done, and AfterFunc, make the channel and watch the parent only when
// called, much as the standard contexts make their channel lazily.
//
// The differences from a context.WithDeadlineCause context are deliberate
// and small: [context.Cause] reports context.DeadlineExceeded at expiry
// rather than a custom cause, and the stream's own code reads expiry from
// [streamContext.expired].
type streamContext struct {
	parent context.Context
	// when is the expiry on the real clock (with its monotonic reading).
	when time.Time
	// index is the position in the scheduler's heap, -1 when not in it;
	// guarded by the scheduler's mutex.
	index int

	mu sync.Mutex
	// done is made by the first Done or AfterFunc call.
	done chan struct{}
	// err is set once: context.DeadlineExceeded at expiry, the parent's
	// error when it ends first, or context.Canceled when the handler
	// returns or the revocation store refuses the token.
	err error
	// why is why the context ended, once err is set.
	why endReason
	// refused is the revocation store's failure when the stream ended by
	// revocation; set, under mu, before done is closed, and read without
	// the lock on every Send and Receive.
	refused atomic.Pointer[Failure]
	// stopWatch undoes the context.AfterFunc registration on parent.
	stopWatch func() bool
	funcs     []*afterFunc
}

// endReason is why a streamContext ended.
type endReason uint8

const (
	endedByReturn     endReason = iota // the handler returned (or panicked)
	endedByExpiry                      // the token expired
	endedByParent                      // the call's context ended first
	endedByRevocation                  // the revocation store refused the token mid-stream
)

// afterFunc is one function registered with [streamContext.AfterFunc].
type afterFunc struct{ f func() }

var _ context.Context = (*streamContext)(nil)

// Deadline returns the token's expiry, or the parent's deadline if that is
// earlier.
func (c *streamContext) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.when) {
		return d, true
	}
	return c.when, true
}

// Done returns a channel closed at expiry, when the parent is done, or when
// the handler returns.
func (c *streamContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.doneLocked()
}

// doneLocked makes the done channel on first use. A channel made after the
// context ended is made closed; otherwise the parent is watched from now on.
func (c *streamContext) doneLocked() chan struct{} {
	if c.done != nil {
		return c.done
	}
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return c.done
	}
	if c.parent.Done() != nil {
		// If the parent has already ended, AfterFunc runs parentDone on
		// its own goroutine, which waits for c.mu.
		c.stopWatch = context.AfterFunc(c.parent, c.parentDone)
	}
	return c.done
}

func (c *streamContext) parentDone() { c.end(c.parent.Err(), endedByParent) }

// Err returns nil while the stream may go on, then the reason it ended;
// once set it does not change. A parent that ended is seen here even when
// nobody asked for Done.
func (c *streamContext) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if perr := c.parent.Err(); perr != nil {
		c.end(perr, endedByParent)
		c.mu.Lock()
		err = c.err
		c.mu.Unlock()
	}
	return err
}

// Value returns the parent's value for key. The one exception keeps
// [context.Cause] truthful: once the context ended for a reason of its own
// (expiry, or the handler returned), Cause must report that (c.Err()), not
// the cause of a parent cancelled later, so the context package's lookup of
// the nearest standard cancelable context finds none.
func (c *streamContext) Value(key any) any {
	if key == cancelCauseKey && cancelCauseKey != nil {
		c.mu.Lock()
		own := c.err != nil && c.why != endedByParent
		c.mu.Unlock()
		if own {
			return nil
		}
	}
	return c.parent.Value(key)
}

// cancelCauseKey is the key that [context.Cause] asks a context's Value for
// (the context package keeps it private), learned once from a probe. If a
// future Go asks differently, it is nil and Value simply delegates.
var cancelCauseKey = func() any {
	p := &causeKeyProbe{Context: context.Background()}
	_ = context.Cause(p)
	return p.key
}()

// causeKeyProbe is an ended context that records the first key it is asked
// for.
type causeKeyProbe struct {
	context.Context
	key any
}

func (p *causeKeyProbe) Err() error { return context.Canceled }

func (p *causeKeyProbe) Value(key any) any {
	if p.key == nil {
		p.key = key
	}
	return nil
}

// AfterFunc lets [context.AfterFunc] and contexts derived from this one (by
// [context.WithCancel] and the like) wait for it without a goroutine each.
func (c *streamContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	c.doneLocked() // watch the parent
	a := &afterFunc{f: f}
	c.funcs = append(c.funcs, a)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if i := slices.Index(c.funcs, a); i >= 0 {
			c.funcs = slices.Delete(c.funcs, i, i+1)
			return true
		}
		return false
	}
}

// expired reports whether the context ended because the token expired.
func (c *streamContext) expired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil && c.why == endedByExpiry
}

// end ends the context with err unless it has already ended.
func (c *streamContext) end(err error, why endReason) { c.endWith(err, why, nil) }

// refuse ends the context because the revocation store refused the token (or
// could not answer) with f, unless it has already ended.
func (c *streamContext) refuse(f *Failure) { c.endWith(context.Canceled, endedByRevocation, f) }

func (c *streamContext) endWith(err error, why endReason, refused *Failure) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	if refused != nil {
		c.refused.Store(refused)
	}
	c.err, c.why = err, why
	if c.done != nil {
		close(c.done)
	}
	funcs, stop := c.funcs, c.stopWatch
	c.funcs, c.stopWatch = nil, nil
	c.mu.Unlock()
	if stop != nil {
		stop()
	}
	for _, a := range funcs {
		go a.f()
	}
}

// expire ends the context at the token's expiry; a parent that has already
// ended keeps its error.
func (c *streamContext) expire() {
	if perr := c.parent.Err(); perr != nil {
		c.end(perr, endedByParent)
		return
	}
	c.end(context.DeadlineExceeded, endedByExpiry)
}

// expiries ends the contexts of open streams at their tokens' expiry, with
// one timer for all of them: a min-heap of streams ordered by expiry, and a
// timer set for the earliest. Adding a stream that expires later than the
// earliest (the usual case: tokens are issued with the same lifetime) does
// not touch the timer, and neither does removing one: a timer that fires
// with nothing due sets itself for the next stream, if any. So a stream that
// opens after another closed, with the same token, costs no timer operation
// (stopping and setting it again cost ~0.8 µs per stream). The timer holds
// the schedule through a weak pointer, so a pending timer does not keep an
// Interceptor that is no longer used alive; such a timer, a few dozen
// bytes, stays pending until the expiry it was set for and then does
// nothing. The zero value is ready to use.
type expiries struct {
	mu    sync.Mutex
	heap  []*streamContext
	timer *time.Timer
	// armed is when the timer fires; zero when it is not set.
	armed time.Time
}

// add schedules c to expire at c.when; a c already due expires now.
func (e *expiries) add(c *streamContext) {
	if !c.when.After(time.Now()) {
		c.index = -1
		c.expire()
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c.index = len(e.heap)
	e.heap = append(e.heap, c)
	e.up(c.index)
	if e.armed.IsZero() || c.when.Before(e.armed) {
		e.arm(c.when)
	}
}

// remove takes c out of the schedule, if it is still in it. The timer is
// left as it is: if it fires with nothing due, it sets itself for the next
// stream, if there is one.
func (e *expiries) remove(c *streamContext) {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := c.index
	if i < 0 {
		return
	}
	last := len(e.heap) - 1
	if i != last {
		e.swap(i, last)
	}
	e.heap[last] = nil
	e.heap = e.heap[:last]
	c.index = -1
	if i != last {
		e.down(i)
		e.up(i)
	}
	e.shrink()
}

// shrink gives back the memory of a burst of streams once most have ended.
func (e *expiries) shrink() {
	if n := len(e.heap); cap(e.heap) > 1024 && n < cap(e.heap)/4 {
		e.heap = append(make([]*streamContext, 0, 2*n), e.heap...)
	}
}

// fire expires every stream that is due and sets the timer for the next.
func (e *expiries) fire() {
	var buf [16]*streamContext
	due := buf[:0]
	e.mu.Lock()
	now := time.Now()
	for len(e.heap) > 0 && !e.heap[0].when.After(now) {
		c := e.heap[0]
		last := len(e.heap) - 1
		e.swap(0, last)
		e.heap[last] = nil
		e.heap = e.heap[:last]
		c.index = -1
		e.down(0)
		due = append(due, c)
	}
	e.shrink()
	e.armed = time.Time{}
	if len(e.heap) > 0 {
		e.arm(e.heap[0].when)
	}
	e.mu.Unlock()
	// Outside e.mu: expire asks the parent context (code not ours), which
	// must not hold up every other stream's start and end. A stream that
	// ended meanwhile is ended already, and end is then a no-op.
	for _, c := range due {
		c.expire()
	}
}

func (e *expiries) arm(when time.Time) {
	e.armed = when
	d := time.Until(when)
	if e.timer == nil {
		w := weak.Make(e)
		e.timer = time.AfterFunc(d, func() {
			if e := w.Value(); e != nil {
				e.fire()
			}
		})
		return
	}
	e.timer.Reset(d)
}

func (e *expiries) swap(i, j int) {
	e.heap[i], e.heap[j] = e.heap[j], e.heap[i]
	e.heap[i].index = i
	e.heap[j].index = j
}

func (e *expiries) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !e.heap[i].when.Before(e.heap[p].when) {
			return
		}
		e.swap(i, p)
		i = p
	}
}

func (e *expiries) down(i int) {
	n := len(e.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && e.heap[r].when.Before(e.heap[l].when) {
			m = r
		}
		if !e.heap[m].when.Before(e.heap[i].when) {
			return
		}
		e.swap(i, m)
		i = m
	}
}
