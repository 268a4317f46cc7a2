// Package exampleapp is what the example programs share: ./example on
// connect-go v1 and ./connectv2/example on connect-go v2. It holds the flags
// and the listen/serve loop ([Run]), the configuration from the environment
// ([ConfigFromEnv]), the keys, issuer, validator and AuthService ([New]),
// the routes that do not depend on the connect-go version (JWKS, gRPC
// reflection, /whoami), the logic of example.v1.ProtectedService
// ([Service]), CORS and the browser page. Each program only wires these to
// its connect-go version, so both behave the same for every client.
package exampleapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/connectjwt/connectjwt"
)

// ShutdownTimeout bounds how long open calls may finish after a signal.
const ShutdownTimeout = 5 * time.Second

// DevSecret is the key used when JWT_SECRET_KEY is not set. It is in the
// source code, so anyone can forge tokens for a server that uses it: it is
// for trying the example on a laptop only.
var DevSecret = []byte("connectjwt example development key: NEVER use in production") //nolint:gochecknoglobals // a []byte cannot be a constant

// devKeyWarning is printed to stderr when the server falls back to DevSecret.
const devKeyWarning = `WARNING: JWT_SECRET_KEY is not set; using a fixed development key that is
WARNING: published in the source code. Anyone can forge tokens for this server.
WARNING: Set JWT_SECRET_KEY to at least 32 random bytes, e.g.
WARNING:   export JWT_SECRET_KEY="$(openssl rand -hex 32)"
`

// Config is what a server is built from.
type Config struct {
	// Secret is the HS256 key, Flask's JWT_SECRET_KEY.
	Secret []byte
	// AccessTTL is the lifetime of access tokens.
	AccessTTL time.Duration
	// Alg is the -alg flag: HS256 (Secret) or ES256/EdDSA (generated key
	// pair, public key at JWKSPath); see [SigningKey].
	Alg string
	// RefusalLog receives a log line per refused call, or nil for none.
	RefusalLog io.Writer
}

// ConfigFromEnv reads JWT_SECRET_KEY and JWT_ACCESS_TTL. An unset or empty
// JWT_SECRET_KEY selects the development key and prints a warning to stderr;
// a key that is too short is refused by [New].
func ConfigFromEnv(alg string, getenv func(string) string, stderr io.Writer) (Config, error) {
	cfg := Config{
		Alg:       alg,
		Secret:    []byte(getenv("JWT_SECRET_KEY")),
		AccessTTL: connectjwt.DefaultAccessTokenTTL,
	}
	// Only HS256 uses the secret; key pairs are generated (keys.go).
	if len(cfg.Secret) == 0 && (alg == "" || alg == "HS256") {
		cfg.Secret = DevSecret
		if _, err := io.WriteString(stderr, devKeyWarning); err != nil {
			return Config{}, err
		}
	}
	if s := getenv("JWT_ACCESS_TTL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			return Config{}, fmt.Errorf("JWT_ACCESS_TTL must be a Go duration of at least 1s, e.g. \"30s\" or \"15m\"; got %q", s)
		}
		cfg.AccessTTL = d
	}
	return cfg, nil
}

// Run parses args, builds the server's API handler with newHandler from the
// environment, listens, prints "listening on http://ADDR" to stdout and
// serves until ctx is done, then shuts down gracefully. The handler is
// served with the browser page at / and CORS around everything, so
// preflights need no token. Configuration errors are returned before
// anything listens; -h returns [flag.ErrHelp].
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, newHandler func(Config) (http.Handler, error)) error {
	flags := flag.NewFlagSet("example", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "127.0.0.1:8080", "`host:port` to listen on (port 0 picks a free port)")
	alg := flags.String("alg", "HS256", "signing `algorithm`: HS256 (JWT_SECRET_KEY), or ES256 or EdDSA with a key pair generated at startup, published at "+JWKSPath)
	webDir := flags.String("web-dir", DefaultWebDir, "serve the browser page built in `dir` at / (default: the page built into the binary, example/web/dist)")
	var corsOrigins OriginsFlag
	flags.Var(&corsOrigins, "cors-origin", "let browser pages on `origin` (e.g. http://127.0.0.1:5173) call the API; repeatable or comma-separated (default: same origin only)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", flags.Args())
	}

	cfg, err := ConfigFromEnv(*alg, os.Getenv, stderr)
	if err != nil {
		return err
	}
	cfg.RefusalLog = stderr
	handler, err := newHandler(cfg)
	if err != nil {
		return err
	}
	// The browser page at / (web.go), and CORS for pages on other origins
	// (cors.go) around everything, so preflights need no token.
	handler = WithCORS(WithWebPage(handler, *webDir), corsOrigins)

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge: gRPC and bidi streams
	srv := &http.Server{
		Handler:           handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}

	var lc net.ListenConfig
	listener, err := lc.Listen(ctx, "tcp", *addr)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "listening on http://%s\n", listener.Addr()); err != nil {
		_ = listener.Close()
		return err
	}
	if cfg.Alg != "HS256" {
		fmt.Fprintf(stdout, "public keys (JWKS) at http://%s%s\n", listener.Addr(), JWKSPath)
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(listener) }()

	select {
	case err := <-serveErr:
		return err // never http.ErrServerClosed: only Shutdown below closes it
	case <-ctx.Done():
	}
	// ctx is done: the shutdown gets a deadline of its own.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Streams still open after the timeout: cut them off.
		_ = srv.Close()
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
