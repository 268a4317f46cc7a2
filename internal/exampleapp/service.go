package exampleapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
)

// Limits of the example's RPCs.
const (
	DefaultGreetings = 3
	MaxGreetings     = 100
	MaxInterval      = 10 * time.Second
	MaxWords         = 1000
)

// Service is the logic of example.v1.ProtectedService, on plain messages
// and stream functions so both connect-go versions serve it through thin
// adapters. The interceptor has authenticated every call before a method
// runs; each reads the caller from the context (Flask's get_jwt_identity).
// Errors it makes are connect-go v1 errors; the v2 example converts them.
type Service struct{}

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
func (Service) Protected(ctx context.Context, _ *examplev1.ProtectedRequest) (*examplev1.ProtectedResponse, error) {
	caller, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	return &examplev1.ProtectedResponse{Hello: "world", Identity: caller}, nil
}

// ProtectedStream sends count greetings (0 means 3, at most 100), interval
// apart (at most 10s), so a client can watch the stream end when its token
// expires. It stops when the call's context is done.
func (Service) ProtectedStream(ctx context.Context, req *examplev1.ProtectedStreamRequest, send func(*examplev1.ProtectedStreamResponse) error) error {
	caller, err := identity(ctx)
	if err != nil {
		return err
	}
	count := req.GetCount()
	if count == 0 {
		count = DefaultGreetings
	}
	if count < 0 || count > MaxGreetings {
		return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("count must be between 1 and %d (0 means %d)", MaxGreetings, DefaultGreetings))
	}
	var interval time.Duration
	if d := req.GetInterval(); d != nil {
		if err := d.CheckValid(); err != nil || d.AsDuration() < 0 || d.AsDuration() > MaxInterval {
			return connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("interval must be between 0s and %s", MaxInterval))
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
		if err := send(&examplev1.ProtectedStreamResponse{Hello: "world", Sequence: seq, Identity: caller}); err != nil {
			return err
		}
	}
	return nil
}

// Collect answers with every word received, once the client is done:
// receive returns io.EOF at the end of the client's stream.
func (Service) Collect(ctx context.Context, receive func() (*examplev1.CollectRequest, error)) (*examplev1.CollectResponse, error) {
	caller, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	var words []string
	for {
		msg, err := receive()
		if errors.Is(err, io.EOF) {
			return &examplev1.CollectResponse{Words: words, Identity: caller}, nil
		}
		if err != nil {
			return nil, err
		}
		if len(words) == MaxWords {
			return nil, connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("at most %d words", MaxWords))
		}
		words = append(words, msg.GetWord())
	}
}

// Chat echoes every message until the client closes its side (receive
// returns io.EOF).
func (Service) Chat(ctx context.Context, receive func() (*examplev1.ChatRequest, error), send func(*examplev1.ChatResponse) error) error {
	caller, err := identity(ctx)
	if err != nil {
		return err
	}
	for {
		msg, err := receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := send(&examplev1.ChatResponse{Text: msg.GetText(), Identity: caller}); err != nil {
			return err
		}
	}
}
