// Package connectjwt authenticates Connect RPCs with JWTs, in the manner of
// flask-jwt-simple: one interceptor protects every procedure, an [Issuer]
// creates tokens, and each way a token can fail is answered by a [Loader]
// you can override.
//
// # Overview
//
// A [Validator] verifies access tokens (RFC 8725: pinned algorithms, explicit
// typing, strict parsing) and decides, per procedure, whether a call may
// proceed ([Policy], from Go options or .proto options). An [Interceptor]
// runs it for every RPC a connect-go handler serves, unary and streaming,
// over Connect, gRPC and gRPC-web; a request gate refuses unauthenticated
// calls before any message is read, and a stream ends when its token
// expires. Every refusal is a *connect.Error with a connectjwt.v1.AuthError
// detail whose [Reason] tells a client whether to refresh, log in again or
// retry. The [AuthService] serves Login, Refresh, Logout and Revoke, and the
// [Session] client refreshes expired tokens on its own.
//
// # Quickstart
//
// Options that an issuer and its validator must agree on are shared
// ([Option]); the others belong to one constructor ([IssuerOption],
// [ValidatorOption], [InterceptorOption]), so a misplaced option does not
// compile:
//
//	shared := connectjwt.WithOptions(
//		connectjwt.WithKey(connectjwt.HMACKey(secret)),
//		connectjwt.WithIssuer("https://api.example.com"),
//		connectjwt.WithAudience("api"),
//	)
//	issuer, err := connectjwt.NewIssuer(shared, connectjwt.WithTokenLifetimes(15*time.Minute, 24*time.Hour))
//	validator, err := connectjwt.NewValidator(shared, connectjwt.WithPublicProcedures(healthProcedure))
//	auth := connectjwt.NewInterceptor(validator, connectjwt.WithExpiredTokenLoader(expired))
//
//	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(connectjwt.NewAuthService(issuer, checkPassword), auth.HandlerOption()))
//	mux.Handle(greetv1connect.NewGreetServiceHandler(svc, auth.HandlerOption()))
//	srv := &http.Server{Handler: connectjwt.StreamDeadlines(mux)}
//
// Handlers read the caller with [ClaimsFromContext] and
// [IdentityFromContext]. Errors are read with [ReasonOf] and [AuthErrorOf],
// on the server and in clients alike.
//
// # Failures
//
// Checks run in a fixed order (see [Validator]) and the first that fails
// decides. Each failure kind has a sentinel error ([ErrMissing],
// [ErrExpired], ...), a [Reason], a Connect code ([Reason.Code]) and a
// loader option; the table is in the README.
//
// # Other front ends and tests
//
// [Validator.Authenticate] and [Validator.StreamContext] run the same checks
// for any framework. The connectjwttest package mints tokens for tests of
// handlers and loaders.
package connectjwt
