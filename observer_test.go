package connectjwt

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingObserver keeps what it is shown.
type recordingObserver struct {
	mu        sync.Mutex
	decisions []Decision
	events    []Event
}

func (r *recordingObserver) ObserveDecision(_ context.Context, d Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decisions = append(r.decisions, d)
}

func (r *recordingObserver) ObserveEvent(_ context.Context, e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// nopObserver drops everything.
type nopObserver struct{}

func (nopObserver) ObserveDecision(context.Context, Decision) {}
func (nopObserver) ObserveEvent(context.Context, Event)       {}

func observerSecret() []byte {
	return bytes.Repeat([]byte("k"), 32)
}

// observedValidator returns an issuer and a validator of its tokens that
// reports to o (none when o is nil), both on the clock now.
func observedValidator(tb testing.TB, o Observer, now func() time.Time) (*Issuer, *Validator) {
	tb.Helper()
	common := WithOptions(WithKey(HMACKey(observerSecret())), WithIssuer("https://issuer.test"), WithClock(now))
	is, err := NewIssuer(common)
	if err != nil {
		tb.Fatal(err)
	}
	opts := []ValidatorOption{common}
	if o != nil {
		opts = append(opts, WithObserver(o))
	}
	v, err := NewValidator(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return is, v
}

func TestNewDecision(t *testing.T) {
	claims := &Claims{Issuer: "iss", KeyID: "kid1", Algorithm: "HS256"}
	expired := fail(ErrExpired, claims)
	expired.Procedure = "/p.S/Expired"
	forged := fail(ErrInvalidSignature, nil)
	tests := []struct {
		name      string
		procedure string
		claims    *Claims
		f         *Failure
		want      Decision
	}{
		{"allowed", "/p.S/M", claims, nil, Decision{Procedure: "/p.S/M", Outcome: OutcomeAllowed, Claims: claims, Issuer: "iss", KeyID: "kid1", Algorithm: "HS256"}},
		{"anonymous", "/p.S/M", nil, nil, Decision{Procedure: "/p.S/M", Outcome: OutcomeAnonymous}},
		{"refused after verification keeps the verified names", "", nil, expired, Decision{
			Procedure: "/p.S/Expired", Outcome: OutcomeRefused, Reason: ReasonExpired,
			Failure: expired, Claims: claims, Issuer: "iss", KeyID: "kid1", Algorithm: "HS256",
		}},
		{"refused before verification names nothing", "/p.S/M", nil, forged, Decision{
			Procedure: "/p.S/M", Outcome: OutcomeRefused, Reason: ReasonInvalidSignature, Failure: forged,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newDecision(tt.procedure, tt.claims, tt.f, CacheMiss, time.Millisecond)
			tt.want.Cache, tt.want.Duration = CacheMiss, time.Millisecond
			if got != tt.want {
				t.Errorf("newDecision = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestObserveHelpers(t *testing.T) {
	rec := &recordingObserver{}
	now := time.Now()
	is, v := observedValidator(t, rec, func() time.Time { return now })
	tok, _, err := is.CreateAccessToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	start := v.observeStart()
	if start.IsZero() {
		t.Fatal("observeStart read no clock with an observer installed")
	}
	claims, err := v.Validate(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	v.observeDecision(context.Background(), "/p.S/M", claims, nil, CacheMiss, start)
	v.observeEvent(context.Background(), Event{Kind: EventRevocationCheck, Issuer: claims.Issuer, Duration: time.Microsecond})

	if len(rec.decisions) != 1 || len(rec.events) != 1 {
		t.Fatalf("got %d decisions, %d events; want 1, 1", len(rec.decisions), len(rec.events))
	}
	d := rec.decisions[0]
	if d.Outcome != OutcomeAllowed || d.Issuer != "https://issuer.test" || d.Algorithm != "HS256" || d.Cache != CacheMiss || d.Duration <= 0 {
		t.Errorf("decision = %+v", d)
	}
	if rec.events[0].Kind != EventRevocationCheck {
		t.Errorf("event = %+v", rec.events[0])
	}
}

func TestObserveHelpersWithoutObserver(t *testing.T) {
	_, v := observedValidator(t, nil, time.Now)
	if start := v.observeStart(); !start.IsZero() {
		t.Errorf("observeStart = %v without an observer, want the zero time", start)
	}
	v.observeDecision(context.Background(), "/p.S/M", nil, nil, CacheUnused, time.Time{}) // must not panic
	v.observeEvent(context.Background(), Event{Kind: EventJWKSFetch})
}

// TestObserveAllocations: with no observer the emit sites cost nothing, and
// with one, passing a Decision or Event by value allocates nothing either.
func TestObserveAllocations(t *testing.T) {
	f := fail(ErrExpired, &Claims{Issuer: "iss"})
	ctx := context.Background()
	for _, o := range []Observer{nil, nopObserver{}} {
		_, v := observedValidator(t, o, time.Now)
		allocs := testing.AllocsPerRun(100, func() {
			start := v.observeStart()
			v.observeDecision(ctx, "/p.S/M", nil, f, CacheHit, start)
			v.observeEvent(ctx, Event{Kind: EventRevocationCheck, Err: f})
		})
		if allocs != 0 {
			t.Errorf("observer %T: %v allocations per decision, want 0", o, allocs)
		}
	}
}

func BenchmarkObserveDecision(b *testing.B) {
	f := fail(ErrExpired, &Claims{Issuer: "iss"})
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		o    Observer
	}{{"off", nil}, {"nop", nopObserver{}}, {"slog-disabled", NewSlogObserver(slog.New(slog.DiscardHandler))}} {
		_, v := observedValidator(b, bc.o, time.Now)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				start := v.observeStart()
				v.observeDecision(ctx, "/p.S/M", nil, f, CacheHit, start)
			}
		})
	}
}

func TestSlogObserver(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	now := time.Now()
	clock := func() time.Time { return now }
	is, v := observedValidator(t, NewSlogObserver(logger, SlogRefusalLevel(slog.LevelWarn)), clock)
	ctx := context.Background()

	tok, _, err := is.CreateAccessToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	// Refusals: expired (claims known), forged (signature fails), a token
	// of the wrong type and a header that holds no token.
	refresh, _, err := is.CreateRefreshToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	forged := tok[:strings.LastIndexByte(tok, '.')+1] + strings.Repeat("A", 43)
	now = now.Add(time.Hour)
	garbage := "not-a-token-but-private"
	for _, token := range []string{tok, forged, refresh, garbage} {
		// Through the header, as a call presents it; Authenticate reports.
		_, f := v.Authenticate(ctx, Call{Procedure: "/p.S/M", Header: []string{"Bearer " + token}})
		if f == nil {
			t.Fatalf("token %q accepted", token)
		}
	}
	v.observeEvent(ctx, Event{Kind: EventJWKSFetch, Issuer: "https://idp.test", Err: errors.New("dial tcp: refused")})
	v.observeEvent(ctx, Event{Kind: EventJWKSFetch, Issuer: "https://idp.test", Keys: 2, KeysSkipped: 1})
	v.observeEvent(ctx, Event{Kind: EventStreamEnd, Procedure: "/p.S/Stream", Reason: ReasonUnavailable})

	out := buf.String()
	for _, token := range []string{tok, forged, refresh, garbage} {
		for seg := range strings.SplitSeq(token, ".") {
			if strings.Contains(out, seg) {
				t.Fatalf("log output contains token text %q:\n%s", seg, out)
			}
		}
	}
	if strings.Contains(out, string(observerSecret())) {
		t.Fatal("log output contains the key")
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// record returns the first record containing substr.
	record := func(substr string) string {
		for _, l := range lines {
			if strings.Contains(l, substr) {
				return l
			}
		}
		t.Errorf("no record with %s in:\n%s", substr, out)
		return ""
	}
	for _, w := range []struct{ level, substr string }{
		{"WARN", `"reason":"REASON_EXPIRED"`},
		{"WARN", `"reason":"REASON_INVALID_SIGNATURE"`},
		{"WARN", `"reason":"REASON_WRONG_TOKEN_TYPE"`},
		{"WARN", `"reason":"REASON_MALFORMED"`},
		{"WARN", `"error":"dial tcp: refused"`},
		{"DEBUG", `"keys_skipped":1`},
		{"WARN", `"event":"stream_end"`},
	} {
		if l := record(w.substr); !strings.Contains(l, `"level":"`+w.level+`"`) {
			t.Errorf("record %s: want level %s", l, w.level)
		}
	}
	if l := record("REASON_EXPIRED"); !strings.Contains(l, `"issuer":"https://issuer.test"`) || !strings.Contains(l, `"alg":"HS256"`) ||
		!strings.Contains(l, `"procedure":"/p.S/M"`) {
		t.Errorf("expired refusal lacks the procedure or the verified issuer and alg: %s", l)
	}
	if l := record("REASON_INVALID_SIGNATURE"); strings.Contains(l, `"alg"`) {
		t.Errorf("forged refusal names an unverified alg: %s", l)
	}
}

func TestSlogObserverLevels(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	o := NewSlogObserver(logger) // refusals at info, admitted calls at debug
	ctx := context.Background()
	o.ObserveDecision(ctx, Decision{Procedure: "/p.S/Allowed", Outcome: OutcomeAllowed})
	o.ObserveDecision(ctx, Decision{Procedure: "/p.S/Refused", Outcome: OutcomeRefused, Reason: ReasonOf(ErrMissing), Failure: fail(ErrMissing, nil)})
	o.ObserveEvent(ctx, Event{Kind: EventRevocationCheck, Revoked: true})
	out := buf.String()
	if strings.Contains(out, "/p.S/Allowed") || strings.Contains(out, "revocation") {
		t.Errorf("debug records written at info level:\n%s", out)
	}
	if !strings.Contains(out, "level=INFO") || !strings.Contains(out, "reason=REASON_MISSING") {
		t.Errorf("refusal not logged at info:\n%s", out)
	}

	buf.Reset()
	o = NewSlogObserver(logger, SlogDecisionLevel(slog.LevelInfo), SlogRefusalLevel(slog.LevelDebug))
	o.ObserveDecision(ctx, Decision{Procedure: "/p.S/Allowed", Outcome: OutcomeAllowed})
	o.ObserveDecision(ctx, Decision{Procedure: "/p.S/Refused", Outcome: OutcomeRefused})
	if out := buf.String(); !strings.Contains(out, "/p.S/Allowed") || strings.Contains(out, "/p.S/Refused") {
		t.Errorf("levels not applied:\n%s", out)
	}
}
