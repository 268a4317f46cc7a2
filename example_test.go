package connectjwt_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// greeter is a ProtectedService that greets the caller by identity.
type greeter struct {
	examplev1connect.UnimplementedProtectedServiceHandler
}

func (greeter) Protected(ctx context.Context, _ *connect.Request[examplev1.ProtectedRequest]) (*connect.Response[examplev1.ProtectedResponse], error) {
	identity, _ := connectjwt.IdentityFromContext(ctx) // Flask's get_jwt_identity()
	return connect.NewResponse(&examplev1.ProtectedResponse{Hello: "world", Identity: identity}), nil
}

// The whole flow: one set of shared options builds the issuer and the
// validator, the interceptor (with its request gate) protects a service, and
// a client calls it with and without a token.
func Example() {
	ctx := context.Background()
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(connectjwt.HMACKey([]byte("an example secret of at least 32 bytes!"))),
		connectjwt.WithIssuer("https://auth.example.com"),
		connectjwt.WithAudience("greeter"),
	)
	issuer, err := connectjwt.NewIssuer(shared)
	if err != nil {
		panic(err)
	}
	validator, err := connectjwt.NewValidator(shared)
	if err != nil {
		panic(err)
	}
	auth := connectjwt.NewInterceptor(validator)
	mux := http.NewServeMux()
	mux.Handle(examplev1connect.NewProtectedServiceHandler(greeter{}, auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	defer stop()

	token, _, err := issuer.CreateFreshAccessToken(ctx, "alice") // Flask's create_jwt
	if err != nil {
		panic(err)
	}
	client := examplev1connect.NewProtectedServiceClient(httpClient, url,
		connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(token))))
	res, err := client.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
	if err != nil {
		panic(err)
	}
	fmt.Println("hello", res.Msg.GetHello(), "from", res.Msg.GetIdentity())

	anonymous := examplev1connect.NewProtectedServiceClient(httpClient, url, connect.WithGRPC())
	_, err = anonymous.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
	fmt.Println(connect.CodeOf(err), connectjwt.ReasonOf(err))
	// Output:
	// hello world from alice
	// unauthenticated REASON_MISSING
}

// A custom expired-token loader, as Flask's @jwt.expired_token_loader. The
// failure's claims are verified, so the loader may use them.
func ExampleWithExpiredTokenLoader() {
	ctx := context.Background()
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("an example secret of at least 32 bytes!")))
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	issuer, _ := connectjwt.NewIssuer(key, connectjwt.WithClock(past))
	expired, _, _ := issuer.CreateAccessToken(ctx, "alice")

	validator, err := connectjwt.NewValidator(key)
	if err != nil {
		panic(err)
	}
	auth := connectjwt.NewInterceptor(validator,
		connectjwt.WithExpiredTokenLoader(func(_ context.Context, f *connectjwt.Failure) *connect.Error {
			err := connect.NewError(connect.CodeUnauthenticated, errors.New("The JWT has expired"))
			// Keep the standard detail so generic clients still see REASON_EXPIRED.
			if detail, ok := connectjwt.AuthErrorOf(f); ok {
				detail.Message = "The JWT has expired"
				if d, derr := connect.NewErrorDetail(detail); derr == nil {
					err.AddDetail(d)
				}
			}
			return err
		}),
	)
	mux := http.NewServeMux()
	mux.Handle(examplev1connect.NewProtectedServiceHandler(greeter{}, auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	defer stop()

	client := examplev1connect.NewProtectedServiceClient(httpClient, url,
		connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(expired))))
	_, err = client.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
	detail, _ := connectjwt.AuthErrorOf(err)
	fmt.Println(err)
	fmt.Println(detail.GetReason(), detail.GetExpiredAt().AsTime().Before(time.Now()))
	// Output:
	// unauthenticated: The JWT has expired
	// REASON_EXPIRED true
}

