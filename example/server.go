package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// devSecret is the key used when JWT_SECRET_KEY is not set. It is in the
// source code, so anyone can forge tokens for a server that uses it: it is
// for trying the example on a laptop only.
var devSecret = []byte("connectjwt example development key: NEVER use in production")

// devKeyWarning is printed to stderr when the server falls back to devSecret.
const devKeyWarning = `WARNING: JWT_SECRET_KEY is not set; using a fixed development key that is
WARNING: published in the source code. Anyone can forge tokens for this server.
WARNING: Set JWT_SECRET_KEY to at least 32 random bytes, e.g.
WARNING:   export JWT_SECRET_KEY="$(openssl rand -hex 32)"
`

// Limits of the example's RPCs.
const (
	defaultGreetings = 3
	maxGreetings     = 100
	maxInterval      = 10 * time.Second
	maxWords         = 1000
	maxReadBytes     = 64 << 10 // per request message
)

// serverConfig is what the server is built from.
type serverConfig struct {
	// secret is the HS256 key, Flask's JWT_SECRET_KEY.
	secret []byte
	// accessTTL is the lifetime of access tokens.
	accessTTL time.Duration
	// alg is the -alg flag: HS256 (secret) or ES256/EdDSA (generated key
	// pair, public key at jwksPath); see keys.go.
	alg string
	// refusalLog receives a log line per refused call (whoami.go), or nil.
	refusalLog io.Writer
}

// configFromEnv reads JWT_SECRET_KEY and JWT_ACCESS_TTL. An unset or empty
// JWT_SECRET_KEY selects the development key and prints a warning to stderr;
// a key that is too short is refused by newServer.
func configFromEnv(alg string, getenv func(string) string, stderr io.Writer) (serverConfig, error) {
	cfg := serverConfig{
		alg:       alg,
		secret:    []byte(getenv("JWT_SECRET_KEY")),
		accessTTL: connectjwt.DefaultAccessTokenTTL,
	}
	// Only HS256 uses the secret; key pairs are generated (keys.go).
	if len(cfg.secret) == 0 && (alg == "" || alg == "HS256") {
		cfg.secret = devSecret
		if _, err := io.WriteString(stderr, devKeyWarning); err != nil {
			return serverConfig{}, err
		}
	}
	if s := getenv("JWT_ACCESS_TTL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Second {
			return serverConfig{}, fmt.Errorf("JWT_ACCESS_TTL must be a Go duration of at least 1s, e.g. \"30s\" or \"15m\"; got %q", s)
		}
		cfg.accessTTL = d
	}
	return cfg, nil
}

// issuerName is the iss of the example's tokens; services that verify them
// through the JWKS (-alg ES256 or EdDSA) trust this issuer at that URL.
const issuerName = "connectjwt-example"

// newServer returns the example's handler: AuthService (no token needed) and
// ProtectedService (an access token on every call).
func newServer(cfg serverConfig) (http.Handler, error) {
	// One shared option for the issuer and the validator, so the
	// validator accepts exactly the tokens the issuer creates. Logout and
	// Revoke write to the store; the issuer (for refresh tokens) and the
	// validator (for access tokens) read it.
	revoked := connectjwt.NewMemoryStore()
	key, err := signingKey(cfg.alg, cfg.secret)
	if err != nil {
		return nil, err
	}
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(key),
		connectjwt.WithIssuer(issuerName),
		connectjwt.WithRevocationStore(revoked),
	)

	issuer, err := connectjwt.NewIssuer(shared,
		connectjwt.WithTokenLifetimes(cfg.accessTTL, connectjwt.DefaultRefreshTokenTTL),
	)
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET_KEY: %w", err)
	}
	validator, err := connectjwt.NewValidator(shared, refusalLog(cfg.refusalLog))
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET_KEY: %w", err)
	}

	// Flask's @jwt.expired_token_loader: only expired tokens get the custom
	// answer; every other failure keeps connectjwt's default error.
	interceptor := connectjwt.NewInterceptor(validator,
		connectjwt.WithExpiredTokenLoader(expiredTokenLoader),
	)

	limit := connect.WithReadMaxBytes(maxReadBytes)
	mux := http.NewServeMux()
	// The public keys, for services that verify our tokens (empty with HS256).
	mux.Handle("GET "+jwksPath, issuer.JWKSHandler())
	// Login and Refresh need no access token (their .proto options say
	// public: true); Logout and Revoke need one.
	mux.Handle(connectjwtv1connect.NewAuthServiceHandler(
		connectjwt.NewAuthService(issuer, authenticate),
		interceptor.HandlerOption(),
		limit,
	))
	// Every ProtectedService call needs one. HandlerOption installs the
	// request gate (refuses before any message is decoded) and the
	// interceptor (claims into the context, streams end at exp);
	// StreamDeadlines lets an expired stream release its connection even
	// when the client stopped reading.
	path, protected := examplev1connect.NewProtectedServiceHandler(
		protectedService{},
		interceptor.HandlerOption(),
		limit,
	)
	mux.Handle(path, connectjwt.StreamDeadlines(protected))
	// gRPC server reflection (v1 and v1alpha), for grpcurl, buf curl and
	// similar tools. It is public: mounted without the interceptor, it
	// describes the API (no data) to callers without a token.
	reflector := grpcreflect.NewStaticReflector(
		connectjwtv1connect.AuthServiceName,
		examplev1connect.ProtectedServiceName,
	)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, limit))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, limit))
	if err := mountWhoami(mux, validator); err != nil {
		return nil, err
	}
	return mux, nil
}

