package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent Do calls of one key run the function once; the others get its
// result with shared set; a later call runs it again.
func TestDoRunsOnce(t *testing.T) {
	var g Group[string, int]
	var runs atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	type res struct {
		v      int
		err    error
		shared bool
	}
	results := make([]res, 8)
	wg.Go(func() {
		v, err, shared := g.Do(context.Background(), "k", func() (int, error) {
			runs.Add(1)
			close(started)
			<-release
			return 42, nil
		})
		results[0] = res{v, err, shared}
	})
	<-started
	for i := 1; i < len(results); i++ {
		wg.Go(func() {
			v, err, shared := g.Do(context.Background(), "k", func() (int, error) {
				runs.Add(1)
				return -1, nil
			})
			results[i] = res{v, err, shared}
		})
	}
	time.Sleep(20 * time.Millisecond) // let the waiters join
	close(release)
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
	for i, r := range results {
		if r.v != 42 || r.err != nil || r.shared != (i > 0) {
			t.Errorf("caller %d: %+v", i, r)
		}
	}
	if v, _, shared := g.Do(context.Background(), "k", func() (int, error) { return 7, nil }); v != 7 || shared {
		t.Errorf("after the call ended: %d, shared %v", v, shared)
	}
}

// A waiter whose context ends stops waiting with its context's error; the
// call goes on for the others.
func TestDoWaiterCancelled(t *testing.T) {
	var g Group[string, int]
	release := make(chan struct{})
	started := make(chan struct{})
	leader := make(chan int)
	go func() {
		v, _, _ := g.Do(context.Background(), "k", func() (int, error) {
			close(started)
			<-release
			return 1, nil
		})
		leader <- v
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err, shared := g.Do(ctx, "k", func() (int, error) { return 2, nil }); !errors.Is(err, context.DeadlineExceeded) || !shared {
		t.Errorf("cancelled waiter: %v, shared %v", err, shared)
	}
	close(release)
	if v := <-leader; v != 1 {
		t.Errorf("leader got %d", v)
	}
}

// A function that panics releases its waiters with ErrPanicked, the panic
// goes on in the caller that ran it, and the key is free again.
func TestDoPanic(t *testing.T) {
	var g Group[string, int]
	started := make(chan struct{})
	release := make(chan struct{})
	waiter := make(chan error)
	go func() {
		defer func() { _ = recover() }()
		_, _, _ = g.Do(context.Background(), "k", func() (int, error) {
			close(started)
			<-release
			panic("boom") //nolint:forbidigo // the call panics on purpose: the test checks the group survives it
		})
	}()
	<-started
	go func() {
		_, err, _ := g.Do(context.Background(), "k", func() (int, error) { return 0, nil })
		waiter <- err
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-waiter; !errors.Is(err, ErrPanicked) {
		t.Errorf("waiter: %v", err)
	}
	if v, err, _ := g.Do(context.Background(), "k", func() (int, error) { return 3, nil }); v != 3 || err != nil {
		t.Errorf("after the panic: %d %v", v, err)
	}
}

// Go starts one background call per key, joins a running one, and starts
// none when allow refuses; allow is not asked while a call runs.
func TestGo(t *testing.T) {
	var g Group[struct{}, string]
	release := make(chan struct{})
	var asked atomic.Int32
	allow := func() bool { asked.Add(1); return true }
	c1 := g.Go(struct{}{}, allow, func() (string, error) { <-release; return "", errors.New("down") })
	c2 := g.Go(struct{}{}, allow, func() (string, error) { return "other", nil })
	if c1 != c2 || asked.Load() != 1 {
		t.Fatalf("second Go started a call (same %v, allow asked %d times)", c1 == c2, asked.Load())
	}
	close(release)
	<-c1.Done()
	if _, err := c1.Result(); err == nil || err.Error() != "down" {
		t.Errorf("result %v", err)
	}
	// The call has ended; wait until its key is free.
	for {
		g.mu.Lock()
		n := len(g.calls)
		g.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if c := g.Go(struct{}{}, func() bool { return false }, func() (string, error) { return "", nil }); c != nil {
		t.Error("Go started a call allow refused")
	}
}
