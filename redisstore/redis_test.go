package redisstore_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/connectjwt/connectjwt/redisstore"
)

// TestMain silences go-redis's log of failed dials: the tests stop Redis on
// purpose. Run with -v to keep it.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		redis.SetLogger(quiet{})
	}
	os.Exit(m.Run())
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// redisServer is a redis-server process of one test, on a free loopback
// port, with no persistence.
type redisServer struct {
	Addr string

	t    *testing.T
	cmd  *exec.Cmd
	out  *syncBuffer
	once sync.Once
}

// startRedis starts redis-server from PATH and waits until it answers PING.
// The tests need a real server: CI installs Debian's redis-server package.
func startRedis(t *testing.T, args ...string) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not on PATH (%v): install it with `apt-get install redis-server` "+
			"(.ci/run does); these tests need a real Redis and do not skip", err)
	}
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		r := &redisServer{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), t: t, out: &syncBuffer{}}
		r.cmd = exec.CommandContext(context.Background(), bin, append([]string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--daemonize", "no"}, args...)...)
		r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
		if err := r.cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = r.cmd.Wait(); close(exited) }()
		t.Cleanup(func() { r.Stop(); <-exited })
		if lastErr = r.waitReady(exited); lastErr == nil {
			return r
		}
		r.Stop() // most likely the port was taken meanwhile: try another
	}
	t.Fatalf("redis-server did not start: %v", lastErr)
	return nil
}

func (r *redisServer) waitReady(exited <-chan struct{}) error {
	c := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %s", r.out.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PING answer from %s: %w; output: %s", r.Addr, err, r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server (also when it is paused).
func (r *redisServer) Stop() {
	r.once.Do(func() { _ = r.cmd.Process.Kill() })
}

// Pause freezes the server with SIGSTOP: connections stay open, nothing is
// answered. It resumes in cleanup, so it can be stopped.
func (r *redisServer) Pause() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.Resume)
}

// Resume undoes Pause.
func (r *redisServer) Resume() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }

// Client returns a client of the server, closed in cleanup.
func (r *redisServer) Client(contextTimeouts bool) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr:                  r.Addr,
		ContextTimeoutEnabled: contextTimeouts,
		DialTimeout:           time.Second,
	})
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

func freePort() (int, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("listener address %v is not TCP", ln.Addr())
	}
	return addr.Port, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newStore returns redisstore.New's store, failing the test on an error.
func newStore(t *testing.T, client redis.UniversalClient, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(context.Background(), client, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
