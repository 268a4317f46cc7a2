package connectjwt

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
)

// waitDone fails the test unless ctx is done within d.
func waitDone(t *testing.T, ctx context.Context, d time.Duration) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(d):
		t.Fatalf("context not done after %v", d)
	}
}

// notDone fails the test if ctx's channel is closed.
func notDone(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-ctx.Done():
		t.Fatalf("context done early: %v", ctx.Err())
	default:
	}
}

func newStreamContext(parent context.Context, in time.Duration) *streamContext {
	return &streamContext{parent: parent, when: time.Now().Add(in)}
}

func TestStreamContextEndsAtExpiry(t *testing.T) {
	for _, askDone := range []bool{true, false} {
		var e expiries
		c := newStreamContext(context.Background(), 40*time.Millisecond)
		e.add(c)
		if askDone {
			notDone(t, c)
		}
		if err := c.Err(); err != nil {
			t.Fatalf("Err before expiry = %v", err)
		}
		if d, ok := c.Deadline(); !ok || !d.Equal(c.when) {
			t.Errorf("Deadline = %v, %v; want %v, true", d, ok, c.when)
		}
		waitDone(t, c, 5*time.Second)
		if now := time.Now(); now.Before(c.when) {
			t.Errorf("done %v before the expiry", c.when.Sub(now))
		}
		if err := c.Err(); err != context.DeadlineExceeded {
			t.Errorf("Err = %v, want context.DeadlineExceeded", err)
		}
		if err := context.Cause(c); err != context.DeadlineExceeded {
			t.Errorf("Cause = %v, want context.DeadlineExceeded", err)
		}
		if !c.expired() {
			t.Error("expired() = false")
		}
		if c.index != -1 || len(e.heap) != 0 {
			t.Errorf("still scheduled: index %d, heap %d", c.index, len(e.heap))
		}
	}
}

// The parent's end is seen however the handler looks: through Done asked
// before, Done asked after, or Err alone.
func TestStreamContextFollowsParent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(context.Context) // called before the parent is cancelled
		after  func(*testing.T, context.Context)
	}{
		{"done before", func(c context.Context) { c.Done() }, func(t *testing.T, c context.Context) { waitDone(t, c, 5*time.Second) }},
		{"done after", func(context.Context) {}, func(t *testing.T, c context.Context) { waitDone(t, c, 5*time.Second) }},
		{"err only", func(context.Context) {}, func(*testing.T, context.Context) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e expiries
			parent, cancel := context.WithCancel(context.Background())
			c := newStreamContext(parent, time.Hour)
			e.add(c)
			defer e.remove(c)
			tc.before(c)
			cancel()
			tc.after(t, c)
			if err := c.Err(); err != context.Canceled {
				t.Errorf("Err = %v, want context.Canceled", err)
			}
			waitDone(t, c, 5*time.Second)
			if c.expired() {
				t.Error("expired() = true for a cancelled parent")
			}
		})
	}
}

// Once ended, a context keeps its first reason.
func TestStreamContextErrIsSticky(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	c := newStreamContext(parent, time.Hour)
	c.expire()
	cancel()
	if err := c.Err(); err != context.DeadlineExceeded || !c.expired() {
		t.Errorf("after expiry then cancel: Err = %v, expired = %v", err, c.expired())
	}

	parent, cancel = context.WithCancel(context.Background())
	c = newStreamContext(parent, time.Hour)
	cancel()
	c.expire()
	if err := c.Err(); err != context.Canceled || c.expired() {
		t.Errorf("after cancel then expiry: Err = %v, expired = %v", err, c.expired())
	}
	c.end(context.DeadlineExceeded, endedByExpiry)
	if err := c.Err(); err != context.Canceled || c.expired() {
		t.Errorf("after a second end: Err = %v, expired = %v", err, c.expired())
	}
}

