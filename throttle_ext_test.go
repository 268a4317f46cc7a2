package connectjwt_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// throttleFixture serves AuthService (user test/test) with the given
// options.
func throttleFixture(t *testing.T, opts ...connectjwt.AuthServiceOption) (string, *http.Client) {
	t.Helper()
	issuer, err := connectjwt.NewIssuer(connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))))
	if err != nil {
		t.Fatal(err)
	}
	login := func(_ context.Context, user, password string) (string, error) {
		if user != "test" || password != "test" {
			return "", errors.New("wrong credentials")
		}
		return user, nil
	}
	mux := http.NewServeMux()
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(connectjwt.NewAuthService(issuer, login, opts...)))
	url, client, stop := serve(mux)
	t.Cleanup(stop)
	return url, client
}

func tryLogin(ctx context.Context, c connectjwtv1connect.AuthServiceClient, user, password string) error {
	_, err := c.Login(ctx, connect.NewRequest(&connectjwtv1.LoginRequest{Username: user, Password: password}))
	return err
}

// The default limiter: ten failures per username are answered as wrong
// credentials; after the eleventh, attempts wait (resource_exhausted with a
// retry delay), also with the right password and whether or not the user
// exists; other usernames are unaffected; the delay passes.
func TestLoginThrottledByDefault(t *testing.T) {
	clock := &memClock{}
	clock.ns.Store(time.Now().UnixNano())
	limiter := connectjwt.NewLoginLimiter(connectjwt.LoginLimits{})
	connectjwt.SetLoginLimiterClock(limiter, clock.now)
	url, httpClient := throttleFixture(t, connectjwt.WithLoginLimiter(limiter))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, p := range wireProtocols() {
		c := connectjwtv1connect.NewAuthServiceClient(httpClient, url, p.opts...)
		for _, user := range []string{"test", fmt.Sprint("nobody", i)} {
			for n := 1; n <= connectjwt.DefaultLoginFailuresPerUsername+1; n++ {
				if err := tryLogin(ctx, c, user, "guess"); connectjwt.ReasonOf(err) != connectjwt.ReasonInvalidCredentials {
					t.Fatalf("%s %s failure %d: %v", p.name, user, n, err)
				}
			}
			for _, password := range []string{"guess", "test"} {
				err := tryLogin(ctx, c, user, password)
				ae, _ := connectjwt.AuthErrorOf(err)
				if connect.CodeOf(err) != connect.CodeResourceExhausted || ae.GetReason() != connectjwtv1.Reason_REASON_TOO_MANY_ATTEMPTS ||
					ae.GetRetryAfter().AsDuration() != time.Second || !ae.GetRetryable() {
					t.Fatalf("%s %s after %d failures: %v (%v)", p.name, user, connectjwt.DefaultLoginFailuresPerUsername+1, err, ae)
				}
			}
		}
		if err := tryLogin(ctx, c, "someone-else", "x"); connectjwt.ReasonOf(err) != connectjwt.ReasonInvalidCredentials {
			t.Errorf("%s: another username was throttled: %v", p.name, err)
		}
		clock.advance(time.Second)
		if err := tryLogin(ctx, c, "test", "test"); err != nil {
			t.Fatalf("%s: login after the delay: %v", p.name, err)
		}
		// The success forgot the username's failures.
		if err := tryLogin(ctx, c, "test", "guess"); connectjwt.ReasonOf(err) != connectjwt.ReasonInvalidCredentials {
			t.Fatalf("%s: failure after a success: %v", p.name, err)
		}
		clock.advance(time.Hour) // a fresh window for the next protocol
	}
}

// One peer spraying many usernames is throttled by the per-peer limit.
func TestLoginThrottledPerPeer(t *testing.T) {
	url, httpClient := throttleFixture(t, connectjwt.WithLoginLimiter(connectjwt.NewLoginLimiter(connectjwt.LoginLimits{PerPeer: 5})))
	c := connectjwtv1connect.NewAuthServiceClient(httpClient, url)
	ctx := context.Background()
	for n := range 6 {
		if err := tryLogin(ctx, c, fmt.Sprint("user", n), "x"); connectjwt.ReasonOf(err) != connectjwt.ReasonInvalidCredentials {
			t.Fatalf("failure %d: %v", n, err)
		}
	}
	if err := tryLogin(ctx, c, "user-new", "x"); connectjwt.ReasonOf(err) != connectjwt.ReasonTooManyAttempts {
		t.Fatalf("7th username from one peer: %v", err)
	}
}

// recordingLimiter records the calls Login makes.
type recordingLimiter struct {
	mu    sync.Mutex
	calls []string
	inner connectjwt.LoginLimiter
}

func (r *recordingLimiter) record(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *recordingLimiter) Allow(ctx context.Context, username, peer string) (time.Duration, error) {
	r.record("Allow")
	return r.inner.Allow(ctx, username, peer)
}

func (r *recordingLimiter) Fail(ctx context.Context, username, peer string) error {
	r.record("Fail")
	return r.inner.Fail(ctx, username, peer)
}

