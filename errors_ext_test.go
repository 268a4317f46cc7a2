package connectjwt_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// Every Reason is named as on the wire and maps to the code connectjwt
// sends, and every value of the proto enum has a Go constant.
func TestReasonNamesAndCodes(t *testing.T) {
	t.Parallel()
	covered := map[int32]bool{0: true} // REASON_UNSPECIFIED is ReasonUnspecified, not a failure
	for _, tc := range []struct {
		r    connectjwt.Reason
		name string
		code connect.Code
		err  error
	}{
		{connectjwt.ReasonMissing, "REASON_MISSING", connect.CodeUnauthenticated, connectjwt.ErrMissing},
		{connectjwt.ReasonMalformed, "REASON_MALFORMED", connect.CodeUnauthenticated, connectjwt.ErrMalformed},
		{connectjwt.ReasonExpired, "REASON_EXPIRED", connect.CodeUnauthenticated, connectjwt.ErrExpired},
		{connectjwt.ReasonNotYetValid, "REASON_NOT_YET_VALID", connect.CodeUnauthenticated, connectjwt.ErrNotYetValid},
		{connectjwt.ReasonInvalidSignature, "REASON_INVALID_SIGNATURE", connect.CodeUnauthenticated, connectjwt.ErrInvalidSignature},
		{connectjwt.ReasonInvalidAlgorithm, "REASON_INVALID_ALGORITHM", connect.CodeUnauthenticated, connectjwt.ErrInvalidAlgorithm},
		{connectjwt.ReasonInvalidClaims, "REASON_INVALID_CLAIMS", connect.CodeUnauthenticated, connectjwt.ErrInvalidClaims},
		{connectjwt.ReasonWrongTokenType, "REASON_WRONG_TOKEN_TYPE", connect.CodeUnauthenticated, connectjwt.ErrWrongTokenType},
		{connectjwt.ReasonRevoked, "REASON_REVOKED", connect.CodeUnauthenticated, connectjwt.ErrRevoked},
		{connectjwt.ReasonFreshTokenRequired, "REASON_FRESH_TOKEN_REQUIRED", connect.CodeUnauthenticated, connectjwt.ErrFreshTokenRequired},
		{connectjwt.ReasonInsufficientScope, "REASON_INSUFFICIENT_SCOPE", connect.CodePermissionDenied, connectjwt.ErrInsufficientScope},
		{connectjwt.ReasonInvalidCredentials, "REASON_INVALID_CREDENTIALS", connect.CodeUnauthenticated, connectjwt.ErrInvalidCredentials},
		{connectjwt.ReasonAccessDenied, "REASON_ACCESS_DENIED", connect.CodePermissionDenied, connectjwt.ErrAccessDenied},
		{connectjwt.ReasonUnavailable, "REASON_UNAVAILABLE", connect.CodeUnavailable, connectjwt.ErrUnavailable},
		{connectjwt.ReasonRefreshConflict, "REASON_REFRESH_CONFLICT", connect.CodeAborted, connectjwt.ErrRefreshConflict},
		{connectjwt.ReasonTooManyAttempts, "REASON_TOO_MANY_ATTEMPTS", connect.CodeResourceExhausted, connectjwt.ErrTooManyAttempts},
	} {
		covered[int32(tc.r)] = true
		if got := tc.r.String(); got != tc.name {
			t.Errorf("%d: String = %q, want %q", tc.r, got, tc.name)
		}
		if got := connectjwtv1.Reason(tc.r).String(); got != tc.name {
			t.Errorf("%s: the proto enum has %q at this number", tc.name, got)
		}
		if got := tc.r.Code(); got != tc.code {
			t.Errorf("%s: Code = %v, want %v", tc.name, got, tc.code)
		}
		// From a sentinel, a wrapped sentinel, and DefaultError's error.
		if got := connectjwt.ReasonOf(fmt.Errorf("context: %w", tc.err)); got != tc.r {
			t.Errorf("ReasonOf(wrapped %v) = %v", tc.err, got)
		}
		f := &connectjwt.Failure{Reason: tc.r, Err: tc.err}
		ce := connectjwt.DefaultError(f)
		if got := connectjwt.ReasonOf(ce); got != tc.r || ce.Code() != tc.code {
			t.Errorf("DefaultError: reason %v code %v", got, ce.Code())
		}
		ae, ok := connectjwt.AuthErrorOf(f)
		if !ok || connectjwt.Reason(ae.GetReason()) != tc.r || ae.GetMessage() != tc.err.Error() {
			t.Errorf("AuthErrorOf(failure) = %v, %v", ae, ok)
		}
	}
	for n, name := range connectjwtv1.Reason_name {
		if !covered[n] {
			t.Errorf("the proto enum's %s (%d) has no Go Reason constant in this table", name, n)
		}
	}
	if got := connectjwt.ReasonOf(errors.New("other")); got != connectjwt.ReasonUnspecified {
		t.Errorf("ReasonOf(other) = %v", got)
	}
	if ae, ok := connectjwt.AuthErrorOf(connect.NewError(connect.CodeInternal, errors.New("x"))); ok {
		t.Errorf("AuthErrorOf(error without detail) = %v", ae)
	}
}

// A client reads the reason and detail of the error it received with the
// same two functions.
func TestReasonOfReceivedError(t *testing.T) {
	t.Parallel()
	ic := newInterceptor(t)
	s := startServer(t, ic, mountGate, nil)
	for _, p := range protocols() {
		_, err := call(context.Background(), s.client(p), unary)
		if got := connectjwt.ReasonOf(err); got != connectjwt.ReasonMissing {
			t.Errorf("%v: ReasonOf = %v, want missing (err %v)", p, got, err)
		}
		if _, ok := errors.AsType[*connectjwt.Failure](err); ok {
			t.Fatalf("%v: a client error wraps a Failure; the test would not read the wire detail", p)
		}
		if ae, ok := connectjwt.AuthErrorOf(err); !ok || ae.GetMessage() == "" {
			t.Errorf("%v: AuthErrorOf = %v, %v", p, ae, ok)
		}
	}
}

