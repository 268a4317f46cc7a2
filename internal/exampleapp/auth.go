package exampleapp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// IssuerName is the iss of the example's tokens; services that verify them
// through the JWKS (-alg ES256 or EdDSA) trust this issuer at that URL.
const IssuerName = "connectjwt-example"

// MaxReadBytes is the largest request message the example reads.
const MaxReadBytes = 64 << 10

// App is the version-independent part of an example server: one issuer and
// one validator built from one shared option, so the validator accepts
// exactly the tokens the issuer creates, and the AuthService on top of them.
type App struct {
	// Issuer creates the tokens and publishes the public keys.
	Issuer *connectjwt.Issuer
	// Validator checks every access token; it reports each refused call to
	// Config.RefusalLog.
	Validator *connectjwt.Validator
	// AuthService is connectjwt.v1.AuthService (Login accepts "test"/"test").
	AuthService *connectjwt.AuthService
}

// New builds the issuer, the validator and the AuthService from cfg. Logout
// and Revoke write to one in-memory store; the issuer (for refresh tokens)
// and the validator (for access tokens) read it.
func New(cfg Config) (*App, error) {
	key, err := SigningKey(cfg.Alg, cfg.Secret)
	if err != nil {
		return nil, err
	}
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(key),
		connectjwt.WithIssuer(IssuerName),
		connectjwt.WithRevocationStore(connectjwt.NewMemoryStore()),
	)
	issuer, err := connectjwt.NewIssuer(shared,
		connectjwt.WithTokenLifetimes(cfg.AccessTTL, connectjwt.DefaultRefreshTokenTTL),
	)
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET_KEY: %w", err)
	}
	validator, err := connectjwt.NewValidator(shared, refusalLog(cfg.RefusalLog))
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET_KEY: %w", err)
	}
	return &App{
		Issuer:      issuer,
		Validator:   validator,
		AuthService: connectjwt.NewAuthService(issuer, authenticate),
	}, nil
}

// Mount adds the routes that are the same on every connect-go version:
//
//   - GET /.well-known/jwks.json, the public keys, for services that verify
//     the example's tokens (empty with HS256);
//   - gRPC server reflection (v1 and v1alpha), for grpcurl, buf curl and
//     similar tools. It is public: mounted without the interceptor, it
//     describes the API (no data) to callers without a token;
//   - GET /whoami behind connectjwt's net/http middleware (whoami.go).
func (a *App) Mount(mux *http.ServeMux) error {
	mux.Handle("GET "+JWKSPath, a.Issuer.JWKSHandler())
	limit := connect.WithReadMaxBytes(MaxReadBytes)
	reflector := grpcreflect.NewStaticReflector(
		connectjwtv1connect.AuthServiceName,
		examplev1connect.ProtectedServiceName,
	)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, limit))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, limit))
	return mountWhoami(mux, a.Validator)
}

// ExpiredTokenLoader is the port of the Flask docs' custom loader:
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
// recognize the failure. It is a connect-go v1 error; the v2 example
// converts it.
func ExpiredTokenLoader(_ context.Context, failure *connectjwt.Failure) *connect.Error {
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
	if ae, ok := connectjwt.AuthErrorOf(failure); ok {
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
