package connectjwt_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
)

// eventRecorder is an Observer that keeps events.
type eventRecorder struct {
	mu     sync.Mutex
	events []connectjwt.Event
}

func (r *eventRecorder) ObserveDecision(context.Context, connectjwt.Decision) {}

func (r *eventRecorder) ObserveEvent(_ context.Context, e connectjwt.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *eventRecorder) count(kind connectjwt.EventKind) (n int, last connectjwt.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Kind == kind {
			n, last = n+1, e
		}
	}
	return n, last
}

// TestJWKSEventsObserved: a fetch reports its keys bound and skipped, a
// failed one its error, and an unknown kid past the rate limit a
// rate-limited event.
func TestJWKSEventsObserved(t *testing.T) {
	k := jwksKeys()
	good := connectjwt.Key{ID: "good", Algorithm: "ES256", Material: k.ec1}
	srv := newJWKSServer(t, good)
	// One usable key and one symmetric key, which is skipped.
	var body struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(publishedJWKS(t, good), &body); err != nil {
		t.Fatal(err)
	}
	body.Keys = append(body.Keys, json.RawMessage(`{"kty":"oct","kid":"sym","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`))
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	srv.setBody(b)
	set := fast(jwksIssuerA, srv.url, jwksAudA)
	set.MinRefreshInterval = time.Minute
	rec := &eventRecorder{}
	var v *connectjwt.Validator
	v, err = connectjwt.NewValidator(connectjwt.WithRemoteKeySet(set), connectjwt.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Validate(ctx, mint(t, tokenSpec{Signer: good, Claims: claimsFor(jwksIssuerA, jwksAudA)})); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if n, e := rec.count(connectjwt.EventJWKSFetch); n != 1 || e.Err != nil || e.Keys != 1 || e.KeysSkipped != 1 || e.Issuer != jwksIssuerA || e.Duration <= 0 {
			return fmt.Errorf("%d fetch events, last %+v; want one with 1 key, 1 skipped", n, e)
		}
		return nil
	})
	// An unknown kid refetches once; the second within the rate limit
	// (one a minute) does not.
	other := connectjwt.Key{ID: "other", Algorithm: "ES256", Material: k.ec2}
	for range 2 {
		if _, err := v.Validate(ctx, mint(t, tokenSpec{Signer: other, Claims: claimsFor(jwksIssuerA, jwksAudA)})); connectjwt.ReasonOf(err) != connectjwt.ReasonInvalidSignature {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n, _ := rec.count(connectjwt.EventJWKSFetch); n != 2 {
		t.Errorf("%d fetch events, want 2", n)
	}
	if n, e := rec.count(connectjwt.EventJWKSRateLimited); n != 1 || e.Issuer != jwksIssuerA {
		t.Errorf("%d rate-limited events, last %+v; want 1", n, e)
	}

	// A key server that fails from the start reports the error.
	down := newJWKSServer(t)
	down.setMode("500")
	rec2 := &eventRecorder{}
	if _, err := connectjwt.NewValidator(connectjwt.WithRemoteKeySet(fast(jwksIssuerB, down.url, jwksAudB)), connectjwt.WithObserver(rec2)); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if n, e := rec2.count(connectjwt.EventJWKSFetch); n != 1 || e.Err == nil {
			return fmt.Errorf("%d fetch events, last %+v; want one failed", n, e)
		}
		return nil
	})
}
