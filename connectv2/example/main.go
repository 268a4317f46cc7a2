// Command example is ./example, the flask-jwt-simple documentation example,
// on connect-go v2: the same flags, environment, services, tokens, errors
// and browser page, so every client and test of ./example works against it
// unchanged. Only the server wiring differs (server.go): the
// connectjwt.v1.AuthService and example.v1.ProtectedService are registered
// on one connect.Server whose first interceptor is
// connectv2.NewServerInterceptor, mounted with connecthttp.
//
//	go run ./connectv2/example          # from the repository root (go.work)
//
// Everything the two programs share (flags and the listen/serve loop,
// configuration from the environment, keys, the test user, the service
// logic, the JWKS, reflection and /whoami routes, refusal logging, CORS, the
// web page) lives in internal/exampleapp.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/connectjwt/connectjwt/internal/exampleapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := exampleapp.Run(ctx, os.Args[1:], os.Stdout, os.Stderr, newServer); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) //nolint:gocritic // exitAfterDefer: stop only matters while serving
		}
		fmt.Fprintf(os.Stderr, "example: %v\n", err)
		os.Exit(1)
	}
}