func TestStreamContextDeadlineAndValue(t *testing.T) {
	type key struct{}
	base := context.WithValue(context.Background(), key{}, "v")
	early, cancel := context.WithTimeout(base, time.Minute)
	defer cancel()
	c := newStreamContext(early, time.Hour)
	if d, _ := c.Deadline(); d.After(time.Now().Add(2 * time.Minute)) {
		t.Errorf("Deadline = %v, want the parent's, earlier", d)
	}
	late, cancel2 := context.WithTimeout(base, 2*time.Hour)
	defer cancel2()
	c = newStreamContext(late, time.Hour)
	if d, _ := c.Deadline(); !d.Equal(c.when) {
		t.Errorf("Deadline = %v, want the expiry %v", d, c.when)
	}
	if got := c.Value(key{}); got != "v" {
		t.Errorf("Value = %v, want the parent's", got)
	}
}

// context.AfterFunc and derived contexts work through the AfterFunc method,
// and stop keeps a function from running.
func TestStreamContextAfterFunc(t *testing.T) {
	var e expiries
	c := newStreamContext(context.Background(), 40*time.Millisecond)
	e.add(c)
	ran := make(chan struct{})
	context.AfterFunc(c, func() { close(ran) })
	stopped := make(chan struct{})
	stop := context.AfterFunc(c, func() { close(stopped) })
	if !stop() {
		t.Error("stop before expiry = false")
	}
	child, cancel := context.WithCancel(c)
	defer cancel()
	waitDone(t, child, 5*time.Second)
	if err := child.Err(); err != context.DeadlineExceeded {
		t.Errorf("child Err = %v, want context.DeadlineExceeded", err)
	}
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc did not run at expiry")
	}
	select {
	case <-stopped:
		t.Error("a stopped AfterFunc ran")
	case <-time.After(20 * time.Millisecond):
	}
	late := make(chan struct{})
	if stop := context.AfterFunc(c, func() { close(late) }); stop() {
		t.Error("stop after the end = true")
	}
	select {
	case <-late:
	case <-time.After(5 * time.Second):
		t.Fatal("AfterFunc on an ended context did not run")
	}
}

func TestExpiriesAlreadyDue(t *testing.T) {
	var e expiries
	c := newStreamContext(context.Background(), -time.Second)
	e.add(c)
	if !c.expired() || c.Err() != context.DeadlineExceeded {
		t.Errorf("a stream already past its expiry: expired = %v, Err = %v", c.expired(), c.Err())
	}
	e.remove(c) // no-op
	if len(e.heap) != 0 {
		t.Errorf("heap holds %d", len(e.heap))
	}
}

// A stream that expires sooner than every scheduled one moves the timer
// forward.
func TestExpiriesEarlierStreamResetsTimer(t *testing.T) {
	var e expiries
	later := newStreamContext(context.Background(), time.Hour)
	e.add(later)
	defer e.remove(later)
	sooner := newStreamContext(context.Background(), 30*time.Millisecond)
	e.add(sooner)
	waitDone(t, sooner, 5*time.Second)
	notDone(t, later)
	if len(e.heap) != 1 || e.heap[0] != later {
		t.Errorf("heap = %d entries", len(e.heap))
	}
}

// Random adds and removes keep the heap ordered and every index right.
func TestExpiriesHeapInvariant(t *testing.T) {
	var e expiries
	defer func() {
		for len(e.heap) > 0 {
			e.remove(e.heap[0])
		}
	}()
	r := rand.New(rand.NewPCG(1, 2))
	var live []*streamContext
	for range 2000 {
		if len(live) > 0 && r.IntN(3) == 0 {
			i := r.IntN(len(live))
			e.remove(live[i])
			if live[i].index != -1 {
				t.Fatal("removed stream keeps its index")
			}
			live = append(live[:i], live[i+1:]...)
		} else {
			c := newStreamContext(context.Background(), time.Hour+time.Duration(r.IntN(1000))*time.Second)
			e.add(c)
			live = append(live, c)
		}
		if len(e.heap) != len(live) {
			t.Fatalf("heap %d, live %d", len(e.heap), len(live))
		}
		for i, c := range e.heap {
			if c.index != i {
				t.Fatalf("heap[%d].index = %d", i, c.index)
			}
			if i > 0 && c.when.Before(e.heap[(i-1)/2].when) {
				t.Fatalf("heap[%d] before its parent", i)
			}
		}
	}
	if e.armed.After(earliest(live)) {
		t.Errorf("timer armed for %v, after the earliest expiry %v", e.armed, earliest(live))
	}
}

