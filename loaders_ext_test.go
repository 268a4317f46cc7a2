package connectjwt_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
)

// A nil loader, or one that returns nil, means the default error; a loader
// never lets a call through.
func TestLoaderNilMeansDefault(t *testing.T) {
	t.Parallel()
	expired := mint(t, tokenSpec{Claims: claimsAt(time.Now().Add(-2*time.Hour), time.Hour)})
	custom := connectjwt.WithExpiredTokenLoader(func(context.Context, *connectjwt.Failure) *connect.Error {
		return connect.NewError(connect.CodeUnauthenticated, errors.New("custom"))
	})
	for _, tc := range []struct {
		name string
		opts []connectjwt.InterceptorOption
		msg  string
	}{
		{"nil loader", []connectjwt.InterceptorOption{connectjwt.WithExpiredTokenLoader(nil)}, connectjwt.ErrExpired.Error()},
		{"loader returns nil", []connectjwt.InterceptorOption{connectjwt.WithExpiredTokenLoader(func(context.Context, *connectjwt.Failure) *connect.Error { return nil })}, connectjwt.ErrExpired.Error()},
		{"custom", []connectjwt.InterceptorOption{custom}, "custom"},
		{"custom then nil", []connectjwt.InterceptorOption{custom, connectjwt.WithExpiredTokenLoader(nil)}, connectjwt.ErrExpired.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic := newInterceptor(t, tc.opts)
			s := startServer(t, ic, mountGate, nil)
			_, err := call(withBearer(context.Background(), expired), s.client(protocols[0]), unary)
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Message() != tc.msg || connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("error = %v, want message %q", err, tc.msg)
			}
		})
	}
}
