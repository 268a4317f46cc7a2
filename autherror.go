package connectjwt

import (
	"errors"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

// DefaultError is the error every default loader returns: the code of the
// failure's reason ([Reason.Code]), the failure's message, and a
// [connectjwtv1.AuthError] detail with the reason and what a client needs to
// act on it (when an expired token expired, which scopes are missing,
// whether to retry). The returned error wraps f, so errors.Is finds the
// sentinel on the server side.
func DefaultError(f *Failure) *connect.Error {
	if f == nil {
		f = fail(ErrMalformed, nil)
	}
	err := connect.NewError(f.Reason.Code(), f)
	if detail, derr := connect.NewErrorDetail(authErrorOf(f)); derr == nil {
		err.AddDetail(detail)
	}
	return err
}

// AuthErrorOf returns the [connectjwtv1.AuthError] detail that describes
// err, and whether there is one: the detail of a *connect.Error (one a
// client received, or one built by [DefaultError] or a loader), or, for a
// [*Failure] or an error that wraps one, the detail [DefaultError] would
// send for it.
func AuthErrorOf(err error) (*connectjwtv1.AuthError, bool) {
	if ae, ok := authErrorDetail(err); ok {
		return ae, true
	}
	if f, ok := errors.AsType[*Failure](err); ok {
		return authErrorOf(f), true
	}
	return nil, false
}

// authErrorOf returns the detail describing f.
func authErrorOf(f *Failure) *connectjwtv1.AuthError {
	detail := &connectjwtv1.AuthError{
		Reason:        connectjwtv1.Reason(f.Reason),
		Message:       f.Error(),
		MissingScopes: f.MissingScopes,
		Retryable:     f.Reason == ReasonUnavailable || f.Reason == ReasonTooManyAttempts,
	}
	if f.RetryAfter > 0 {
		detail.RetryAfter = durationpb.New(f.RetryAfter)
	}
	if c := f.Claims; c != nil {
		switch f.Reason {
		case ReasonExpired:
			detail.ExpiredAt = timestamppb.New(c.ExpiresAt)
		case ReasonNotYetValid:
			nb := c.NotBefore
			if c.IssuedAt.After(nb) {
				nb = c.IssuedAt
			}
			detail.NotBefore = timestamppb.New(nb)
		default: // no time to report
		}
	}
	return detail
}

// authErrorDetail returns the AuthError detail of the *connect.Error in
// err's chain.
func authErrorDetail(err error) (*connectjwtv1.AuthError, bool) {
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