func earliest(cs []*streamContext) time.Time {
	var m time.Time
	for _, c := range cs {
		if m.IsZero() || c.when.Before(m) {
			m = c.when
		}
	}
	return m
}

// Many streams start, expire or end concurrently: each scheduled one ends
// no earlier than its expiry, and none that ended first is expired later.
func TestExpiriesConcurrent(t *testing.T) {
	var e expiries
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := range 200 {
		wg.Go(func() {
			c := newStreamContext(context.Background(), time.Duration(5+g%40)*time.Millisecond)
			e.add(c)
			if g%3 == 0 {
				e.remove(c)
				c.end(context.Canceled, endedByReturn)
				time.Sleep(60 * time.Millisecond)
				if c.expired() {
					errs <- errors.New("a removed stream expired")
				}
				return
			}
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				errs <- errors.New("a stream did not expire")
				return
			}
			if time.Now().Before(c.when) {
				errs <- errors.New("a stream expired early")
			}
			if !c.expired() {
				errs <- errors.New("a stream ended without expiring")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.heap) != 0 {
		t.Errorf("heap holds %d after every stream ended", len(e.heap))
	}
}

// fakeStream is a server stream that sends into the void.
type fakeStream struct{ sent int }

func (s *fakeStream) Spec() connect.Spec {
	return connect.Spec{Procedure: "/test.v1.Test/Stream", StreamType: connect.StreamTypeServer}
}
func (s *fakeStream) Peer() connect.Peer           { return connect.Peer{Protocol: connect.ProtocolConnect} }
func (s *fakeStream) Receive(any) error            { return nil }
func (s *fakeStream) RequestHeader() http.Header   { return nil }
func (s *fakeStream) Send(any) error               { s.sent++; return nil }
func (s *fakeStream) ResponseHeader() http.Header  { return nil }
func (s *fakeStream) ResponseTrailer() http.Header { return nil }

// Once the request gate admitted a stream, the interceptor adds one
// allocation to it: the connection wrapper, which holds the stream's
// context and its place in the expiry schedule.
func TestStreamAllocations(t *testing.T) {
	clock := newTestClock()
	shared := WithOptions(WithKey(HMACKey(cacheTestSecret)), WithClock(clock.now), WithIssuer("https://iss.test"))
	is, err := NewIssuer(shared)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValidator(shared)
	if err != nil {
		t.Fatal(err)
	}
	ic := NewInterceptor(v)
	tok, _, err := is.CreateAccessToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeStream{}
	// A call's context can be cancelled, like the HTTP request's.
	call, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctx, err := ic.authenticate(call, s.Spec(), s.Peer(), http.Header{"Authorization": {"Bearer " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	handler := ic.WrapStreamingHandler(func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		if id, _ := IdentityFromContext(ctx); id != "alice" {
			t.Errorf("identity %q", id)
		}
		for range 3 {
			if err := conn.Send(nil); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err := handler(ctx, s); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := handler(ctx, s); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("stream: %v allocations, want 1", n)
	}
	// A handler that waits on the context also pays for the done channel
	// and the registration with the parent (context.AfterFunc): about what
	// context.WithTimeout cost every stream before.
	waiting := ic.WrapStreamingHandler(func(ctx context.Context, _ connect.StreamingHandlerConn) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		default:
			return nil
		}
	})
	if n := testing.AllocsPerRun(100, func() {
		if err := waiting(ctx, s); err != nil {
			t.Fatal(err)
		}
	}); n > 5 {
		t.Errorf("stream whose handler asks for Done: %v allocations, want at most 5", n)
	}
	if len(ic.expiries.heap) != 0 {
		t.Errorf("%d streams left in the schedule", len(ic.expiries.heap))
	}
}

// The schedule gives memory back after a burst of streams.
func TestExpiriesShrinks(t *testing.T) {
	var e expiries
	cs := make([]*streamContext, 5000)
	for i := range cs {
		cs[i] = newStreamContext(context.Background(), time.Hour+time.Duration(i)*time.Millisecond)
		e.add(cs[i])
	}
	for _, c := range cs[10:] {
		e.remove(c)
	}
	if n, c := len(e.heap), cap(e.heap); n != 10 || c > 2048 {
		t.Errorf("after the burst: len %d, cap %d", n, c)
	}
	for i, c := range e.heap {
		if c.index != i {
			t.Fatalf("heap[%d].index = %d", i, c.index)
		}
	}
	for _, c := range cs[:10] {
		e.remove(c)
	}
}

// A handler that panics still ends its context, so goroutines it started
// on the context do not outlive the stream.
func TestStreamContextEndsWhenHandlerPanics(t *testing.T) {
	ic := NewInterceptor(newHMACValidator(t))
	claims := &Claims{Identity: "alice", ExpiresAt: time.Now().Add(time.Hour)}
	var hctx context.Context
	func() {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		_ = ic.untilExpiry(context.Background(), &fakeStream{}, claims, func(ctx context.Context, _ connect.StreamingHandlerConn) error {
			hctx = ctx
			ctx.Done()
			panic("boom")
		})
	}()
	waitDone(t, hctx, 5*time.Second)
	if err := hctx.Err(); err != context.Canceled {
		t.Errorf("Err = %v, want context.Canceled", err)
	}
	ic.expiries.mu.Lock()
	defer ic.expiries.mu.Unlock()
	if len(ic.expiries.heap) != 0 {
		t.Errorf("schedule after the panic: %d streams", len(ic.expiries.heap))
	}
}

// context.Cause tells why the stream's context ended: its own reason, or
// the parent's cause when the parent ended first.
func TestStreamContextCause(t *testing.T) {
	if cancelCauseKey == nil {
		t.Fatal("the probe did not learn context.Cause's key")
	}
	x := errors.New("client went away")
	for _, tc := range []struct {
		name string
		run  func(c *streamContext, cancel context.CancelCauseFunc)
		want error
	}{
		{"expired, then parent cancelled", func(c *streamContext, cancel context.CancelCauseFunc) {
			c.expire()
			cancel(x)
		}, context.DeadlineExceeded},
		{"handler returned, then parent cancelled", func(c *streamContext, cancel context.CancelCauseFunc) {
			c.end(context.Canceled, endedByReturn)
			cancel(x)
		}, context.Canceled},
		{"parent cancelled first", func(c *streamContext, cancel context.CancelCauseFunc) {
			cancel(x)
			c.expire()
		}, x},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			c := newStreamContext(parent, time.Hour)
			child, stop := context.WithCancel(c)
			defer stop()
			tc.run(c, cancel)
			if got := context.Cause(c); got != tc.want {
				t.Errorf("Cause = %v, want %v", got, tc.want)
			}
			waitDone(t, child, 5*time.Second)
			if got := context.Cause(child); got != tc.want {
				t.Errorf("child's Cause = %v, want %v", got, tc.want)
			}
		})
	}
}

// Removing a stream leaves the timer as it is, so the next stream with the
// same expiry does not touch it; a timer that fires with nothing due sets
// itself for the next stream.
func TestExpiriesTimerOutlivesStreams(t *testing.T) {
	var e expiries
	armed := func() time.Time {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.armed
	}
	first := newStreamContext(context.Background(), time.Hour)
	e.add(first)
	was := armed()
	e.remove(first)
	same := &streamContext{parent: context.Background(), when: first.when}
	e.add(same)
	if now := armed(); now != was {
		t.Errorf("timer moved from %v to %v for a stream of the same expiry", was, now)
	}
	e.remove(same)

	// The timer fires with nothing due and must set itself for the stream
	// added after the one it was set for ended.
	var f expiries
	soon := newStreamContext(context.Background(), 30*time.Millisecond)
	f.add(soon)
	f.remove(soon)
	later := newStreamContext(context.Background(), 80*time.Millisecond)
	f.add(later)
	waitDone(t, later, 5*time.Second)
	if !later.expired() || time.Now().Before(later.when) {
		t.Errorf("expired = %v, %v before its expiry", later.expired(), time.Until(later.when))
	}
}

// A pending timer does not keep an Interceptor alive once its streams have
// ended: the timer holds the schedule through a weak pointer.
func TestExpiriesTimerDoesNotPinInterceptor(t *testing.T) {
	collected := make(chan struct{})
	func() {
		ic := NewInterceptor(newHMACValidator(t))
		claims := &Claims{Identity: "alice", ExpiresAt: time.Now().Add(time.Hour)}
		if err := ic.untilExpiry(context.Background(), &fakeStream{}, claims, func(context.Context, connect.StreamingHandlerConn) error {
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if ic.expiries.timer == nil || ic.expiries.armed.IsZero() {
			t.Fatal("timer not set by the stream")
		}
		runtime.AddCleanup(ic, func(ch chan struct{}) { close(ch) }, collected)
	}()
	for range 20 {
		runtime.GC()
		select {
		case <-collected:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the Interceptor is still reachable after its streams ended")
}

// Expiry, parent cancellation, Err, derived contexts and AfterFunc, all at
// once over many streams.
func TestStreamContextStress(t *testing.T) {
	var e expiries
	var wg sync.WaitGroup
	for g := range 1000 {
		wg.Go(func() {
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			c := newStreamContext(parent, time.Duration(g%7)*time.Millisecond)
			e.add(c)
			defer e.remove(c)
			var inner sync.WaitGroup
			inner.Go(func() {
				if g%2 == 0 {
					cancel()
				}
			})
			inner.Go(func() { _ = c.Err() })
			child, stop := context.WithCancel(c)
			defer stop()
			ran := make(chan struct{})
			context.AfterFunc(c, func() { close(ran) })
			inner.Wait()
			for _, done := range []<-chan struct{}{child.Done(), ran} {
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					t.Errorf("stream %d: not done; Err = %v", g, c.Err())
					return
				}
			}
			if c.Err() == nil || child.Err() == nil {
				t.Errorf("stream %d: nil Err after Done", g)
			}
		})
	}
	wg.Wait()
	if len(e.heap) != 0 {
		t.Errorf("heap holds %d", len(e.heap))
	}
}

// StreamDeadlines's deadline gives way to any server timeout that might end the
// stream sooner.
func TestBeforeServerDeadline(t *testing.T) {
	start := time.Now()
	for _, tc := range []struct {
		name          string
		at            time.Duration // from start
		lead, timeout time.Duration
		want          bool
	}{
		{"no server timeout", time.Hour, 0, 0, true},
		{"ours well before", 10 * time.Second, 0, time.Minute, true},
		{"ours after", 2 * time.Minute, 0, time.Minute, false},
		{"ours within the second of margin", 59500 * time.Millisecond, 0, time.Minute, false},
		{"headers may have taken the lead", 50 * time.Second, 15 * time.Second, time.Minute, false},
		{"before even with the lead", 30 * time.Second, 15 * time.Second, time.Minute, true},
	} {
		if got := beforeServerDeadline(start.Add(tc.at), start, tc.lead, tc.timeout); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if !hasPrefixFold("Application/GRPC-Web+proto", "application/grpc") || hasPrefixFold("application/json", "application/grpc") || hasPrefixFold("app", "application/grpc") {
		t.Error("hasPrefixFold")
	}
}