// Claims built by hand marshal and decode their fields.
func TestHandBuiltClaims(t *testing.T) {
	t.Parallel()
	exp := time.Unix(1_900_000_000, 0)
	c := &connectjwt.Claims{Identity: "alice", Issuer: "https://i", Audience: []string{"api"}, ExpiresAt: exp, Scopes: []string{"read", "write"}, Fresh: true, ID: "j1"}
	b, err := c.MarshalJSON()
	if err != nil || len(b) == 0 {
		t.Fatalf("MarshalJSON = %s, %v", b, err)
	}
	var got struct {
		Sub   string `json:"sub"`
		Iss   string `json:"iss"`
		Aud   string `json:"aud"`
		Exp   int64  `json:"exp"`
		Scope string `json:"scope"`
		Fresh bool   `json:"fresh"`
		Jti   string `json:"jti"`
	}
	if err := c.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Sub != "alice" || got.Iss != "https://i" || got.Aud != "api" || got.Exp != exp.Unix() || got.Scope != "read write" || !got.Fresh || got.Jti != "j1" {
		t.Errorf("Decode = %+v (JSON %s)", got, b)
	}
	if v, ok := c.Value("sub"); !ok || string(v) != `"alice"` {
		t.Errorf("Value(sub) = %s, %v", v, ok)
	}
	ctx := connectjwt.NewContextWithClaims(context.Background(), c)
	if id, ok := connectjwt.IdentityFromContext(ctx); !ok || id != "alice" {
		t.Errorf("IdentityFromContext = %q, %v", id, ok)
	}
}

// WithAlgorithms restricts remote key sets too.
func TestWithAlgorithmsRestrictsRemoteKeySets(t *testing.T) {
	t.Parallel()
	k := jwksKeys()
	key := connectjwt.Key{ID: "k", Algorithm: "ES256", Material: k.ec1}
	jwks := newJWKSServer(t, key)
	token := mint(t, tokenSpec{Signer: key, Claims: claimsFor(jwksIssuerA, jwksAudA)})
	open := newRemoteValidator(t, fast(jwksIssuerA, jwks.url, jwksAudA))
	if _, err := open.Validate(context.Background(), token); err != nil {
		t.Fatalf("without WithAlgorithms: %v", err)
	}
	v, err := connectjwt.NewValidator(connectjwt.WithRemoteKeySet(fast(jwksIssuerA, jwks.url, jwksAudA)),
		connectjwt.WithAlgorithms("RS256", "EdDSA"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Validate(context.Background(), token); connectjwt.ReasonOf(err) != connectjwt.ReasonInvalidAlgorithm {
		t.Errorf("ES256 token with WithAlgorithms(RS256, EdDSA) = %v, want invalid algorithm", err)
	}
	// The option that built the restricted validator leaves others alone.
	if _, err := open.Validate(context.Background(), token); err != nil {
		t.Errorf("the unrestricted validator changed: %v", err)
	}
	set := fast(jwksIssuerA, jwks.url, jwksAudA)
	set.Algorithms = []string{"ES256"}
	if _, err := connectjwt.NewValidator(connectjwt.WithRemoteKeySet(set), connectjwt.WithAlgorithms("RS256")); err == nil {
		t.Error("a key set left with no algorithm was accepted")
	}
}

// Logout fails, rather than silently doing nothing, when the interceptor's
// validator does not check the store the AuthService writes to.
func TestAuthServiceRefusesUncheckedStore(t *testing.T) {
	t.Parallel()
	key := connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256))
	issuer, err := connectjwt.NewIssuer(key, connectjwt.WithRevocationStore(connectjwt.NewMemoryStore()))
	if err != nil {
		t.Fatal(err)
	}
	v, err := connectjwt.NewValidator(key) // no store
	if err != nil {
		t.Fatal(err)
	}
	auth := connectjwt.NewInterceptor(v)
	mux := http.NewServeMux()
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(connectjwt.NewAuthService(issuer, nil), auth.HandlerOption()))
	mux.Handle(examplev1connect.NewProtectedServiceHandler(greeter{}, auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	defer stop()
	ctx := context.Background()
	tok, _, err := issuer.CreateAccessToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	withToken := connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(tok)))
	_, err = connectjwtv1connect.NewAuthServiceClient(httpClient, url, withToken).Logout(ctx, connect.NewRequest(&connectjwtv1.LogoutRequest{}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("Logout with an unchecked store = %v, want failed_precondition", err)
	}
	// The token still works: nothing was revoked.
	if _, err := examplev1connect.NewProtectedServiceClient(httpClient, url, withToken).Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{})); err != nil {
		t.Errorf("Protected after the refused Logout: %v", err)
	}
}

// The error helpers given nil fail closed: no detail, and a malformed-token
// error rather than none.
func TestErrorHelpersOnNil(t *testing.T) {
	if ae, ok := connectjwt.AuthErrorOf(nil); ok || ae != nil {
		t.Errorf("AuthErrorOf(nil) = %v, %v", ae, ok)
	}
	if got := connectjwt.DefaultError(nil); connectjwt.ReasonOf(got) != connectjwt.ReasonMalformed {
		t.Errorf("DefaultError(nil) = %v", got)
	}
}