// Validation on its own, Flask's decode_jwt: every failure wraps a sentinel.
func ExampleValidator_Validate() {
	ctx := context.Background()
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("an example secret of at least 32 bytes!")))
	issuer, _ := connectjwt.NewIssuer(key)
	validator, _ := connectjwt.NewValidator(key)

	access, _, _ := issuer.CreateAccessToken(ctx, "alice")
	claims, err := validator.Validate(ctx, access)
	fmt.Println(claims.Identity, err)

	refresh, _, _ := issuer.CreateRefreshToken(ctx, "alice")
	_, err = validator.Validate(ctx, refresh)
	fmt.Println(errors.Is(err, connectjwt.ErrWrongTokenType), connectjwt.ReasonOf(err))

	_, err = validator.Validate(ctx, access[:len(access)-4]+"AAAA")
	fmt.Println(errors.Is(err, connectjwt.ErrInvalidSignature), err)
	// Output:
	// alice <nil>
	// true REASON_WRONG_TOKEN_TYPE
	// true signature verification failed
}

// Procedures marked public need no token; optional ones accept anonymous
// calls but still refuse a bad token.
func ExampleWithPublicProcedures() {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("an example secret of at least 32 bytes!")))
	_, err := connectjwt.NewValidator(key,
		connectjwt.WithPublicProcedures(connectjwt.AuthServiceProcedures...),
		connectjwt.WithOptionalProcedures(examplev1connect.ProtectedServiceProtectedProcedure),
	)
	fmt.Println(err)
	_, err = connectjwt.NewValidator(key, connectjwt.WithPublicProcedures("Login"))
	fmt.Println(err)
	// Output:
	// <nil>
	// connectjwt: procedure "Login" is not of the form /package.Service/Method
}

// A client Session logs in through AuthService, sends the access token and
// refreshes it when the server says it expired.
func ExampleSession() {
	ctx := context.Background()
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("an example secret of at least 32 bytes!")))
	issuer, err := connectjwt.NewIssuer(key)
	if err != nil {
		panic(err)
	}
	validator, err := connectjwt.NewValidator(key)
	if err != nil {
		panic(err)
	}
	auth := connectjwt.NewInterceptor(validator)
	login := func(_ context.Context, user, password string) (string, error) {
		if user != "test" || password != "test" {
			return "", connectjwt.ErrInvalidCredentials
		}
		return user, nil
	}
	mux := http.NewServeMux()
	// Login and Refresh are public (.proto options); Logout and Revoke need
	// the caller's token, so the service is mounted behind the interceptor.
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(connectjwt.NewAuthService(issuer, login), auth.HandlerOption()))
	mux.Handle(examplev1connect.NewProtectedServiceHandler(greeter{}, auth.HandlerOption()))
	url, httpClient, stop := serve(mux)
	defer stop()

	session := connectjwt.NewSession(connectjwtv1connect.NewAuthServiceClient(httpClient, url))
	if err := session.Login(ctx, "test", "wrong"); err != nil {
		fmt.Println(connectjwt.ReasonOf(err))
	}
	if err := session.Login(ctx, "test", "test"); err != nil {
		panic(err)
	}
	client := examplev1connect.NewProtectedServiceClient(httpClient, url, connect.WithInterceptors(session.Interceptor()))
	res, err := client.Protected(ctx, connect.NewRequest(&examplev1.ProtectedRequest{}))
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Msg.GetHello(), res.Msg.GetIdentity())
	// Output:
	// REASON_INVALID_CREDENTIALS
	// world test
}

// ticker is a ProtectedService whose ProtectedStream sends a message every
// 50 ms until its context ends.
type ticker struct {
	examplev1connect.UnimplementedProtectedServiceHandler
}

