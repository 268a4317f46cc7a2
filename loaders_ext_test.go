package connectjwt_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
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
			_, err := call(withBearer(context.Background(), expired), s.client(protocols()[0]), unary)
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Message() != tc.msg || connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("error = %v, want message %q", err, tc.msg)
			}
		})
	}
}

// Every loader option answers its own kind of failure, and only that kind:
// with all eight loaders installed, each failure reaches the client (over
// every protocol) with the code and message of its loader, and the loader
// sees the failure's reason.
func TestEveryLoaderFires(t *testing.T) {
	now := time.Now()
	proc := examplev1connect.ProtectedServiceProtectedProcedure
	valid := mint(t, tokenSpec{Claims: claimsAt(now, time.Hour)})
	withSub := func(sub string) string {
		c := claimsAt(now, time.Hour)
		c["sub"] = sub
		return mint(t, tokenSpec{Claims: c})
	}
	store := connectjwt.RevokedFunc(func(_ context.Context, c *connectjwt.Claims) (bool, error) {
		switch c.Identity {
		case "revoked":
			return true, nil
		case "store-down":
			return false, errors.New("connection refused")
		}
		return false, nil
	})
	type loaderCase struct {
		name   string
		option func(connectjwt.Loader) connectjwt.InterceptorOption
		code   connect.Code
		opts   []connectjwt.ValidatorOption
		token  string
		reason connectjwt.Reason
	}
	cases := []loaderCase{
		{name: "unauthorized", option: connectjwt.WithUnauthorizedLoader, code: connect.CodeAborted,
			reason: connectjwt.ReasonMissing},
		{name: "expired", option: connectjwt.WithExpiredTokenLoader, code: connect.CodeDeadlineExceeded,
			token: mint(t, tokenSpec{Claims: claimsAt(now.Add(-2*time.Hour), time.Hour)}), reason: connectjwt.ReasonExpired},
		{name: "invalid", option: connectjwt.WithInvalidTokenLoader, code: connect.CodeInvalidArgument,
			token: "a.b.c", reason: connectjwt.ReasonMalformed},
		{name: "revoked", option: connectjwt.WithRevokedTokenLoader, code: connect.CodeNotFound,
			opts: []connectjwt.ValidatorOption{connectjwt.WithRevocationStore(store)}, token: withSub("revoked"), reason: connectjwt.ReasonRevoked},
		{name: "needs fresh", option: connectjwt.WithNeedsFreshTokenLoader, code: connect.CodeFailedPrecondition,
			opts: []connectjwt.ValidatorOption{connectjwt.WithProcedurePolicy(proc, connectjwt.Policy{Fresh: true})}, token: valid, reason: connectjwt.ReasonFreshTokenRequired},
		{name: "insufficient scope", option: connectjwt.WithInsufficientScopeLoader, code: connect.CodeOutOfRange,
			opts: []connectjwt.ValidatorOption{connectjwt.WithProcedurePolicy(proc, connectjwt.Policy{Scopes: []string{"admin"}})}, token: valid, reason: connectjwt.ReasonInsufficientScope},
		{name: "access denied", option: connectjwt.WithAccessDeniedLoader, code: connect.CodeResourceExhausted,
			opts: []connectjwt.ValidatorOption{connectjwt.WithClaimsCheck(func(context.Context, string, *connectjwt.Claims) error {
				return errors.New("not on the list")
			})}, token: valid, reason: connectjwt.ReasonAccessDenied},
		{name: "unavailable", option: connectjwt.WithUnavailableLoader, code: connect.CodeDataLoss,
			opts: []connectjwt.ValidatorOption{connectjwt.WithRevocationStore(store)}, token: withSub("store-down"), reason: connectjwt.ReasonUnavailable},
	}
	// Each loader answers with its own code and the name of its case.
	var loaders []connectjwt.InterceptorOption
	for _, lc := range cases {
		loaders = append(loaders, lc.option(func(_ context.Context, f *connectjwt.Failure) *connect.Error {
			return connect.NewError(lc.code, fmt.Errorf("%s loader saw %v", lc.name, f.Reason))
		}))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, newInterceptor(t, loaders, tc.opts), mountGate, nil)
			for _, p := range protocols() {
				ctx := context.Background()
				if tc.token != "" {
					ctx = withBearer(ctx, tc.token)
				}
				_, err := call(ctx, s.client(p), unary)
				var ce *connect.Error
				want := fmt.Sprintf("%s loader saw %v", tc.name, tc.reason)
				if !errors.As(err, &ce) || ce.Code() != tc.code || ce.Message() != want {
					t.Errorf("%s: error = %v, want %v: %s", p.name, err, tc.code, want)
				}
			}
			if n := s.svc.calls.Load(); n != 0 {
				t.Errorf("the handler ran %d times", n)
			}
		})
	}
}
