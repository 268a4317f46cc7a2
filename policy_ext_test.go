package connectjwt_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	policytestv1 "github.com/connectjwt/connectjwt/internal/gen/policytest/v1"
	"github.com/connectjwt/connectjwt/internal/gen/policytest/v1/policytestv1connect"
)

// policyServer answers every PolicyTestService method with the caller's
// identity.
type policyServer struct {
	policytestv1connect.UnimplementedPolicyTestServiceHandler
}

// identityFrom returns the identity a PolicyTestService response carries.
func identityFrom[T any, PT interface {
	*T
	GetIdentity() string
}](res *connect.Response[T], err error) (string, error) {
	if err != nil {
		return "", err
	}
	return PT(res.Msg).GetIdentity(), nil
}

func identityOf(ctx context.Context) string {
	id, _ := connectjwt.IdentityFromContext(ctx)
	return id
}

func (policyServer) Default(ctx context.Context, _ *connect.Request[policytestv1.DefaultRequest]) (*connect.Response[policytestv1.DefaultResponse], error) {
	return connect.NewResponse(&policytestv1.DefaultResponse{Identity: identityOf(ctx)}), nil
}

func (policyServer) Public(ctx context.Context, _ *connect.Request[policytestv1.PublicRequest]) (*connect.Response[policytestv1.PublicResponse], error) {
	return connect.NewResponse(&policytestv1.PublicResponse{Identity: identityOf(ctx)}), nil
}

func (policyServer) Optional(ctx context.Context, _ *connect.Request[policytestv1.OptionalRequest]) (*connect.Response[policytestv1.OptionalResponse], error) {
	return connect.NewResponse(&policytestv1.OptionalResponse{Identity: identityOf(ctx)}), nil
}

func (policyServer) Scoped(ctx context.Context, _ *connect.Request[policytestv1.ScopedRequest]) (*connect.Response[policytestv1.ScopedResponse], error) {
	return connect.NewResponse(&policytestv1.ScopedResponse{Identity: identityOf(ctx)}), nil
}

func (policyServer) Fresh(ctx context.Context, _ *connect.Request[policytestv1.FreshRequest]) (*connect.Response[policytestv1.FreshResponse], error) {
	return connect.NewResponse(&policytestv1.FreshResponse{Identity: identityOf(ctx)}), nil
}

func (policyServer) Contradictory(ctx context.Context, _ *connect.Request[policytestv1.ContradictoryRequest]) (*connect.Response[policytestv1.ContradictoryResponse], error) {
	return connect.NewResponse(&policytestv1.ContradictoryResponse{Identity: identityOf(ctx)}), nil
}

// scopesOf gives each test identity its scope claim.
func scopesOf() map[string]string {
	return map[string]string{
		"nobody": "",
		"base":   "base",
		"reader": "read base",
		"writer": "read write",
		"x":      "x",
	}
}

