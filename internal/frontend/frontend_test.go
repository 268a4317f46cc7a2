package frontend_test

import (
	"testing"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/internal/frontend"
)

// TestEveryReason covers every value of the Reason enum, so a reason added
// to the .proto cannot go unmapped silently.
func TestEveryReason(t *testing.T) {
	const invalid = `Bearer error="invalid_token"`
	want := map[connectjwtv1.Reason]struct {
		loader    frontend.Loader
		challenge string
	}{
		connectjwtv1.Reason_REASON_UNSPECIFIED:          {frontend.Invalid, invalid},
		connectjwtv1.Reason_REASON_MISSING:              {frontend.Unauthorized, "Bearer"},
		connectjwtv1.Reason_REASON_MALFORMED:            {frontend.Invalid, invalid},
		connectjwtv1.Reason_REASON_EXPIRED:              {frontend.Expired, invalid},
		connectjwtv1.Reason_REASON_NOT_YET_VALID:        {frontend.Invalid, invalid},
		connectjwtv1.Reason_REASON_INVALID_SIGNATURE:    {frontend.Invalid, invalid},
		connectjwtv1.Reason_REASON_INVALID_ALGORITHM:    {frontend.Invalid, invalid},
		connectjwtv1.Reason_REASON_INVALID_CLAIMS:       {frontend.Invalid, invalid},
		connectjwtv1.Reason_REASON_WRONG_TOKEN_TYPE:     {frontend.Invalid, invalid},
		connectjwtv1.Reason_REASON_REVOKED:              {frontend.Revoked, invalid},
		connectjwtv1.Reason_REASON_FRESH_TOKEN_REQUIRED: {frontend.NeedsFresh, invalid},
		connectjwtv1.Reason_REASON_INSUFFICIENT_SCOPE:   {frontend.InsufficientScope, `Bearer error="insufficient_scope"`},
		connectjwtv1.Reason_REASON_ACCESS_DENIED:        {frontend.AccessDenied, "Bearer"},
		connectjwtv1.Reason_REASON_INVALID_CREDENTIALS:  {frontend.Invalid, invalid},
		connectjwtv1.Reason_REASON_UNAVAILABLE:          {frontend.Unavailable, "Bearer"},
		connectjwtv1.Reason_REASON_REFRESH_CONFLICT:     {frontend.Invalid, "Bearer"},
		connectjwtv1.Reason_REASON_TOO_MANY_ATTEMPTS:    {frontend.Invalid, "Bearer"},
	}
	for v, name := range connectjwtv1.Reason_name {
		r := connectjwtv1.Reason(v)
		w, ok := want[r]
		if !ok {
			t.Errorf("%s: not in this table; decide its loader and challenge", name)
			continue
		}
		if got := frontend.LoaderFor(r); got != w.loader || got >= frontend.NumLoaders {
			t.Errorf("%s: loader %d, want %d", name, got, w.loader)
		}
		if got := frontend.Challenge("", r); got != w.challenge {
			t.Errorf("%s: challenge %q, want %q", name, got, w.challenge)
		}
	}
	if got := frontend.Challenge("DPoP", connectjwtv1.Reason_REASON_EXPIRED); got != `DPoP error="invalid_token"` {
		t.Errorf("custom scheme: %q", got)
	}
}
