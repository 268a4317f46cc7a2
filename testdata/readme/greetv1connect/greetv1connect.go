// Package greetv1connect stands in for the generated code of a user's
// greet.v1.GreetService in the README's Go examples, which readme_test.go
// type-checks.
package greetv1connect

import (
	"net/http"

	"connectrpc.com/connect"
)

// GreetServiceHealthProcedure is the full name of GreetService.Health.
const GreetServiceHealthProcedure = "/greet.v1.GreetService/Health"

// NewGreetServiceHandler returns the path and handler of the service.
func NewGreetServiceHandler(svc any, opts ...connect.HandlerOption) (string, http.Handler) {
	return "/greet.v1.GreetService/", http.NotFoundHandler()
}
