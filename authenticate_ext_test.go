package connectjwt_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
	policytestv1 "github.com/connectjwt/connectjwt/internal/gen/policytest/v1"
	"github.com/connectjwt/connectjwt/internal/gen/policytest/v1/policytestv1connect"
)

// authnFixture is an issuer and a validator with policies, sharing a key and
// a revocation store.
type authnFixture struct {
	issuer *connectjwt.Issuer
	v      *connectjwt.Validator
	store  *connectjwt.MemoryStore
}

const (
	procPublic   = "/test.v1.S/Public"
	procOptional = "/test.v1.S/Optional"
	procScoped   = "/test.v1.S/Scoped"
	procFresh    = "/test.v1.S/Fresh"
	procChecked  = "/test.v1.S/Checked"
	procPlain    = "/test.v1.S/Plain"
)

func newAuthnFixture(t *testing.T, opts ...connectjwt.ValidatorOption) *authnFixture {
	t.Helper()
	store := connectjwt.NewMemoryStore()
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)),
		connectjwt.WithIssuer(testIssuer),
		connectjwt.WithRevocationStore(store),
	)
	issuer, err := connectjwt.NewIssuer(shared, connectjwt.WithExtraClaims(func(_ context.Context, id string) (map[string]any, error) {
		if id == "reader" {
			return map[string]any{"scope": "read"}, nil
		}
		return map[string]any{}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	v, err := connectjwt.NewValidator(append([]connectjwt.ValidatorOption{shared,
		connectjwt.WithPublicProcedures(procPublic),
		connectjwt.WithOptionalProcedures(procOptional),
		connectjwt.WithProcedurePolicy(procScoped, connectjwt.Policy{Scopes: []string{"read", "write"}}),
		connectjwt.WithProcedurePolicy(procFresh, connectjwt.Policy{Fresh: true}),
		connectjwt.WithClaimsCheck(func(_ context.Context, procedure string, c *connectjwt.Claims) error {
			if procedure == procChecked && c.Identity != "admin" {
				return errors.New("not an admin")
			}
			return nil
		}),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &authnFixture{issuer: issuer, v: v, store: store}
}

func (f *authnFixture) bearer(ctx context.Context, t *testing.T, identity string, fresh bool) []string {
	t.Helper()
	create := f.issuer.CreateAccessToken
	if fresh {
		create = f.issuer.CreateFreshAccessToken
	}
	tok, _, err := create(ctx, identity)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"Bearer " + tok}
}

func TestValidatorAuthenticate(t *testing.T) {
	t.Parallel()
	f := newAuthnFixture(t)
	ctx := context.Background()
	alice := f.bearer(ctx, t, "alice", false)
	revoked := f.bearer(ctx, t, "mallory", true)
	rc, err := f.v.Validate(ctx, revoked[0][len("Bearer "):])
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.RevokeToken(ctx, rc); err != nil {
		t.Fatal(err)
	}
	refresh, _, err := f.issuer.CreateRefreshToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	publicMethod := policytestv1.File_policytest_v1_policytest_proto.Services().Get(0).Methods().ByName("Public")
	scopedMethod := policytestv1.File_policytest_v1_policytest_proto.Services().Get(0).Methods().ByName("Scoped")
	for _, tc := range []struct {
		name     string
		call     connectjwt.Call
		want     connectjwt.Reason // ReasonUnspecified: admitted
		identity string            // of the admitted call, "" for none
		missing  []string
	}{
		{name: "public, no token", call: connectjwt.Call{Procedure: procPublic}},
		{name: "public, garbage token", call: connectjwt.Call{Procedure: procPublic, Header: []string{"Bearer x"}}},
		{name: "optional, no token", call: connectjwt.Call{Procedure: procOptional}},
		{name: "optional, valid token", call: connectjwt.Call{Procedure: procOptional, Header: alice}, identity: "alice"},
		{name: "optional, bad token", call: connectjwt.Call{Procedure: procOptional, Header: []string{"Bearer x"}}, want: connectjwt.ReasonMalformed},
		{name: "no token", call: connectjwt.Call{Procedure: procPlain}, want: connectjwt.ReasonMissing},
		{name: "other scheme", call: connectjwt.Call{Procedure: procPlain, Header: []string{"Basic abc"}}, want: connectjwt.ReasonMissing},
		{name: "two header values", call: connectjwt.Call{Procedure: procPlain, Header: []string{alice[0], alice[0]}}, want: connectjwt.ReasonMalformed},
		{name: "valid token", call: connectjwt.Call{Procedure: procPlain, Header: alice}, identity: "alice"},
		{name: "refresh token", call: connectjwt.Call{Procedure: procPlain, Header: []string{"Bearer " + refresh}}, want: connectjwt.ReasonWrongTokenType},
		{name: "revoked", call: connectjwt.Call{Procedure: procPlain, Header: revoked}, want: connectjwt.ReasonRevoked},
		{name: "scopes missing", call: connectjwt.Call{Procedure: procScoped, Header: f.bearer(ctx, t, "reader", false)}, want: connectjwt.ReasonInsufficientScope, missing: []string{"write"}},
		{name: "fresh needed", call: connectjwt.Call{Procedure: procFresh, Header: alice}, want: connectjwt.ReasonFreshTokenRequired},
		{name: "fresh given", call: connectjwt.Call{Procedure: procFresh, Header: f.bearer(ctx, t, "alice", true)}, identity: "alice"},
		{name: "claims check refuses", call: connectjwt.Call{Procedure: procChecked, Header: alice}, want: connectjwt.ReasonAccessDenied},
		{name: "claims check admits", call: connectjwt.Call{Procedure: procChecked, Header: f.bearer(ctx, t, "admin", false)}, identity: "admin"},
		{name: ".proto public", call: connectjwt.Call{Procedure: "/policytest.v1.PolicyTestService/Public", Schema: publicMethod}},
		{name: ".proto scopes", call: connectjwt.Call{Procedure: "/policytest.v1.PolicyTestService/Scoped", Schema: scopedMethod, Header: alice}, want: connectjwt.ReasonInsufficientScope, missing: []string{"read", "write"}},
		{name: "schema of another type", call: connectjwt.Call{Procedure: procPlain, Schema: "not a descriptor"}, want: connectjwt.ReasonMissing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, fl := f.v.Authenticate(ctx, tc.call)
			if tc.want != connectjwt.ReasonUnspecified {
				if fl == nil {
					t.Fatal("admitted, want a failure")
				}
				if fl.Reason != tc.want || connectjwt.ReasonOf(fl) != tc.want || fl.Procedure != tc.call.Procedure {
					t.Errorf("failure = %v (reason %v, procedure %q), want %v", fl, fl.Reason, fl.Procedure, tc.want)
				}
				if !slices.Equal(fl.MissingScopes, tc.missing) {
					t.Errorf("missing scopes = %v, want %v", fl.MissingScopes, tc.missing)
				}
				if _, ok := connectjwt.ClaimsFromContext(got); ok {
					t.Error("a refused call's context carries claims")
				}
				return
			}
			if fl != nil {
				t.Fatalf("refused: %v", fl)
			}
			id, ok := connectjwt.IdentityFromContext(got)
			if tc.identity == "" && ok || tc.identity != "" && id != tc.identity {
				t.Errorf("identity = %q, %v; want %q", id, ok, tc.identity)
			}
		})
	}
}

func TestValidatorAuthenticateZero(t *testing.T) {
	t.Parallel()
	var v *connectjwt.Validator
	if _, f := v.Authenticate(context.Background(), connectjwt.Call{Procedure: procPublic}); f == nil {
		t.Error("a nil Validator admitted a call")
	}
	if _, f := new(connectjwt.Validator).Authenticate(context.Background(), connectjwt.Call{Procedure: procPublic}); f == nil {
		t.Error("the zero Validator admitted a call")
	}
	if got := v.HeaderName(); got != "Authorization" {
		t.Errorf("HeaderName = %q", got)
	}
	h, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)), connectjwt.WithHeader("x-api-token", ""))
	if err != nil {
		t.Fatal(err)
	}
	if got := h.HeaderName(); got != "X-Api-Token" {
		t.Errorf("HeaderName = %q, want the canonical X-Api-Token", got)
	}
	if got := h.HeaderScheme(); got != "" {
		t.Errorf("HeaderScheme = %q, want empty for a bare token", got)
	}
	for _, z := range []*connectjwt.Validator{nil, new(connectjwt.Validator)} {
		if got := z.HeaderName(); got != "Authorization" {
			t.Errorf("%#v: HeaderName = %q", z, got)
		}
		if got := z.HeaderScheme(); got != "Bearer" {
			t.Errorf("%#v: HeaderScheme = %q", z, got)
		}
		// Claims a front end put there do not make a zero Validator
		// end the stream early, nor panic.
		ctx, cancel := context.WithCancel(connectjwt.NewContextWithClaims(context.Background(), &connectjwt.Claims{Identity: "alice", ExpiresAt: time.Now().Add(-time.Hour)}))
		sctx, scancel := z.StreamContext(ctx)
		if sctx.Err() != nil {
			t.Errorf("%#v: StreamContext ended at once", z)
		}
		cancel()
		<-sctx.Done()
		scancel()
	}
}

