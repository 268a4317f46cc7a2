package connectjwt

import (
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

// CodeOf returns the Connect code connectjwt uses for a failure kind:
// unavailable for [ErrUnavailable] (retryable), permission_denied for
// authorization failures ([ErrInsufficientScope], [ErrAccessDenied]),
// aborted for [ErrRefreshConflict], resource_exhausted for
// [ErrTooManyAttempts], and unauthenticated for everything else.
func CodeOf(r Reason) connect.Code {
	switch r {
	case connectjwtv1.Reason_REASON_UNAVAILABLE:
		return connect.CodeUnavailable
	case connectjwtv1.Reason_REASON_INSUFFICIENT_SCOPE, connectjwtv1.Reason_REASON_ACCESS_DENIED:
		return connect.CodePermissionDenied
	case connectjwtv1.Reason_REASON_REFRESH_CONFLICT:
		return connect.CodeAborted
	case connectjwtv1.Reason_REASON_TOO_MANY_ATTEMPTS:
		return connect.CodeResourceExhausted
	default:
		return connect.CodeUnauthenticated
	}
}

// DefaultError is the error every default loader returns: the code from
// [CodeOf], the failure's message, and a [connectjwtv1.AuthError] detail with
// the reason and what a client needs to act on it (when an expired token
// expired, which scopes are missing, whether to retry). The returned error
// wraps f, so errors.Is finds the sentinel on the server side.
func DefaultError(f *Failure) *connect.Error {
	if f == nil {
		f = fail(ErrMalformed, nil)
	}
	err := connect.NewError(CodeOf(f.Reason), f)
	if detail, derr := connect.NewErrorDetail(AuthErrorOf(f)); derr == nil {
		err.AddDetail(detail)
	}
	return err
}

// AuthErrorOf returns the [connectjwtv1.AuthError] detail describing f. A
// custom loader that sends its own message should set the detail's Message
// to that message too, as the .proto promises clients they are the same.
func AuthErrorOf(f *Failure) *connectjwtv1.AuthError {
	if f == nil {
		f = fail(ErrMalformed, nil)
	}
	ae := &connectjwtv1.AuthError{
		Reason:        f.Reason,
		Message:       f.Error(),
		MissingScopes: f.MissingScopes,
		Retryable:     f.Reason == connectjwtv1.Reason_REASON_UNAVAILABLE || f.Reason == connectjwtv1.Reason_REASON_TOO_MANY_ATTEMPTS,
	}
	if f.RetryAfter > 0 {
		ae.RetryAfter = durationpb.New(f.RetryAfter)
	}
	if c := f.Claims; c != nil {
		switch f.Reason {
		case connectjwtv1.Reason_REASON_EXPIRED:
			ae.ExpiredAt = timestamppb.New(c.ExpiresAt)
		case connectjwtv1.Reason_REASON_NOT_YET_VALID:
			nb := c.NotBefore
			if c.IssuedAt.After(nb) {
				nb = c.IssuedAt
			}
			ae.NotBefore = timestamppb.New(nb)
		}
	}
	return ae
}

// AuthErrorFrom returns the [connectjwtv1.AuthError] detail of err, a
// *connect.Error received by a client (or built by [DefaultError]), and
// whether it has one.
func AuthErrorFrom(err error) (*connectjwtv1.AuthError, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return nil, false
	}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if derr != nil {
			continue
		}
		if ae, ok := v.(*connectjwtv1.AuthError); ok {
			return ae, true
		}
	}
	return nil, false
}
