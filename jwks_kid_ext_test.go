package connectjwt_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
)

// validateFinal validates tok, retrying while the answer is UNAVAILABLE (a
// kid not yet checked by a fetch the rate limit allows), for at most 5 s.
func validateFinal(t *testing.T, v *connectjwt.Validator, tok string) error {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Validate(context.Background(), tok)
		if connectjwt.ReasonOf(err) != connectjwt.ReasonUnavailable || time.Now().After(deadline) {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A flood of forged kids uses up the fetch rate limit; then the issuer
// rotates a key in and a genuine token signed with it arrives. It must be
// answered UNAVAILABLE (retryable), never INVALID_SIGNATURE (final), until
// the next permitted fetch, and accepted after it; fetches stay at one per
// MinRefreshInterval.
func TestJWKSRotationDuringKIDFlood(t *testing.T) {
	ctx := context.Background()
	k := jwksKeys()
	oldKey := connectjwt.Key{ID: "old", Algorithm: "ES256", Material: k.ec1}
	newKey := connectjwt.Key{ID: "new", Algorithm: "EdDSA", Material: k.ed}
	srv := newJWKSServer(t, oldKey)
	const interval = 300 * time.Millisecond
	set := fast(jwksIssuerA, srv.url, jwksAudA)
	set.MinRefreshInterval = interval
	v := newRemoteValidator(t, set)
	if _, err := v.Validate(ctx, mint(t, tokenSpec{Signer: oldKey, Claims: claimsFor(jwksIssuerA, jwksAudA)})); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// The flood: forged tokens with random kids, from many goroutines.
	var wg sync.WaitGroup
	for i := range 100 {
		forged := mint(t, tokenSpec{Signer: connectjwt.Key{ID: fmt.Sprintf("forged-%d", i), Algorithm: "ES256", Material: k.ec2}, Claims: claimsFor(jwksIssuerA, jwksAudA)})
		wg.Go(func() {
			_, err := v.Validate(ctx, forged)
			if r := connectjwt.ReasonOf(err); r != connectjwt.ReasonInvalidSignature && r != connectjwt.ReasonUnavailable {
				t.Errorf("forged kid: %v", err)
			}
		})
	}
	wg.Wait()
	// The issuer rotates a key in; its first token arrives at once.
	srv.publish(t, oldKey, newKey)
	genuine := mint(t, tokenSpec{Signer: newKey, Claims: claimsFor(jwksIssuerA, jwksAudA)})
	answers := 0
	for {
		answers++
		_, err := v.Validate(ctx, genuine)
		if err == nil {
			break
		}
		if r := connectjwt.ReasonOf(err); r != connectjwt.ReasonUnavailable {
			t.Fatalf("genuine token with a just-rotated key: %v, want UNAVAILABLE until the next fetch", err)
		}
		if time.Since(start) > 10*interval {
			t.Fatalf("genuine token still refused after %v", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if answers == 1 {
		t.Fatal("the flood did not use up the rate limit: the test shows nothing")
	}
	elapsed := time.Since(start)
	// Fetches: the first, at most one per interval since.
	if n, most := srv.hits.Load(), 2+int32(elapsed/interval); n > most {
		t.Errorf("%d fetches in %v, want at most %d", n, elapsed, most)
	}
}
