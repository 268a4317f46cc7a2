package connectv2

import (
	"context"
	"errors"

	"connectrpc.com/connect/v2"

	"github.com/connectjwt/connectjwt"
)

// endingStream refuses to send or receive once the stream's context
// ([connectjwt.Validator.StreamContext]) has ended: the token expired or was
// found revoked, or the call ended.
type endingStream struct {
	connect.ServerStream

	ctx context.Context //nolint:containedctx // the stream's lifetime, which ends with the call
}

func (s *endingStream) check() error {
	if s.ctx.Err() == nil {
		return nil
	}
	if f := endedBy(s.ctx); f != nil {
		// Stops the handler; the loader's error replaces whatever the
		// handler returns.
		return DefaultError(f)
	}
	return s.ctx.Err()
}

func (s *endingStream) Receive(msg any) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := s.ServerStream.Receive(msg); err != nil {
		if cerr := s.check(); cerr != nil {
			return cerr
		}
		return err
	}
	// A message that arrived after the token expired is refused.
	return s.check()
}

func (s *endingStream) SendHeaders() error {
	if err := s.check(); err != nil {
		return err
	}
	return s.ServerStream.SendHeaders()
}

func (s *endingStream) Send(msg any) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.ServerStream.Send(msg)
}

// endedBy returns the failure that ended a stream's context (its token
// expired or was revoked), or nil.
func endedBy(ctx context.Context) *connectjwt.Failure {
	if ctx.Err() == nil {
		return nil
	}
	f, _ := errors.AsType[*connectjwt.Failure](context.Cause(ctx))
	return f
}
