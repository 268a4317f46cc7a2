package connectv2_test

import (
	"context"
	"testing"
	"time"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connectinprocess"
	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt/connectv2"
	"github.com/connectjwt/connectjwt/connectv2/internal/gen/policytest/v1/policytestv1connect"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	policytestv1 "github.com/connectjwt/connectjwt/internal/gen/policytest/v1"
)

type policyService struct {
	policytestv1connect.UnimplementedPolicyTestServiceHandler
}

func (policyService) Public(ctx context.Context, _ *policytestv1.PublicRequest) (*policytestv1.PublicResponse, error) {
	return &policytestv1.PublicResponse{Identity: identity(ctx)}, nil
}

func (policyService) Optional(ctx context.Context, _ *policytestv1.OptionalRequest) (*policytestv1.OptionalResponse, error) {
	return &policytestv1.OptionalResponse{Identity: identity(ctx)}, nil
}

func (policyService) Scoped(ctx context.Context, _ *policytestv1.ScopedRequest) (*policytestv1.ScopedResponse, error) {
	return &policytestv1.ScopedResponse{Identity: identity(ctx)}, nil
}

func (policyService) Fresh(ctx context.Context, _ *policytestv1.FreshRequest) (*policytestv1.FreshResponse, error) {
	return &policytestv1.FreshResponse{Identity: identity(ctx)}, nil
}

// TestProtoPolicies: the connectjwt.v1 .proto options of v2 generated code
// decide, through Spec.Schema, what each procedure needs.
func TestProtoPolicies(t *testing.T) {
	server := connect.NewServer(connectv2.NewServerInterceptor(newValidator(t)))
	policytestv1connect.RegisterPolicyTestServiceHandler(server, policyService{})
	plain := mint(t, time.Hour, nil)
	scoped := mint(t, time.Hour, func(tk *jwt.Token) { mapClaims(tk)["scope"] = "base read write" })
	fresh := mint(t, time.Hour, func(tk *jwt.Token) { mapClaims(tk)["fresh"] = true })
	client := func(ic connect.ClientInterceptor) policytestv1connect.PolicyTestServiceClient {
		return policytestv1connect.NewPolicyTestServiceClient(connect.NewClient(connectinprocess.New(server), ic))
	}
	type policyClient = policytestv1connect.PolicyTestServiceClient
	calls := map[string]func(policyClient) (string, error){
		"Public": func(c policyClient) (string, error) {
			r, err := c.Public(t.Context(), &policytestv1.PublicRequest{})
			return r.GetIdentity(), err
		},
		"Optional": func(c policyClient) (string, error) {
			r, err := c.Optional(t.Context(), &policytestv1.OptionalRequest{})
			return r.GetIdentity(), err
		},
		"Scoped": func(c policyClient) (string, error) {
			r, err := c.Scoped(t.Context(), &policytestv1.ScopedRequest{})
			return r.GetIdentity(), err
		},
		"Fresh": func(c policyClient) (string, error) {
			r, err := c.Fresh(t.Context(), &policytestv1.FreshRequest{})
			return r.GetIdentity(), err
		},
	}
	for _, tc := range []struct {
		name, method string
		ic           connect.ClientInterceptor
		code         connect.Code
		reason       connectjwtv1.Reason
		id           string
	}{
		{"public, no token", "Public", withHeader(), 0, 0, "<anonymous>"},
		{"optional, no token", "Optional", withHeader(), 0, 0, "<anonymous>"},
		{"optional, bad token", "Optional", bearer(plain + "x"), connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_INVALID_SIGNATURE, ""},
		{"scoped, no scopes", "Scoped", bearer(plain), connect.CodePermissionDenied, connectjwtv1.Reason_REASON_INSUFFICIENT_SCOPE, ""},
		{"scoped, scopes", "Scoped", bearer(scoped), 0, 0, "alice"},
		{"fresh, not fresh", "Fresh", bearer(plain), connect.CodeUnauthenticated, connectjwtv1.Reason_REASON_FRESH_TOKEN_REQUIRED, ""},
		{"fresh, fresh", "Fresh", bearer(fresh), 0, 0, "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := calls[tc.method](client(tc.ic))
			code, reason := reasonOf(t, err)
			if code != tc.code || reason != tc.reason || id != tc.id {
				t.Errorf("got %v %v %q (%v), want %v %v %q", code, reason, id, err, tc.code, tc.reason, tc.id)
			}
		})
	}
}
