//go:build exampleapp

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"connectrpc.com/connect/v2/connectproto"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectv2"
	"github.com/connectjwt/connectjwt/connectv2/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/connectv2/gen/connectjwt/v1/connectjwtv1connect"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/internal/exampleapp"
)

// newServer returns the example's handler on connect-go v2: AuthService
// (Login and Refresh need no token, per their .proto options) and
// ProtectedService (an access token on every call), behind one
// connectv2.NewServerInterceptor.
func newServer(cfg exampleapp.Config) (http.Handler, error) {
	// One shared option for the issuer and the validator, so the
	// validator accepts exactly the tokens the issuer creates. Logout and
	// Revoke write to the store; both read it.
	revoked := connectjwt.NewMemoryStore()
	key, err := exampleapp.SigningKey(cfg.Alg, cfg.Secret)
	if err != nil {
		return nil, err
	}
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(key),
		connectjwt.WithIssuer(exampleapp.IssuerName),
		connectjwt.WithRevocationStore(revoked),
	)
	issuer, err := connectjwt.NewIssuer(shared, connectjwt.WithTokenLifetimes(cfg.AccessTTL, connectjwt.DefaultRefreshTokenTTL))
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET_KEY: %w", err)
	}
	v, err := connectjwt.NewValidator(shared)
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET_KEY: %w", err)
	}

	// The interceptor refuses a call before any message is decoded, puts
	// the claims in the context and ends streams at exp. Flask's
	// @jwt.expired_token_loader: only expired tokens get the custom answer.
	server := connect.NewServer(connectv2.NewServerInterceptor(v, connectv2.WithExpiredTokenLoader(expiredTokenLoader)))
	connectjwtv1connect.RegisterAuthServiceHandler(server, connectv2.NewAuthServiceHandler(
		connectjwt.NewAuthService(issuer, exampleapp.Authenticate)))
	examplev1connect.RegisterProtectedServiceHandler(server, protectedService{})

	mux := http.NewServeMux()
	// The public keys, for services that verify our tokens (empty with HS256).
	mux.Handle("GET "+exampleapp.JWKSPath, issuer.JWKSHandler())
	connecthttp.Mount(mux, server, connecthttp.WithReadMaxBytes(exampleapp.MaxReadBytes))
	// StreamDeadlines lets an expired stream release its connection even
	// when the client stopped reading or sending.
	return connectjwt.StreamDeadlines(mux), nil
}

// expiredTokenLoader is the port of the Flask docs' custom loader: "The JWT
// has expired" with the Flask body as an example.v1.ExpiredTokenError
// detail, next to connectjwt's AuthError detail (REASON_EXPIRED), whose
// message is, by contract, the error's message.
func expiredTokenLoader(_ context.Context, f *connectjwt.Failure) *connect.Error {
	const msg = "The JWT has expired"
	err := connect.NewError(connect.CodeUnauthenticated, msg)
	if d, derr := connectproto.NewErrorDetail(exampleapp.ExpiredTokenError()); derr == nil {
		err = err.WithDetail(d)
	}
	if ae, ok := connectjwt.AuthErrorOf(f); ok {
		ae.Message = msg
		if d, derr := connectproto.NewErrorDetail(ae); derr == nil {
			err = err.WithDetail(d)
		}
	}
	return err
}

// protectedService implements example.v1.ProtectedService on v2.
type protectedService struct{}

var _ examplev1connect.ProtectedServiceHandler = protectedService{}

// identity returns the caller's identity, failing closed if the
// interceptor somehow did not run.
func identity(ctx context.Context) (string, error) {
	id, ok := connectjwt.IdentityFromContext(ctx)
	if !ok || id == "" {
		return "", connect.NewError(connect.CodeUnauthenticated, "not authenticated")
	}
	return id, nil
}

// Protected answers {"hello": "world"}, the Flask example's /protected.
func (protectedService) Protected(ctx context.Context, _ *examplev1.ProtectedRequest) (*examplev1.ProtectedResponse, error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	return &examplev1.ProtectedResponse{Hello: "world", Identity: id}, nil
}

// ProtectedStream sends count greetings (exampleapp.Greetings).
func (protectedService) ProtectedStream(ctx context.Context, req *examplev1.ProtectedStreamRequest, stream examplev1connect.ProtectedServiceProtectedStreamServerStream) error {
	id, err := identity(ctx)
	if err != nil {
		return err
	}
	for i := int32(1); i <= exampleapp.Greetings(req.GetCount()); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := stream.Send(&examplev1.ProtectedStreamResponse{Hello: "world", Sequence: i, Identity: id}); err != nil {
			return err
		}
	}
	return nil
}

// Collect answers with every word received, once the client is done.
func (protectedService) Collect(ctx context.Context, stream examplev1connect.ProtectedServiceCollectServerStream) (*examplev1.CollectResponse, error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	var words []string
	for {
		msg, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return &examplev1.CollectResponse{Words: words, Identity: id}, nil
		}
		if err != nil {
			return nil, err
		}
		if len(words) == exampleapp.MaxWords {
			return nil, connect.Errorf(connect.CodeResourceExhausted, "at most %d words", exampleapp.MaxWords)
		}
		words = append(words, msg.GetWord())
	}
}

// Chat echoes every message until the client closes its side.
func (protectedService) Chat(ctx context.Context, stream examplev1connect.ProtectedServiceChatServerStream) error {
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
