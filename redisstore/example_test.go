package redisstore_test

import (
	"context"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
	"github.com/connectjwt/connectjwt/redisstore"
)

// Every server of a fleet builds the same store on the shared Redis and
// gives it to the issuer and the validator (AuthService takes it from the
// issuer), so a Logout on
// any server is refused on all of them. (Not run: it needs a Redis server.)
//
//nolint:testableexamples // compiled, not run: it needs a Redis server and serves forever
func Example() {
	client := redis.NewClient(&redis.Options{
		Addr:                  "redis.internal:6379",
		ContextTimeoutEnabled: true, // let the store's timeout cut socket I/O short
	})
	// New refuses a Redis that may evict revocations (maxmemory-policy
	// other than noeviction).
	store, err := redisstore.New(context.Background(), client, redisstore.WithTimeout(300*time.Millisecond))
	if err != nil {
		panic(err)
	}

	shared := connectjwt.WithOptions(
		connectjwt.WithKey(connectjwt.HMACKey([]byte("an example secret of at least 32 bytes!"))),
		connectjwt.WithRevocationStore(store), // refused: REASON_REVOKED; Redis down: REASON_UNAVAILABLE
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
	login := func(ctx context.Context, user, password string) (string, error) {
		return "", connectjwt.ErrInvalidCredentials // check the password here
	}
	mux := http.NewServeMux()
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(
		connectjwt.NewAuthService(issuer, login), auth.HandlerOption()))
	mux.Handle(examplev1connect.NewProtectedServiceHandler(examplev1connect.UnimplementedProtectedServiceHandler{}, auth.HandlerOption()))
	_ = http.ListenAndServe("127.0.0.1:8080", mux)
}