func (r *recordingLimiter) Succeed(ctx context.Context, username, peer string) error {
	r.record("Succeed")
	return r.inner.Succeed(ctx, username, peer)
}

// The limiter adds no user-existence oracle: an unknown user and a wrong
// password make the same limiter calls, get the same answers (also once
// throttled), and take the same time within noise.
func TestLoginThrottleNoUserOracle(t *testing.T) {
	rec := &recordingLimiter{inner: connectjwt.NewLoginLimiter(connectjwt.LoginLimits{PerPeer: -1})}
	url, httpClient := throttleFixture(t, connectjwt.WithLoginLimiter(rec))
	c := connectjwtv1connect.NewAuthServiceClient(httpClient, url)
	ctx := context.Background()
	run := func(user string) ([]string, []string) {
		rec.mu.Lock()
		rec.calls = nil
		rec.mu.Unlock()
		var answers []string
		for range connectjwt.DefaultLoginFailuresPerUsername + 3 {
			err := tryLogin(ctx, c, user, "wrong")
			ae, _ := connectjwt.AuthErrorOf(err)
			answers = append(answers, fmt.Sprint(connect.CodeOf(err), err.Error(), ae.GetReason(), ae.GetRetryAfter().AsDuration()))
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.Clone(rec.calls), answers
	}
	knownCalls, knownAnswers := run("test")
	unknownCalls, unknownAnswers := run("nobody")
	if !slices.Equal(knownCalls, unknownCalls) {
		t.Errorf("limiter calls differ:\nknown   %v\nunknown %v", knownCalls, unknownCalls)
	}
	if !slices.Equal(knownAnswers, unknownAnswers) {
		t.Errorf("answers differ:\nknown   %q\nunknown %q", knownAnswers, unknownAnswers)
	}

	// Timing: interleaved wrong-password and unknown-user logins on fresh
	// usernames (below the limit), medians within a factor of two.
	rec2 := connectjwt.NewLoginLimiter(connectjwt.LoginLimits{PerPeer: -1})
	url, httpClient = throttleFixture(t, connectjwt.WithLoginLimiter(rec2))
	c = connectjwtv1connect.NewAuthServiceClient(httpClient, url)
	var known, unknown []time.Duration
	for i := range 200 {
		for _, user := range []string{"test", fmt.Sprint("nobody", i)} {
			start := time.Now()
			_ = tryLogin(ctx, c, user, "wrong")
			d := time.Since(start)
			if user == "test" {
				known = append(known, d)
				_ = tryLogin(ctx, c, "test", "test") // reset, to stay below the limit
			} else {
				unknown = append(unknown, d)
			}
		}
	}
	median := func(ds []time.Duration) time.Duration { slices.Sort(ds); return ds[len(ds)/2] }
	mk, mu := median(known), median(unknown)
	if mk > 2*mu || mu > 2*mk {
		t.Errorf("median login failure: %v for a wrong password, %v for an unknown user", mk, mu)
	}
}

// The in-memory limiter keeps at most MaxEntries keys.
func TestLoginLimiterBoundedMemory(t *testing.T) {
	l := connectjwt.NewLoginLimiter(connectjwt.LoginLimits{MaxEntries: 100})
	ctx := context.Background()
	for i := range 1000 {
		_ = l.Fail(ctx, fmt.Sprint("user", i), fmt.Sprintf("10.0.%d.%d:1234", i/256, i%256))
	}
	if n := connectjwt.LoginLimiterSize(l); n > 100 {
		t.Fatalf("%d keys, want at most 100", n)
	}
	// IPv6 peers count per /64.
	for i := range 20 {
		_ = l.Fail(ctx, fmt.Sprint("v6user", i), fmt.Sprintf("[2001:db8::%x]:443", i))
	}
	if d, _ := l.Allow(ctx, "fresh", "[2001:db8::ffff]:1"); d != 0 {
		t.Errorf("per-peer limit (100) reached by 20 failures: %v", d)
	}
	strict := connectjwt.NewLoginLimiter(connectjwt.LoginLimits{PerPeer: 3})
	for i := range 4 {
		_ = strict.Fail(ctx, fmt.Sprint("v6user", i), fmt.Sprintf("[2001:db8::%x]:443", i+1))
	}
	if d, _ := strict.Allow(ctx, "fresh", "[2001:db8::ffff]:1"); d <= 0 {
		t.Error("addresses of one IPv6 /64 were counted apart")
	}
}

func TestLoginLimitsBackoff(t *testing.T) {
	l := connectjwt.LoginLimits{}.WithDefaults()
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {10, 0}, {11, time.Second}, {12, 2 * time.Second}, {15, 16 * time.Second},
		{20, 512 * time.Second}, {21, 15 * time.Minute}, {1000, 15 * time.Minute},
	} {
		if got := l.Backoff(tc.failures, l.PerUsername); got != tc.want {
			t.Errorf("Backoff(%d) = %v, want %v", tc.failures, got, tc.want)
		}
	}
	if got := l.Backoff(1000, -1); got != 0 {
		t.Errorf("Backoff with the limit off = %v", got)
	}
}
