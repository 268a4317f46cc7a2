package connectjwt

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAuthenticateReportsOneDecision: every call of Validator.Authenticate
// reports exactly one decision, with its outcome, reason and cache result.
func TestAuthenticateReportsOneDecision(t *testing.T) {
	rec := &recordingObserver{}
	store := RevokedFunc(func(_ context.Context, c *Claims) (bool, error) {
		switch c.Identity {
		case "revoked":
			return true, nil
		case "down":
			return false, errors.New("store down")
		}
		return false, nil
	})
	common := WithOptions(WithKey(HMACKey(observerSecret())), WithIssuer("https://issuer.test"), WithRevocationStore(store))
	is, err := NewIssuer(common)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewValidator(common, WithObserver(rec), WithPublicProcedures("/p.S/Public"), WithOptionalProcedures("/p.S/Optional"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	token := func(id string) []string {
		tok, _, err := is.CreateAccessToken(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return []string{"Bearer " + tok}
	}
	alice := token("alice")
	forged := []string{alice[0][:len(alice[0])-4] + "AAAA"}
	tests := []struct {
		name      string
		procedure string
		header    []string
		outcome   Outcome
		reason    Reason
		cache     CacheResult
		revEvent  bool // a revocation check was reported
	}{
		{"first use verifies", "/p.S/M", alice, OutcomeAllowed, ReasonUnspecified, CacheMiss, true},
		{"second use hits the cache", "/p.S/M", alice, OutcomeAllowed, ReasonUnspecified, CacheHit, true},
		{"public", "/p.S/Public", alice, OutcomeAnonymous, ReasonUnspecified, CacheUnused, false},
		{"optional without a token", "/p.S/Optional", nil, OutcomeAnonymous, ReasonUnspecified, CacheUnused, false},
		{"missing", "/p.S/M", nil, OutcomeRefused, ReasonMissing, CacheUnused, false},
		{"forged", "/p.S/M", forged, OutcomeRefused, ReasonInvalidSignature, CacheMiss, false},
		{"revoked", "/p.S/M", token("revoked"), OutcomeRefused, ReasonRevoked, CacheMiss, true},
		{"store down", "/p.S/M", token("down"), OutcomeRefused, ReasonUnavailable, CacheMiss, true},
	}
	for _, tt := range tests {
		rec.mu.Lock()
		rec.decisions, rec.events = nil, nil
		rec.mu.Unlock()
		_, f := v.Authenticate(ctx, Call{Procedure: tt.procedure, Header: tt.header})
		rec.mu.Lock()
		ds, es := rec.decisions, rec.events
		rec.mu.Unlock()
		if len(ds) != 1 {
			t.Errorf("%s: %d decisions, want 1", tt.name, len(ds))
			continue
		}
		d := ds[0]
		if d.Procedure != tt.procedure || d.Outcome != tt.outcome || d.Reason != tt.reason || d.Cache != tt.cache || d.Failure != f || d.Duration <= 0 {
			t.Errorf("%s: decision %+v, want %s %s cache %s", tt.name, d, tt.outcome, tt.reason, tt.cache)
		}
		if got := len(es) == 1 && es[0].Kind == EventRevocationCheck && es[0].Issuer == "https://issuer.test"; got != tt.revEvent {
			t.Errorf("%s: events %+v, want a revocation check: %v", tt.name, es, tt.revEvent)
		}
	}
}

// TestAuthenticateNoObserverAllocations: without an observer, a cache hit
// through Authenticate allocates only the handler's context, as before the
// hook existed (one allocation, measured on main before this change).
func TestAuthenticateNoObserverAllocations(t *testing.T) {
	is, v := observedValidator(t, nil, time.Now)
	tok, _, err := is.CreateAccessToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	call := Call{Procedure: "/p.S/M", Header: []string{"Bearer " + tok}}
	ctx := context.Background()
	if _, f := v.Authenticate(ctx, call); f != nil { // fill the cache
		t.Fatal(f)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if _, f := v.Authenticate(ctx, call); f != nil {
			t.Fatal(f)
		}
	})
	if allocs != 1 {
		t.Errorf("Authenticate on a cache hit without observer: %v allocations, want 1 (the context)", allocs)
	}
}

// TestStreamContextReportsEnd: a stream context that ends at the token's
// expiry reports the end with the procedure; one cancelled first reports
// nothing.
func TestStreamContextReportsEnd(t *testing.T) {
	rec := &recordingObserver{}
	is, v := observedValidator(t, rec, time.Now)
	ctx := context.Background()
	tok, _, err := is.CreateAccessToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	authed, f := v.Authenticate(ctx, Call{Procedure: "/p.S/Stream", Header: []string{"Bearer " + tok}})
	if f != nil {
		t.Fatal(f)
	}
	claims, _ := ClaimsFromContext(authed)
	soon := *claims
	soon.ExpiresAt = time.Now().Add(50 * time.Millisecond)

	sctx, cancel := v.StreamContext(NewContextWithClaims(authed, &soon))
	<-sctx.Done()
	var end Event
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		rec.mu.Lock()
		for _, e := range rec.events {
			if e.Kind == EventStreamEnd {
				end = e
			}
		}
		rec.mu.Unlock()
		if end.Kind != 0 {
			break
		}
	}
	cancel()
	if end.Kind != EventStreamEnd || end.Reason != ReasonExpired || end.Issuer != "https://issuer.test" {
		t.Errorf("stream end event %+v, want an expiry", end)
	}

	rec.mu.Lock()
	rec.events = nil
	rec.mu.Unlock()
	_, cancel = v.StreamContext(authed)
	cancel()
	time.Sleep(20 * time.Millisecond)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, e := range rec.events {
		if e.Kind == EventStreamEnd {
			t.Errorf("cancelled stream reported %+v", e)
		}
	}
}