// expiredTokenLoader is the port of the Flask docs' custom loader:
//
//	@jwt.expired_token_loader
//	def my_expired_token_callback():
//	    err_json = {"status": 401, "title": "Expired JWT", "detail": "The JWT has expired"}
//	    return jsonify(err_json), 401
//
// unauthenticated is HTTP 401 on Connect and gRPC-web (gRPC status 16 on
// gRPC); the JSON body becomes an example.v1.ExpiredTokenError detail.
// connectjwt's own AuthError detail (REASON_EXPIRED, expired_at) goes along,
// so generic clients, such as one that refreshes and retries, still
// recognize the failure.
func expiredTokenLoader(_ context.Context, f *connectjwt.Failure) *connect.Error {
	err := connect.NewError(connect.CodeUnauthenticated, errors.New("The JWT has expired")) //nolint:staticcheck // ST1005: the message is the Flask example's, verbatim
	// The Flask body, as a typed detail.
	if d, derr := connect.NewErrorDetail(&examplev1.ExpiredTokenError{
		Status: 401,
		Title:  "Expired JWT",
		Detail: "The JWT has expired",
	}); derr == nil {
		err.AddDetail(d)
	}
	// connectjwt's standard detail: REASON_EXPIRED and when it expired. Its
	// message is, by contract, the error's message.
	if ae, ok := connectjwt.AuthErrorOf(f); ok {
		ae.Message = err.Message()
		if d, derr := connect.NewErrorDetail(ae); derr == nil {
			err.AddDetail(d)
		}
	}
	return err
}

// authenticate accepts username "test" with password "test", as the Flask
// example does. Both comparisons always run, in constant time, and every
// wrong answer gets the same error (AuthService sends the same message
// whatever it says), so a caller cannot tell a wrong user from a wrong
// password. A real server would look the user up and verify a password
// hash (bcrypt, scrypt, argon2id), hashing a dummy for unknown users.
func authenticate(_ context.Context, username, password string) (string, error) {
	userOK := subtle.ConstantTimeCompare([]byte(username), []byte("test"))
	passOK := subtle.ConstantTimeCompare([]byte(password), []byte("test"))
	if userOK&passOK != 1 {
		return "", errBadCredentials
	}
	return "test", nil
}

var errBadCredentials = errors.New("bad username or password")

// protectedService implements example.v1.ProtectedService. The interceptor
// has authenticated every call before a method runs; identity reads the
// caller from the context (Flask's get_jwt_identity).
type protectedService struct{}

var _ examplev1connect.ProtectedServiceHandler = protectedService{}

// identity returns the caller's identity, failing closed if the interceptor
// somehow did not run.
func identity(ctx context.Context) (string, error) {
	id, ok := connectjwt.IdentityFromContext(ctx)
	if !ok || id == "" {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("not authenticated"))
	}
	return id, nil
}

// Protected answers {"hello": "world"}, the Flask example's /protected.
func (protectedService) Protected(ctx context.Context, _ *connect.Request[examplev1.ProtectedRequest]) (*connect.Response[examplev1.ProtectedResponse], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&examplev1.ProtectedResponse{Hello: "world", Identity: id}), nil
}

// ProtectedStream sends count greetings (0 means 3, at most 100), interval
// apart (at most 10s), so a client can watch the stream end when its token
// expires. It stops when the call's context is done.
func (protectedService) ProtectedStream(ctx context.Context, req *connect.Request[examplev1.ProtectedStreamRequest], stream *connect.ServerStream[examplev1.ProtectedStreamResponse]) error {
	caller, err := identity(ctx)
	if err != nil {
		return err
	}
	count := req.Msg.GetCount()
	if count == 0 {
		count = defaultGreetings
	}
	if count < 0 || count > maxGreetings {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("count must be between 1 and %d (0 means %d)", maxGreetings, defaultGreetings))
	}
	var interval time.Duration
	if d := req.Msg.GetInterval(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 0 || d.AsDuration() > maxInterval {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("interval must be between 0s and %s", maxInterval))
		}
		interval = d.AsDuration()
	}
	var tick <-chan time.Time
	if interval > 0 {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for seq := int32(1); seq <= count; seq++ {
		if seq > 1 && tick != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick:
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := stream.Send(&examplev1.ProtectedStreamResponse{Hello: "world", Sequence: seq, Identity: caller}); err != nil {
			return err
		}
	}
	return nil
}

// Collect answers with every word received, once the client is done.
func (protectedService) Collect(ctx context.Context, stream *connect.ClientStream[examplev1.CollectRequest]) (*connect.Response[examplev1.CollectResponse], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	var words []string
	for stream.Receive() {
		if len(words) == maxWords {
			return nil, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("at most %d words", maxWords))
		}
		words = append(words, stream.Msg().GetWord())
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	return connect.NewResponse(&examplev1.CollectResponse{Words: words, Identity: id}), nil
}

// Chat echoes every message until the client closes its side.
func (protectedService) Chat(ctx context.Context, stream *connect.BidiStream[examplev1.ChatRequest, examplev1.ChatResponse]) error {
	id, err := identity(ctx)
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&examplev1.ChatResponse{Text: msg.GetText(), Identity: id}); err != nil {
			return err
		}
	}
}