func (ticker) ProtectedStream(ctx context.Context, _ *connect.Request[examplev1.ProtectedStreamRequest], st *connect.ServerStream[examplev1.ProtectedStreamResponse]) error {
	for i := int32(1); ; i++ {
		if err := st.Send(&examplev1.ProtectedStreamResponse{Sequence: i}); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// A stream does not outlive its token: it ends at exp with the expired
// error. StreamDeadlines also releases the connection of a client that
// stopped reading, one second later.
func ExampleStreamDeadlines() {
	ctx := context.Background()
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("an example secret of at least 32 bytes!")))
	issuer, err := connectjwt.NewIssuer(key, connectjwt.WithTokenLifetimes(2*time.Second, time.Hour))
	if err != nil {
		panic(err)
	}
	validator, err := connectjwt.NewValidator(key)
	if err != nil {
		panic(err)
	}
	auth := connectjwt.NewInterceptor(validator)
	mux := http.NewServeMux()
	path, h := examplev1connect.NewProtectedServiceHandler(ticker{}, auth.HandlerOption())
	mux.Handle(path, connectjwt.StreamDeadlines(h))
	url, httpClient, stop := serve(mux)
	defer stop()

	token, _, _ := issuer.CreateAccessToken(ctx, "alice")
	client := examplev1connect.NewProtectedServiceClient(httpClient, url,
		connect.WithInterceptors(connectjwt.NewClientInterceptor(connectjwt.StaticToken(token))))
	stream, err := client.ProtectedStream(ctx, connect.NewRequest(&examplev1.ProtectedStreamRequest{}))
	if err != nil {
		panic(err)
	}
	n := 0
	for stream.Receive() {
		n++
	}
	fmt.Println("received messages:", n > 0)
	fmt.Println(connect.CodeOf(stream.Err()), connectjwt.ReasonOf(stream.Err()))
	// Output:
	// received messages: true
	// unauthenticated REASON_EXPIRED
}

// Options an issuer and its validator share are kept in one value; the
// others go only where they apply.
func ExampleWithOptions() {
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(connectjwt.HMACKey([]byte("an example secret of at least 32 bytes!"))),
		connectjwt.WithIssuer("https://api.example.com"),
		connectjwt.WithAudience("api"),
	)
	issuer, err := connectjwt.NewIssuer(shared, connectjwt.WithTokenLifetimes(15*time.Minute, 24*time.Hour))
	if err != nil {
		panic(err)
	}
	validator, err := connectjwt.NewValidator(shared, connectjwt.WithLeeway(5*time.Second))
	if err != nil {
		panic(err)
	}
	token, _, err := issuer.CreateAccessToken(context.Background(), "alice")
	if err != nil {
		panic(err)
	}
	claims, err := validator.Validate(context.Background(), token)
	fmt.Println(claims.Identity, claims.Issuer, claims.Audience, err)
	// Output: alice https://api.example.com [api] <nil>
}

// Authenticate runs the whole check for a front end other than a Connect
// handler, here a plain net/http handler; the failure becomes the front
// end's own error.
func ExampleValidator_Authenticate() {
	key := connectjwt.WithKey(connectjwt.HMACKey([]byte("an example secret of at least 32 bytes!")))
	issuer, err := connectjwt.NewIssuer(key)
	if err != nil {
		panic(err)
	}
	validator, err := connectjwt.NewValidator(key, connectjwt.WithPublicProcedures("/health.v1.Health/Check"))
	if err != nil {
		panic(err)
	}
	token, _, err := issuer.CreateAccessToken(context.Background(), "alice")
	if err != nil {
		panic(err)
	}
	for _, tc := range []struct{ procedure, header string }{
		{"/admin.v1.Admin/Delete", "Bearer " + token},
		{"/admin.v1.Admin/Delete", ""},
		{"/health.v1.Health/Check", ""},
	} {
		call := connectjwt.Call{Procedure: tc.procedure}
		if tc.header != "" {
			call.Header = []string{tc.header}
		}
		ctx, failure := validator.Authenticate(context.Background(), call)
		if failure != nil {
			fmt.Println(tc.procedure, failure.Reason, failure.Reason.Code())
			continue
		}
		identity, _ := connectjwt.IdentityFromContext(ctx)
		fmt.Printf("%s admitted %q\n", tc.procedure, identity)
	}
	// Output:
	// /admin.v1.Admin/Delete admitted "alice"
	// /admin.v1.Admin/Delete REASON_MISSING unauthenticated
	// /health.v1.Health/Check admitted ""
}
