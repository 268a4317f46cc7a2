// Command example is the flask-jwt-simple documentation example, ported to
// Connect-RPC with connectjwt.
//
// The Flask original (its basic usage and "changing default behaviors" pages)
// is a small app:
//
//	app.config['JWT_SECRET_KEY'] = 'super-secret'  # Change this!
//	jwt = JWTManager(app)
//
//	@app.route('/login', methods=['POST'])
//	def login():                       # JSON username/password, "test"/"test" only
//	    ...
//	    return jsonify({'jwt': create_jwt(identity=username)}), 200
//
//	@app.route('/protected', methods=['GET'])
//	@jwt_required
//	def protected():
//	    return jsonify({'hello': 'world'}), 200  # get_jwt_identity() is the user
//
//	@jwt.expired_token_loader
//	def my_expired_token_callback():
//	    return jsonify({'status': 401, 'title': 'Expired JWT',
//	                    'detail': 'The JWT has expired'}), 401
//
// Here the same parts are (server.go wires them to connect-go v1; the
// logic they share with the v2 port, ./connectv2/example, is in
// internal/exampleapp):
//
//   - the key: JWT_SECRET_KEY from the environment, the raw bytes of an
//     HS256 secret of at least 32 bytes, shared by the [connectjwt.Issuer]
//     and the [connectjwt.Interceptor] through one option slice. Without it
//     the server uses a fixed development key and warns on stderr;
//   - /login: [connectjwt.NewAuthService] serves connectjwt.v1.AuthService,
//     whose Login accepts "test"/"test" and returns an access token and a
//     refresh token, and whose Refresh renews them. It is mounted without
//     the interceptor: neither call needs an access token;
//   - /protected: example.v1.ProtectedService, mounted with
//     interceptor.HandlerOption(), so each of its four RPCs (unary,
//     server-, client- and bidi-streaming) requires a valid access token and
//     reads the caller with [connectjwt.IdentityFromContext] (Flask's
//     get_jwt_identity);
//   - expired_token_loader: [connectjwt.WithExpiredTokenLoader] returns
//     unauthenticated (HTTP 401) with "The JWT has expired" and the same
//     {status, title, detail} body as the Flask callback, as an
//     example.v1.ExpiredTokenError detail, next to connectjwt's standard
//     AuthError detail (REASON_EXPIRED) so generic clients still know to
//     refresh.
//
// Run it and walk through it with curl, using Connect's JSON protocol:
//
//	go run ./example
//	curl -sS -X POST http://127.0.0.1:8080/connectjwt.v1.AuthService/Login \
//	  -H 'Content-Type: application/json' -d '{"username":"test","password":"test"}'
//	TOKEN=...  # tokens.accessToken from the answer
//	curl -sS -X POST http://127.0.0.1:8080/example.v1.ProtectedService/Protected \
//	  -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN" -d '{}'
//
// The server speaks HTTP/1.1 and cleartext HTTP/2 (h2c, prior knowledge), so
// Connect, gRPC and gRPC-web clients all work; gRPC and bidi streams need
// HTTP/2. Once it listens it prints one line to stdout:
//
//	listening on http://127.0.0.1:8080
//
// with the actual address, so "-addr 127.0.0.1:0" picks a free port.
//
// Environment:
//
//	JWT_SECRET_KEY  HS256 secret, at least 32 bytes (default: a fixed,
//	                public development key, with a warning)
//	JWT_ACCESS_TTL  access token lifetime as a Go duration, e.g. "30s"
//	                (default 15m); refresh tokens live 30 days
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/connectjwt/connectjwt/internal/exampleapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) //nolint:gocritic // exitAfterDefer: stop only matters while serving
		}
		fmt.Fprintf(os.Stderr, "example: %v\n", err)
		os.Exit(1)
	}
}

// run serves the example on connect-go v1 until ctx is done: see
// [exampleapp.Run] for the flags, the environment and the output.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return exampleapp.Run(ctx, args, stdout, stderr, newServer)
}