func TestPolicyFromProtoOptions(t *testing.T) {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	issuer, err := connectjwt.NewIssuer(key, connectjwt.WithExtraClaims(func(_ context.Context, id string) (map[string]any, error) {
		return map[string]any{"scope": scopesOf()[id]}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := interceptorFor(t, key)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(policytestv1connect.NewPolicyTestServiceHandler(policyServer{}, auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	defer stop()

	token := func(id string, fresh bool) string {
		create := issuer.CreateAccessToken
		if fresh {
			create = issuer.CreateFreshAccessToken
		}
		tok, _, err := create(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	const (
		ok           = connectjwt.ReasonUnspecified
		missing      = connectjwt.ReasonMissing
		scope        = connectjwt.ReasonInsufficientScope
		fresh        = connectjwt.ReasonFreshTokenRequired
		invalidToken = connectjwt.ReasonMalformed
	)
	type call func(context.Context, policytestv1connect.PolicyTestServiceClient) (string, error)
	rpc := map[string]call{
		"Default": func(ctx context.Context, c policytestv1connect.PolicyTestServiceClient) (string, error) {
			return identityFrom(c.Default(ctx, connect.NewRequest(&policytestv1.DefaultRequest{})))
		},
		"Public": func(ctx context.Context, c policytestv1connect.PolicyTestServiceClient) (string, error) {
			return identityFrom(c.Public(ctx, connect.NewRequest(&policytestv1.PublicRequest{})))
		},
		"Optional": func(ctx context.Context, c policytestv1connect.PolicyTestServiceClient) (string, error) {
			return identityFrom(c.Optional(ctx, connect.NewRequest(&policytestv1.OptionalRequest{})))
		},
		"Scoped": func(ctx context.Context, c policytestv1connect.PolicyTestServiceClient) (string, error) {
			return identityFrom(c.Scoped(ctx, connect.NewRequest(&policytestv1.ScopedRequest{})))
		},
		"Fresh": func(ctx context.Context, c policytestv1connect.PolicyTestServiceClient) (string, error) {
			return identityFrom(c.Fresh(ctx, connect.NewRequest(&policytestv1.FreshRequest{})))
		},
		"Contradictory": func(ctx context.Context, c policytestv1connect.PolicyTestServiceClient) (string, error) {
			return identityFrom(c.Contradictory(ctx, connect.NewRequest(&policytestv1.ContradictoryRequest{})))
		},
	}
	tests := []struct {
		method    string
		token     string
		want      connectjwt.Reason
		identity  string
		missingSc []string
	}{
		{"Default", "", missing, "", nil},
		{"Default", token("nobody", true), scope, "", []string{"base"}},
		{"Default", token("base", false), ok, "base", nil},
		{"Public", "", ok, "", nil},
		{"Public", "not even a token", ok, "", nil},
		{"Optional", "", ok, "", nil},
		{"Optional", "a.b.c", invalidToken, "", nil},
		{"Optional", token("nobody", false), ok, "nobody", nil},
		{"Scoped", token("reader", true), scope, "", []string{"write"}},
		{"Scoped", token("writer", false), ok, "writer", nil},
		{"Fresh", token("nobody", false), fresh, "", nil},
		{"Fresh", token("nobody", true), ok, "nobody", nil},
		{"Contradictory", "", missing, "", nil},
		{"Contradictory", token("nobody", true), scope, "", []string{"x"}},
		{"Contradictory", token("x", true), ok, "x", nil},
	}
	for _, proto := range wireProtocols() {
		for _, tc := range tests {
			t.Run(proto.name+"/"+tc.method+"/"+tc.identity+tc.want.String()[7:], func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				opts := proto.opts
				if tc.token != "" {
					opts = append(slices.Clone(opts), connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(tc.token))))
				}
				client := policytestv1connect.NewPolicyTestServiceClient(httpClient, url, opts...)
				identity, err := rpc[tc.method](ctx, client)
				if tc.want == ok {
					if err != nil || identity != tc.identity {
						t.Fatalf("= %q, %v; want %q", identity, err, tc.identity)
					}
					return
				}
				ae, _ := connectjwt.AuthErrorOf(err)
				if connectjwt.Reason(ae.GetReason()) != tc.want || !slices.Equal(ae.GetMissingScopes(), tc.missingSc) {
					t.Fatalf("= %v (detail %v); want %v %v", err, ae, tc.want, tc.missingSc)
				}
				if want := tc.want.Code(); connect.CodeOf(err) != want {
					t.Errorf("code %v, want %v", connect.CodeOf(err), want)
				}
			})
		}
	}
}

func TestPolicies(t *testing.T) {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	auth, err := interceptorFor(t, key,
		connectjwt.WithOptionalProcedures(policytestv1connect.PolicyTestServiceFreshProcedure))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	list := slices.Concat(
		auth.Validator().Policies(policytestv1.File_policytest_v1_policytest_proto.Services()),
		auth.Validator().Policies(connectjwtv1.File_connectjwt_v1_auth_service_proto.Services()),
	)
	for _, p := range list {
		got[p.Procedure] = string(p.Source) + " " + describe(p.Policy)
	}
	want := map[string]string{
		"/policytest.v1.PolicyTestService/Default":       "service option scopes=base",
		"/policytest.v1.PolicyTestService/Public":        "method option public",
		"/policytest.v1.PolicyTestService/Optional":      "method option optional",
		"/policytest.v1.PolicyTestService/Scoped":        "method option scopes=read,write",
		"/policytest.v1.PolicyTestService/Fresh":         "go option optional",
		"/policytest.v1.PolicyTestService/Contradictory": "method option scopes=x",
		"/policytest.v1.ScopelessService/Plain":          "default token",
		"/connectjwt.v1.AuthService/Login":               "method option public",
		"/connectjwt.v1.AuthService/Refresh":             "method option public",
		"/connectjwt.v1.AuthService/Logout":              "default token",
		"/connectjwt.v1.AuthService/Revoke":              "default token",
	}
	for proc, w := range want {
		if got[proc] != w {
			t.Errorf("%s: %q, want %q", proc, got[proc], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("listed %d procedures, want %d", len(got), len(want))
	}
}

func describe(p connectjwt.Policy) string {
	var parts []string
	if p.Public {
		parts = append(parts, "public")
	}
	if p.Optional {
		parts = append(parts, "optional")
	}
	if len(p.Scopes) > 0 {
		parts = append(parts, "scopes="+strings.Join(p.Scopes, ","))
	}
	if p.Fresh {
		parts = append(parts, "fresh")
	}
	if len(parts) == 0 {
		return "token"
	}
	return strings.Join(parts, " ")
}

// A handler without a method descriptor keeps the secure default.
func TestPolicyWithoutSchema(t *testing.T) {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	auth, _ := interceptorFor(t, key)
	mux := http.NewServeMux()
	mux.Handle("/raw.v1.Raw/Call", connect.NewUnaryHandler("/raw.v1.Raw/Call",
		func(context.Context, *connect.Request[connectjwtv1.LogoutRequest]) (*connect.Response[connectjwtv1.LogoutResponse], error) {
			return connect.NewResponse(&connectjwtv1.LogoutResponse{}), nil
		}, auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	defer stop()
	client := connect.NewClient[connectjwtv1.LogoutRequest, connectjwtv1.LogoutResponse](httpClient, url+"/raw.v1.Raw/Call")
	_, err := client.CallUnary(context.Background(), connect.NewRequest(&connectjwtv1.LogoutRequest{}))
	if connectjwt.ReasonOf(err) != connectjwt.ReasonMissing {
		t.Errorf("schema-less procedure without token = %v", err)
	}
}

func TestConflictingProcedurePolicies(t *testing.T) {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef")))
	const proc = "/a.v1.S/M"
	if _, err := interceptorFor(t, key, connectjwt.WithPublicProcedures(proc),
		connectjwt.WithProcedurePolicy(proc, connectjwt.Policy{Scopes: []string{"admin"}})); err == nil {
		t.Error("public and scoped policies for one procedure were accepted")
	}
	if _, err := interceptorFor(t, key, connectjwt.WithPublicProcedures(proc, proc)); err != nil {
		t.Errorf("the same policy twice: %v", err)
	}
}

// A zero Validator reports the default policy (a token required) for every
// procedure.
func TestZeroValidatorPolicies(t *testing.T) {
	var v connectjwt.Validator
	for _, p := range v.Policies(connectjwtv1.File_connectjwt_v1_auth_service_proto.Services()) {
		if p.Source != connectjwt.PolicyFromDefault || p.Policy.Public {
			t.Errorf("zero Validator policy for %s = %+v", p.Procedure, p)
		}
	}
}