// A nil Validator gives an interceptor that refuses every call, public ones
// too.
func TestNewInterceptorNilValidatorFailsClosed(t *testing.T) {
	t.Parallel()
	ic := connectjwt.NewInterceptor(nil)
	s := startServer(t, ic, mountGate, nil)
	for _, p := range protocols() {
		_, err := call(context.Background(), s.client(p), unary)
		if err == nil {
			t.Errorf("%v: a nil-validator interceptor admitted a call", p)
		}
	}
}

func TestStreamContext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("ends at expiry", func(t *testing.T) {
		t.Parallel()
		f := newAuthnFixture(t, connectjwt.WithLeeway(time.Second))
		issuer, err := connectjwt.NewIssuer(connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)), connectjwt.WithIssuer(testIssuer),
			connectjwt.WithTokenLifetimes(time.Second, time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		tok, exp, err := issuer.CreateAccessToken(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		actx, fl := f.v.Authenticate(ctx, connectjwt.Call{Procedure: procPlain, Header: []string{"Bearer " + tok}})
		if fl != nil {
			t.Fatal(fl)
		}
		sctx, cancel := f.v.StreamContext(actx)
		defer cancel()
		if d, ok := sctx.Deadline(); !ok || d.Sub(exp.Add(time.Second)).Abs() > 100*time.Millisecond {
			t.Errorf("deadline = %v, %v; want exp plus leeway %v", d, ok, exp.Add(time.Second))
		}
		select {
		case <-sctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("stream context did not end at expiry")
		}
		if time.Now().Before(exp.Add(time.Second)) {
			t.Errorf("ended at %v, before exp plus leeway %v", time.Now(), exp.Add(time.Second))
		}
		if !errors.Is(sctx.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v", sctx.Err())
		}
		if r := connectjwt.ReasonOf(context.Cause(sctx)); r != connectjwt.ReasonExpired {
			t.Errorf("cause = %v (%v), want expired", context.Cause(sctx), r)
		}
		if _, ok := connectjwt.ClaimsFromContext(sctx); !ok {
			t.Error("stream context lost the claims")
		}
	})
	t.Run("ends at revocation", func(t *testing.T) {
		t.Parallel()
		f := newAuthnFixture(t, connectjwt.WithStreamRevocationCheck(20*time.Millisecond))
		actx, fl := f.v.Authenticate(ctx, connectjwt.Call{Procedure: procPlain, Header: f.bearer(ctx, t, "alice", false)})
		if fl != nil {
			t.Fatal(fl)
		}
		sctx, cancel := f.v.StreamContext(actx)
		defer cancel()
		time.Sleep(60 * time.Millisecond)
		if sctx.Err() != nil {
			t.Fatalf("ended before the revocation: %v", context.Cause(sctx))
		}
		c, _ := connectjwt.ClaimsFromContext(actx)
		if err := f.store.RevokeToken(ctx, c); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("stream context did not end at revocation")
		}
		if r := connectjwt.ReasonOf(context.Cause(sctx)); r != connectjwt.ReasonRevoked {
			t.Errorf("cause = %v, want revoked", context.Cause(sctx))
		}
	})
	t.Run("store failure fails closed", func(t *testing.T) {
		t.Parallel()
		down := connectjwt.RevokedFunc(func(context.Context, *connectjwt.Claims) (bool, error) { return false, nil })
		var broken bool
		var v *connectjwt.Validator
		store := connectjwt.RevokedFunc(func(ctx context.Context, c *connectjwt.Claims) (bool, error) {
			if broken {
				return false, errors.New("store down")
			}
			return down(ctx, c)
		})
		issuer, err := connectjwt.NewIssuer(connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)))
		if err != nil {
			t.Fatal(err)
		}
		v, err = connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)),
			connectjwt.WithRevocationStore(store), connectjwt.WithStreamRevocationCheck(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := issuer.CreateAccessToken(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		actx, fl := v.Authenticate(ctx, connectjwt.Call{Procedure: procPlain, Header: []string{"Bearer " + tok}})
		if fl != nil {
			t.Fatal(fl)
		}
		broken = true // written before StreamContext starts the checks
		sctx, cancel := v.StreamContext(actx)
		defer cancel()
		select {
		case <-sctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("stream context did not end when the store failed")
		}
		if r := connectjwt.ReasonOf(context.Cause(sctx)); r != connectjwt.ReasonUnavailable {
			t.Errorf("cause = %v, want unavailable", context.Cause(sctx))
		}
	})
	t.Run("cancel and no claims", func(t *testing.T) {
		t.Parallel()
		f := newAuthnFixture(t)
		sctx, cancel := f.v.StreamContext(ctx)
		if _, ok := sctx.Deadline(); ok {
			t.Error("a context without claims got a deadline")
		}
		cancel()
		if !errors.Is(sctx.Err(), context.Canceled) {
			t.Errorf("Err after cancel = %v", sctx.Err())
		}
		actx, fl := f.v.Authenticate(ctx, connectjwt.Call{Procedure: procPlain, Header: f.bearer(ctx, t, "alice", false)})
		if fl != nil {
			t.Fatal(fl)
		}
		sctx, cancel = f.v.StreamContext(actx)
		cancel()
		if !errors.Is(sctx.Err(), context.Canceled) {
			t.Errorf("Err after cancel = %v", sctx.Err())
		}
	})
}

// The interceptor and Authenticate share the validator's policies: a
// procedure made public on the validator is public through the interceptor.
func TestInterceptorUsesValidatorPolicies(t *testing.T) {
	t.Parallel()
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(testKeys().hs256)),
		connectjwt.WithOptionalProcedures(policytestv1connect.PolicyTestServiceDefaultProcedure))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]connectjwt.PolicySource{}
	for _, p := range connectjwt.NewInterceptor(v).Validator().Policies(policytestv1.File_policytest_v1_policytest_proto.Services()) {
		got[p.Procedure] = p.Source
	}
	if got[policytestv1connect.PolicyTestServiceDefaultProcedure] != connectjwt.PolicyFromOption ||
		got[policytestv1connect.PolicyTestServicePublicProcedure] != connectjwt.PolicyFromMethod {
		t.Errorf("policies = %v", got)
	}
}
