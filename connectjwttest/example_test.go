package connectjwttest_test

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectjwttest"
)

// greeting is a handler's logic that reads the caller's claims.
func greeting(ctx context.Context) (string, error) {
	claims, ok := connectjwt.ClaimsFromContext(ctx)
	if !ok {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("no caller"))
	}
	var custom struct {
		Tenant string `json:"tenant"`
	}
	if err := claims.Decode(&custom); err != nil {
		return "", err
	}
	return fmt.Sprintf("hello %s of %s (admin: %v)", claims.Identity, custom.Tenant, claims.HasScope("admin")), nil
}

// Test a handler with the context a real call would give it, custom claims
// included.
func Example() {
	m := connectjwttest.New()
	ctx := m.Context(context.Background(), "alice",
		connectjwttest.WithClaims(map[string]any{"tenant": "acme"}),
		connectjwttest.WithScopes("read", "admin"))
	fmt.Println(greeting(ctx))
	// Output: hello alice of acme (admin: true) <nil>
}

// Test a custom loader with the failure a validator gives for an expired
// token: its claims are verified and set.
func ExampleMinter_ExpiredToken() {
	m := connectjwttest.New()
	v, err := connectjwt.NewValidator(m.Options())
	if err != nil {
		panic(err)
	}
	loader := func(_ context.Context, f *connectjwt.Failure) *connect.Error {
		return connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("session of %s expired", f.Claims.Identity))
	}
	_, err = v.Validate(context.Background(), m.ExpiredToken("alice"))
	if f, ok := errors.AsType[*connectjwt.Failure](err); ok {
		fmt.Println(connectjwt.ReasonOf(err))
		fmt.Println(loader(context.Background(), f))
	}
	// Output:
	// REASON_EXPIRED
	// unauthenticated: session of alice expired
}

// Each kind of token, against the validator a service would build.
func ExampleMinter_Token() {
	m := connectjwttest.New()
	v, err := connectjwt.NewValidator(m.Options(),
		connectjwt.WithProcedurePolicy("/greet.v1.GreetService/Admin", connectjwt.Policy{Scopes: []string{"admin"}}))
	if err != nil {
		panic(err)
	}
	for _, token := range []string{
		m.Token("alice", connectjwttest.WithScopes("admin")),
		m.Token("bob"),
		m.ExpiredToken("carol", connectjwttest.WithScopes("admin")),
		m.RefreshToken("dave"),
	} {
		_, f := v.Authenticate(context.Background(), connectjwt.Call{
			Procedure: "/greet.v1.GreetService/Admin",
			Header:    []string{"Bearer " + token},
		})
		if f != nil {
			fmt.Println(f.Reason)
			continue
		}
		fmt.Println("admitted")
	}
	// Output:
	// admitted
	// REASON_INSUFFICIENT_SCOPE
	// REASON_EXPIRED
	// REASON_WRONG_TOKEN_TYPE
}
