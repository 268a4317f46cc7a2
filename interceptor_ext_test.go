package connectjwt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/protobuf/proto"

	"github.com/connectjwt/connectjwt"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
)

func modes() []mountMode {
	return []mountMode{mountGate, mountInterceptor}
}

// forEach runs f for every mount mode, protocol and RPC shape, each as a
// subtest on one server per mode.
func forEach(t *testing.T, newIC func(t *testing.T) *connectjwt.Interceptor, f func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape)) {
	t.Helper()
	for _, m := range modes() {
		s := startServer(t, newIC(t), m, nil)
		for _, p := range protocols() {
			c := s.client(p)
			for _, sh := range shapes() {
				t.Run(fmt.Sprintf("%s/%s/%s", m, p.name, sh), func(t *testing.T) { f(t, s, c, sh) })
			}
		}
	}
}

func TestValidTokenPasses(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tokens := map[string]string{
		"typ at+jwt":             mint(t, tokenSpec{Claims: claimsAt(now, time.Hour)}),
		"typ application/at+jwt": mint(t, tokenSpec{Claims: claimsAt(now, time.Hour), Header: map[string]any{"typ": "application/AT+JWT"}}),
		"aud array":              mint(t, tokenSpec{Claims: jwt.MapClaims{"sub": testSubject, "iss": testIssuer, "aud": []string{"other", testAudience}, "exp": now.Add(time.Hour).Unix()}}),
	}
	forEach(t, func(t *testing.T) *connectjwt.Interceptor { t.Helper(); return newInterceptor(t) },
		func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape) { //nolint:thelper // a subtest body: forEach runs it under t.Run, and t.Helper would hide the failing line
			for name, tok := range tokens {
				before, anonBefore := s.svc.calls.Load(), s.svc.anonCalls.Load()
				ids, err := call(withBearer(context.Background(), tok), c, sh)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				wantIdentities(t, ids, err, testSubject)
				if got := s.svc.calls.Load() - before; got != 1 {
					t.Errorf("%s: handler ran %d times", name, got)
				}
				if s.svc.anonCalls.Load() != anonBefore {
					t.Errorf("%s: handler saw no claims", name)
				}
			}
		})
}

type failureCase struct {
	name   string
	header string // Authorization value; "" sends none
	code   connect.Code
	reason connectjwt.Reason
	check  func(t *testing.T, ae *connectjwtv1.AuthError)
}

func tokenFailureCases(t *testing.T) []failureCase {
	t.Helper()
	k := testKeys()
	now := time.Now()
	expired := claimsAt(now.Add(-2*time.Hour), time.Hour)
	exp, _ := expired["exp"].(int64)
	expiredAt := time.Unix(exp, 0)
	notYet := claimsAt(now, time.Hour)
	nbf := now.Add(time.Hour).Unix()
	notYet["nbf"] = nbf
	withClaim := func(name string, v any) jwt.MapClaims {
		c := claimsAt(now, time.Hour)
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
		return c
	}
	valid := claimsAt(now, time.Hour)
	bearer := func(tok string) string { return "Bearer " + tok }
	unauth := connect.CodeUnauthenticated
	return []failureCase{
		{name: "missing", header: "", code: unauth, reason: connectjwt.ReasonMissing},
		{name: "other scheme", header: "Basic YWxpY2U6cHc=", code: unauth, reason: connectjwt.ReasonMissing},
		{name: "malformed not a jwt", header: "Bearer not-a-jwt", code: unauth, reason: connectjwt.ReasonMalformed},
		{name: "malformed segments", header: "Bearer a.b.c", code: unauth, reason: connectjwt.ReasonMalformed},
		{name: "scheme alone", header: "Bearer", code: unauth, reason: connectjwt.ReasonMalformed},
		{
			name: "expired", header: bearer(mint(t, tokenSpec{Claims: expired})), code: unauth, reason: connectjwt.ReasonExpired,
			check: func(t *testing.T, ae *connectjwtv1.AuthError) {
				t.Helper()
				if ae.GetExpiredAt() == nil || !ae.GetExpiredAt().AsTime().Equal(expiredAt) {
					t.Errorf("ExpiredAt = %v, want %v", ae.GetExpiredAt().AsTime(), expiredAt)
				}
			},
		},
		{
			name: "not yet valid", header: bearer(mint(t, tokenSpec{Claims: notYet})), code: unauth, reason: connectjwt.ReasonNotYetValid,
			check: func(t *testing.T, ae *connectjwtv1.AuthError) {
				t.Helper()
				if ae.GetNotBefore().AsTime().Unix() != nbf {
					t.Errorf("NotBefore = %v, want %v", ae.GetNotBefore().AsTime(), time.Unix(nbf, 0))
				}
			},
		},
		{name: "bad signature", header: bearer(mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: k.otherHS256, Claims: valid})), code: unauth, reason: connectjwt.ReasonInvalidSignature},
		{name: "signature of another token", header: bearer(swapSignature(mint(t, tokenSpec{Claims: valid}), mint(t, tokenSpec{Claims: withClaim("sub", "bob")}))), code: unauth, reason: connectjwt.ReasonInvalidSignature},
		{name: "HS512 with the HS256 secret", header: bearer(mint(t, tokenSpec{Method: jwt.SigningMethodHS512, Key: k.hs256, Claims: valid})), code: unauth, reason: connectjwt.ReasonInvalidAlgorithm},
		{name: "alg none", header: bearer(mint(t, tokenSpec{Method: jwt.SigningMethodNone, Key: jwt.UnsafeAllowNoneSignatureType, Claims: valid})), code: unauth, reason: connectjwt.ReasonInvalidAlgorithm},
		{name: "RS256 not configured", header: bearer(mint(t, tokenSpec{Method: jwt.SigningMethodRS256, Key: k.rsa, Claims: valid})), code: unauth, reason: connectjwt.ReasonInvalidAlgorithm},
		{name: "wrong issuer", header: bearer(mint(t, tokenSpec{Claims: withClaim("iss", "https://evil.test")})), code: unauth, reason: connectjwt.ReasonInvalidClaims},
		{name: "no issuer", header: bearer(mint(t, tokenSpec{Claims: withClaim("iss", nil)})), code: unauth, reason: connectjwt.ReasonInvalidClaims},
		{name: "wrong audience", header: bearer(mint(t, tokenSpec{Claims: withClaim("aud", "other.test")})), code: unauth, reason: connectjwt.ReasonInvalidClaims},
		{name: "no audience", header: bearer(mint(t, tokenSpec{Claims: withClaim("aud", nil)})), code: unauth, reason: connectjwt.ReasonInvalidClaims},
		{name: "no exp", header: bearer(mint(t, tokenSpec{Claims: withClaim("exp", nil)})), code: unauth, reason: connectjwt.ReasonInvalidClaims},
		{name: "no sub", header: bearer(mint(t, tokenSpec{Claims: withClaim("sub", nil)})), code: unauth, reason: connectjwt.ReasonInvalidClaims},
		{name: "refresh token", header: bearer(mint(t, tokenSpec{Claims: valid, Header: map[string]any{"typ": "refresh+jwt"}})), code: unauth, reason: connectjwt.ReasonWrongTokenType},
		{name: "typ JWT", header: bearer(mint(t, tokenSpec{Claims: valid, Header: map[string]any{"typ": "JWT"}})), code: unauth, reason: connectjwt.ReasonWrongTokenType},
		{name: "no typ", header: bearer(mint(t, tokenSpec{Claims: valid, Header: map[string]any{"typ": nil}})), code: unauth, reason: connectjwt.ReasonWrongTokenType},
	}
}

// swapSignature returns tok with the signature of other.
func swapSignature(tok, other string) string {
	return tok[:strings.LastIndexByte(tok, '.')] + other[strings.LastIndexByte(other, '.'):]
}

func TestTokenFailures(t *testing.T) {
	t.Parallel()
	cases := tokenFailureCases(t)
	forEach(t, func(t *testing.T) *connectjwt.Interceptor { t.Helper(); return newInterceptor(t) },
		func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape) { //nolint:thelper // a subtest body: forEach runs it under t.Run, and t.Helper would hide the failing line
			for _, tc := range cases {
				ctx := context.Background()
				if tc.header != "" {
					ctx = withHeaders(ctx, http.Header{"Authorization": {tc.header}})
				}
				before := s.svc.calls.Load()
				_, err := call(ctx, c, sh)
				func() {
					defer func() {
						if t.Failed() {
							t.Logf("case %q", tc.name)
						}
					}()
					ae := wantReason(t, err, tc.code, tc.reason)
					if tc.check != nil {
						tc.check(t, ae)
					}
					var ce *connect.Error
					errors.As(err, &ce)
					if ae.GetMessage() == "" || ae.GetMessage() != ce.Message() {
						t.Errorf("AuthError.Message %q, error message %q", ae.GetMessage(), ce.Message())
					}
					if tok := strings.TrimPrefix(tc.header, "Bearer "); strings.Count(tok, ".") == 2 {
						for part := range strings.SplitSeq(tok, ".") {
							if len(part) > 8 && strings.Contains(err.Error(), part) {
								t.Errorf("error %q leaks the token", err)
							}
						}
					}
				}()
				if got := s.svc.calls.Load() - before; got != 0 {
					t.Errorf("case %q: handler ran %d times", tc.name, got)
				}
			}
		})
}

// expiredTokenDetail is the custom detail of the loader tests: the body the
// flask-jwt-simple docs return from their expired_token_loader.
func expiredTokenDetail() *examplev1.ExpiredTokenError {
	return &examplev1.ExpiredTokenError{Status: 401, Title: "Expired JWT", Detail: "The JWT has expired"}
}

func loaderError(code connect.Code, msg string, detail proto.Message) *connect.Error {
	e := connect.NewError(code, errors.New(msg))
	if d, err := connect.NewErrorDetail(detail); err == nil {
		e.AddDetail(d)
	} // else the tests comparing details fail
	return e
}

func TestCustomLoaders(t *testing.T) {
	t.Parallel()
	type seen struct {
		reason connectjwt.Reason
		claims *connectjwt.Claims
		proc   string
	}
	var mu sync.Mutex
	var last seen
	record := func(f *connectjwt.Failure) {
		mu.Lock()
		defer mu.Unlock()
		last = seen{f.Reason, f.Claims, f.Procedure}
	}
	newIC := func(t *testing.T) *connectjwt.Interceptor {
		t.Helper()
		return newInterceptor(t,
			connectjwt.WithExpiredTokenLoader(func(_ context.Context, f *connectjwt.Failure) *connect.Error {
				record(f)
				return loaderError(connect.CodeUnauthenticated, "Expired JWT", expiredTokenDetail())
			}),
			connectjwt.WithInvalidTokenLoader(func(_ context.Context, f *connectjwt.Failure) *connect.Error {
				record(f)
				return loaderError(connect.CodeInvalidArgument, "Bad JWT",
					&examplev1.ExpiredTokenError{Status: 422, Title: "Invalid JWT", Detail: f.Reason.String()})
			}),
			connectjwt.WithUnauthorizedLoader(func(_ context.Context, f *connectjwt.Failure) *connect.Error {
				record(f)
				return loaderError(connect.CodeUnauthenticated, "Missing Authorization Header",
					&examplev1.ExpiredTokenError{Status: 401, Title: "Missing", Detail: "no header"})
			}),
		)
	}
	now := time.Now()
	expiredTok := mint(t, tokenSpec{Claims: claimsAt(now.Add(-2*time.Hour), time.Hour)})
	badSig := mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: testKeys().otherHS256, Claims: claimsAt(now, time.Hour)})
	cases := []struct {
		name       string
		token      string
		code       connect.Code
		msg        string
		detail     *examplev1.ExpiredTokenError
		reason     connectjwt.Reason
		wantClaims bool
	}{
		{"expired", expiredTok, connect.CodeUnauthenticated, "Expired JWT", expiredTokenDetail(), connectjwt.ReasonExpired, true},
		{"invalid", badSig, connect.CodeInvalidArgument, "Bad JWT",
			&examplev1.ExpiredTokenError{Status: 422, Title: "Invalid JWT", Detail: "REASON_INVALID_SIGNATURE"}, connectjwt.ReasonInvalidSignature, false},
		{"missing", "", connect.CodeUnauthenticated, "Missing Authorization Header",
			&examplev1.ExpiredTokenError{Status: 401, Title: "Missing", Detail: "no header"}, connectjwt.ReasonMissing, false},
	}
	forEach(t, newIC, func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape) { //nolint:thelper // a subtest body: forEach runs it under t.Run, and t.Helper would hide the failing line
		for _, tc := range cases {
			_, err := call(withBearer(context.Background(), tc.token), c, sh)
			var ce *connect.Error
			if !errors.As(err, &ce) {
				t.Fatalf("%s: err = %v", tc.name, err)
			}
			if ce.Code() != tc.code || ce.Message() != tc.msg {
				t.Errorf("%s: got %v %q, want %v %q", tc.name, ce.Code(), ce.Message(), tc.code, tc.msg)
			}
			var got []*examplev1.ExpiredTokenError
			for _, d := range ce.Details() {
				v, err := d.Value()
				if err != nil {
					t.Fatalf("%s: detail: %v", tc.name, err)
				}
				if e, ok := v.(*examplev1.ExpiredTokenError); ok {
					got = append(got, e)
				}
			}
			if len(got) != 1 || !proto.Equal(got[0], tc.detail) {
				t.Errorf("%s: details = %v, want [%v]", tc.name, got, tc.detail)
			}
			if _, ok := connectjwt.AuthErrorOf(err); ok {
				t.Errorf("%s: unexpected AuthError detail from a custom loader", tc.name)
			}
			mu.Lock()
			l := last
			mu.Unlock()
			if l.reason != tc.reason || l.proc != sh.procedure() {
				t.Errorf("%s: loader saw reason %v procedure %q", tc.name, l.reason, l.proc)
			}
			if tc.wantClaims != (l.claims != nil) || (l.claims != nil && l.claims.Identity != testSubject) {
				t.Errorf("%s: loader claims = %+v, want claims: %v", tc.name, l.claims, tc.wantClaims)
			}
		}
	})
}

func TestLoaderReturningNilStillRejects(t *testing.T) {
	t.Parallel()
	newIC := func(t *testing.T) *connectjwt.Interceptor {
		t.Helper()
		nilLoader := func(context.Context, *connectjwt.Failure) *connect.Error { return nil }
		return newInterceptor(t,
			connectjwt.WithInvalidTokenLoader(nilLoader),
			connectjwt.WithExpiredTokenLoader(nilLoader),
			connectjwt.WithUnauthorizedLoader(nilLoader))
	}
	now := time.Now()
	cases := []struct {
		token  string
		reason connectjwt.Reason
	}{
		{"", connectjwt.ReasonMissing},
		{mint(t, tokenSpec{Claims: claimsAt(now.Add(-2*time.Hour), time.Hour)}), connectjwt.ReasonExpired},
		{mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: testKeys().otherHS256, Claims: claimsAt(now, time.Hour)}), connectjwt.ReasonInvalidSignature},
	}
	forEach(t, newIC, func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape) { //nolint:thelper // a subtest body: forEach runs it under t.Run, and t.Helper would hide the failing line
		for _, tc := range cases {
			before := s.svc.calls.Load()
			_, err := call(withBearer(context.Background(), tc.token), c, sh)
			wantReason(t, err, connect.CodeUnauthenticated, tc.reason)
			if s.svc.calls.Load() != before {
				t.Errorf("%v: handler ran", tc.reason)
			}
		}
	})
}

func TestPublicProcedures(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tokens := map[string]string{
		"none":    "",
		"valid":   mint(t, tokenSpec{Claims: claimsAt(now, time.Hour)}),
		"expired": mint(t, tokenSpec{Claims: claimsAt(now.Add(-2*time.Hour), time.Hour)}),
		"garbage": "garbage",
	}
	forEach(t, func(t *testing.T) *connectjwt.Interceptor {
		t.Helper()
		return newInterceptor(t, connectjwt.WithPublicProcedures(allProcedures()...))
	}, func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape) { //nolint:thelper // a subtest body: forEach runs it under t.Run, and t.Helper would hide the failing line
		for name, tok := range tokens {
			ids, err := call(withBearer(context.Background(), tok), c, sh)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// A public procedure never looks at the token: no claims.
			wantIdentities(t, ids, err, anonymous)
		}
	})
}

func TestOptionalProcedures(t *testing.T) {
	t.Parallel()
	now := time.Now()
	valid := mint(t, tokenSpec{Claims: claimsAt(now, time.Hour)})
	expired := mint(t, tokenSpec{Claims: claimsAt(now.Add(-2*time.Hour), time.Hour)})
	badSig := mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: testKeys().otherHS256, Claims: claimsAt(now, time.Hour)})
	refresh := mint(t, tokenSpec{Claims: claimsAt(now, time.Hour), Header: map[string]any{"typ": "refresh+jwt"}})
	forEach(t, func(t *testing.T) *connectjwt.Interceptor {
		t.Helper()
		return newInterceptor(t, connectjwt.WithOptionalProcedures(allProcedures()...))
	}, func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape) { //nolint:thelper // a subtest body: forEach runs it under t.Run, and t.Helper would hide the failing line
		ids, err := call(context.Background(), c, sh)
		wantIdentities(t, ids, err, anonymous)

		ids, err = call(withHeaders(context.Background(), http.Header{"Authorization": {"Basic YTpi"}}), c, sh)
		wantIdentities(t, ids, err, anonymous)

		ids, err = call(withBearer(context.Background(), valid), c, sh)
		wantIdentities(t, ids, err, testSubject)

		_, err = call(withBearer(context.Background(), expired), c, sh)
		wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
		_, err = call(withBearer(context.Background(), badSig), c, sh)
		wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonInvalidSignature)
		_, err = call(withBearer(context.Background(), refresh), c, sh)
		wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonWrongTokenType)
		_, err = call(withHeaders(context.Background(), http.Header{"Authorization": {"Bearer"}}), c, sh)
		wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonMalformed)
	})
}

func TestProcedurePolicies(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tokenWith := func(extra jwt.MapClaims) string {
		c := claimsAt(now, time.Hour)
		maps.Copy(c, extra)
		return mint(t, tokenSpec{Claims: c})
	}

	t.Run("scopes", func(t *testing.T) {
		t.Parallel()
		forEach(t, func(t *testing.T) *connectjwt.Interceptor {
			t.Helper()
			var opts []connectjwt.ValidatorOption
			for _, p := range allProcedures() {
				opts = append(opts, connectjwt.WithProcedurePolicy(p, connectjwt.Policy{Scopes: []string{"read", "write"}}))
			}
			return newInterceptor(t, opts)
		}, func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape) { //nolint:thelper // a subtest body: forEach runs it under t.Run, and t.Helper would hide the failing line
			_, err := call(withBearer(context.Background(), tokenWith(jwt.MapClaims{"scope": "read"})), c, sh)
			ae := wantReason(t, err, connect.CodePermissionDenied, connectjwt.ReasonInsufficientScope)
			if !slices.Equal(ae.GetMissingScopes(), []string{"write"}) {
				t.Errorf("MissingScopes = %v", ae.GetMissingScopes())
			}
			_, err = call(withBearer(context.Background(), tokenWith(nil)), c, sh)
			ae = wantReason(t, err, connect.CodePermissionDenied, connectjwt.ReasonInsufficientScope)
			if !slices.Equal(ae.GetMissingScopes(), []string{"read", "write"}) {
				t.Errorf("MissingScopes = %v", ae.GetMissingScopes())
			}
			ids, err := call(withBearer(context.Background(), tokenWith(jwt.MapClaims{"scope": "write read"})), c, sh)
			wantIdentities(t, ids, err, testSubject)
			ids, err = call(withBearer(context.Background(), tokenWith(jwt.MapClaims{"scp": []string{"read", "write"}})), c, sh)
			wantIdentities(t, ids, err, testSubject)
			// Authentication failures still come first.
			_, err = call(withBearer(context.Background(), mint(t, tokenSpec{Claims: claimsAt(now.Add(-2*time.Hour), time.Hour)})), c, sh)
			wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
		})
	})

	t.Run("fresh", func(t *testing.T) {
		t.Parallel()
		forEach(t, func(t *testing.T) *connectjwt.Interceptor {
			t.Helper()
			var opts []connectjwt.ValidatorOption
			for _, p := range allProcedures() {
				opts = append(opts, connectjwt.WithProcedurePolicy(p, connectjwt.Policy{Fresh: true}))
			}
			return newInterceptor(t, opts)
		}, func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape) { //nolint:thelper // a subtest body: forEach runs it under t.Run, and t.Helper would hide the failing line
			for _, tok := range []string{tokenWith(nil), tokenWith(jwt.MapClaims{"fresh": false})} {
				_, err := call(withBearer(context.Background(), tok), c, sh)
				wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonFreshTokenRequired)
			}
			ids, err := call(withBearer(context.Background(), tokenWith(jwt.MapClaims{"fresh": true})), c, sh)
			wantIdentities(t, ids, err, testSubject)
		})
	})

	t.Run("claims check", func(t *testing.T) {
		t.Parallel()
		const cause = "mallory-is-banned-internal-detail"
		var procs sync.Map
		forEach(t, func(t *testing.T) *connectjwt.Interceptor {
			t.Helper()
			return newInterceptor(t, connectjwt.WithClaimsCheck(func(ctx context.Context, procedure string, c *connectjwt.Claims) error {
				procs.Store(procedure, true)
				if c.Identity == "mallory" {
					return errors.New(cause)
				}
				return nil
			}))
		}, func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape) { //nolint:thelper // a subtest body: forEach runs it under t.Run, and t.Helper would hide the failing line
			_, err := call(withBearer(context.Background(), tokenWith(jwt.MapClaims{"sub": "mallory"})), c, sh)
			wantReason(t, err, connect.CodePermissionDenied, connectjwt.ReasonAccessDenied)
			if strings.Contains(err.Error(), cause) {
				t.Errorf("the check's error reached the client: %v", err)
			}
			ids, err := call(withBearer(context.Background(), tokenWith(nil)), c, sh)
			wantIdentities(t, ids, err, testSubject)
			if _, ok := procs.Load(sh.procedure()); !ok {
				t.Errorf("check never saw procedure %s", sh.procedure())
			}
		})
	})

	t.Run("blocklist", func(t *testing.T) {
		t.Parallel()
		const storeDetail = "redis-10.0.0.7-refused"
		forEach(t, func(t *testing.T) *connectjwt.Interceptor {
			t.Helper()
			return newInterceptor(t, connectjwt.WithRevocationStore(connectjwt.RevokedFunc(func(_ context.Context, c *connectjwt.Claims) (bool, error) {
				switch c.ID {
				case "revoked":
					return true, nil
				case "boom":
					return false, errors.New(storeDetail)
				}
				return false, nil
			})))
		}, func(t *testing.T, s *testServer, c examplev1connect.ProtectedServiceClient, sh shape) { //nolint:thelper // a subtest body: forEach runs it under t.Run, and t.Helper would hide the failing line
			_, err := call(withBearer(context.Background(), tokenWith(jwt.MapClaims{"jti": "revoked"})), c, sh)
			wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonRevoked)
			_, err = call(withBearer(context.Background(), tokenWith(jwt.MapClaims{"jti": "boom"})), c, sh)
			ae := wantReason(t, err, connect.CodeUnavailable, connectjwt.ReasonUnavailable)
			if !ae.GetRetryable() {
				t.Errorf("unavailable is not retryable")
			}
			if strings.Contains(err.Error(), storeDetail) {
				t.Errorf("the store's error reached the client: %v", err)
			}
			ids, err := call(withBearer(context.Background(), tokenWith(jwt.MapClaims{"jti": "fine"})), c, sh)
			wantIdentities(t, ids, err, testSubject)
		})
	})
}

// The unavailable loader gets the store's error as Failure.Cause (the
// documented contract of Failure.Cause), for logging.
func TestUnavailableFailureKeepsCause(t *testing.T) {
	t.Parallel()
	storeErr := errors.New("store down")
	causes := make(chan error, 1)
	ic := newInterceptor(t,
		connectjwt.WithRevocationStore(connectjwt.RevokedFunc(func(context.Context, *connectjwt.Claims) (bool, error) {
			return false, storeErr
		})),
		connectjwt.WithUnavailableLoader(func(_ context.Context, f *connectjwt.Failure) *connect.Error {
			causes <- f.Cause
			return nil
		}))
	s := startServer(t, ic, mountGate, nil)
	_, err := call(withBearer(context.Background(), mint(t, tokenSpec{Claims: claimsAt(time.Now(), time.Hour)})), s.client(protocols()[0]), unary)
	wantReason(t, err, connect.CodeUnavailable, connectjwt.ReasonUnavailable)
	if cause := <-causes; !errors.Is(cause, storeErr) {
		t.Errorf("Failure.Cause = %v, want the blocklist's error", cause)
	}
}

// The gate refuses an unauthenticated call before the body is decoded.
func TestGateRejectsBeforeDecoding(t *testing.T) {
	t.Parallel()
	garbage := []byte("\xff\xff\xff\xff not a protobuf message \x00")
	url := "/example.v1.ProtectedService/Protected"
	post := func(t *testing.T, s *testServer, client *http.Client, auth string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL+url, bytes.NewReader(garbage))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/proto")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		res, err := client.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body struct {
			Code string `json:"code"`
		}
		b, _ := io.ReadAll(res.Body)
		_ = json.Unmarshal(b, &body)
		return res.StatusCode, body.Code, res.Header
	}
	http1 := &http.Client{Transport: &http.Transport{}}
	valid := "Bearer " + mint(t, tokenSpec{Claims: claimsAt(time.Now(), time.Hour)})

	s := startServer(t, newInterceptor(t), mountGate, nil)
	for _, cl := range []struct {
		name   string
		client *http.Client
	}{{"http1", http1}, {"h2c", s.http}} {
		for _, auth := range []string{"", "Bearer x.y.z"} {
			status, code, _ := post(t, s, cl.client, auth)
			if status != http.StatusUnauthorized || code != "unauthenticated" {
				t.Errorf("%s auth %q: got %d %q, want 401 unauthenticated", cl.name, auth, status, code)
			}
		}
		// With a valid token the body is decoded (and refused as garbage).
		status, code, _ := post(t, s, cl.client, valid)
		if status != http.StatusBadRequest || code != "invalid_argument" {
			t.Errorf("%s valid token: got %d %q, want 400 invalid_argument", cl.name, status, code)
		}
	}
	if n := s.svc.calls.Load(); n != 0 {
		t.Errorf("handler ran %d times", n)
	}

	// Control: without the gate the interceptor only runs after decoding,
	// so the same request fails decoding first. This shows the body above
	// really is undecodable and that the gate is what protects the decoder.
	s2 := startServer(t, newInterceptor(t), mountInterceptor, nil)
	status, code, _ := post(t, s2, http1, "")
	if status != http.StatusBadRequest || code != "invalid_argument" {
		t.Errorf("interceptor only: got %d %q, want 400 invalid_argument", status, code)
	}
}

// With gate and interceptor installed, a call's token is validated once.
func TestTokenValidatedOnce(t *testing.T) {
	t.Parallel()
	tok := mint(t, tokenSpec{Claims: claimsAt(time.Now(), time.Hour)})
	for _, m := range modes() {
		var checks atomic.Int64
		ic := newInterceptor(t, connectjwt.WithRevocationStore(connectjwt.RevokedFunc(func(context.Context, *connectjwt.Claims) (bool, error) {
			checks.Add(1)
			return false, nil
		})))
		s := startServer(t, ic, m, nil)
		for _, p := range protocols() {
			for _, sh := range shapes() {
				before := checks.Load()
				ids, err := call(withBearer(context.Background(), tok), s.client(p), sh)
				wantIdentities(t, ids, err, testSubject)
				if got := checks.Load() - before; got != 1 {
					t.Errorf("%s/%s/%s: token checked %d times, want 1", m, p.name, sh, got)
				}
			}
		}
	}
}

func TestWWWAuthenticate(t *testing.T) {
	t.Parallel()
	now := time.Now()
	scopeProc := examplev1connect.ProtectedServiceProtectedProcedure
	ic := newInterceptor(t)
	icScope := newInterceptor(t, connectjwt.WithProcedurePolicy(scopeProc, connectjwt.Policy{Scopes: []string{"admin"}}))
	cases := []struct {
		name  string
		ic    *connectjwt.Interceptor
		auth  string
		want  string
		scode int
	}{
		{"missing", ic, "", "Bearer", 401},
		{"other scheme", ic, "Basic YTpi", "Bearer", 401},
		{"malformed", ic, "Bearer x.y.z", `Bearer error="invalid_token"`, 401},
		{"expired", ic, "Bearer " + mint(t, tokenSpec{Claims: claimsAt(now.Add(-2*time.Hour), time.Hour)}), `Bearer error="invalid_token"`, 401},
		{"bad signature", ic, "Bearer " + mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: testKeys().otherHS256, Claims: claimsAt(now, time.Hour)}), `Bearer error="invalid_token"`, 401},
		{"insufficient scope", icScope, "Bearer " + mint(t, tokenSpec{Claims: claimsAt(now, time.Hour)}), `Bearer error="insufficient_scope"`, 403},
	}
	for _, m := range modes() {
		servers := map[*connectjwt.Interceptor]*testServer{
			ic:      startServer(t, ic, m, nil),
			icScope: startServer(t, icScope, m, nil),
		}
		for _, tc := range cases {
			s := servers[tc.ic]
			// Plain HTTP: the Connect unary response header.
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL+scopeProc, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := (&http.Client{Timeout: callTimeout}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != tc.scode || res.Header.Get("Www-Authenticate") != tc.want {
				t.Errorf("%s/%s: status %d WWW-Authenticate %q, want %d %q", m, tc.name, res.StatusCode, res.Header.Get("Www-Authenticate"), tc.scode, tc.want)
			}
			if vs := res.Header.Values("Www-Authenticate"); len(vs) != 1 {
				t.Errorf("%s/%s: %d WWW-Authenticate headers", m, tc.name, len(vs))
			}
			// Connect and gRPC-web clients see it in the error metadata.
			for _, p := range []protocol{protocols()[0], protocols()[2]} {
				ctx := context.Background()
				if tc.auth != "" {
					ctx = withHeaders(ctx, http.Header{"Authorization": {tc.auth}})
				}
				_, err := call(ctx, s.client(p), unary)
				var ce *connect.Error
				if !errors.As(err, &ce) {
					t.Fatalf("%s/%s/%s: err = %v", m, tc.name, p.name, err)
				}
				if got := ce.Meta().Get("Www-Authenticate"); got != tc.want {
					t.Errorf("%s/%s/%s: WWW-Authenticate %q, want %q", m, tc.name, p.name, got, tc.want)
				}
			}
		}
	}
}

// A stream does not outlive its token. The token expires 1.5 s after it is
// minted while the stream is active.
func TestStreamEndsWhenTokenExpires(t *testing.T) {
	t.Parallel()
	const ttl = 1500 * time.Millisecond
	const tick = 250 * time.Millisecond
	ic := newInterceptor(t)
	checkExpired := func(t *testing.T, err error, exp time.Time, msgs int) {
		t.Helper()
		ae := wantReason(t, err, connect.CodeUnauthenticated, connectjwt.ReasonExpired)
		if d := ae.GetExpiredAt().AsTime().Sub(exp); math.Abs(float64(d)) > float64(time.Millisecond) {
			t.Errorf("ExpiredAt off by %v", d)
		}
		if msgs < 2 {
			t.Errorf("only %d messages before expiry; the stream should have worked first", msgs)
		}
		if late := time.Since(exp); late > 2*time.Second {
			t.Errorf("stream ended %v after the token expired", late)
		}
	}
	// noneAfter checks that no client message reached the handler once the
	// token had expired.
	noneAfter := func(t *testing.T, s *testServer, exp time.Time) {
		t.Helper()
		if last := s.svc.lastReceived(); !last.Before(exp) {
			t.Errorf("the handler received a client message %v after the token expired", last.Sub(exp))
		}
	}
	for _, p := range protocols() {
		t.Run(p.name+"/server-stream", func(t *testing.T) {
			t.Parallel()
			c := startServer(t, ic, mountGate, &testService{streamWait: tick}).client(p)
			ctx, exp := shortCall(t, ttl, 6*time.Second)
			st, err := c.ProtectedStream(ctx, connect.NewRequest(&examplev1.ProtectedStreamRequest{Count: 100}))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			n := 0
			for st.Receive() {
				n++
				if time.Now().After(exp.Add(tick + 100*time.Millisecond)) {
					t.Fatalf("message %d received %v after expiry", n, time.Since(exp))
				}
			}
			checkExpired(t, st.Err(), exp, n)
		})
		t.Run(p.name+"/client-stream", func(t *testing.T) {
			t.Parallel()
			s := startServer(t, ic, mountGate, nil)
			c := s.client(p)
			ctx, exp := shortCall(t, ttl, 6*time.Second)
			st := c.Collect(ctx)
			n := 0
			for ; n < 20; n++ {
				if err := st.Send(&examplev1.CollectRequest{Word: "w"}); err != nil {
					break
				}
				time.Sleep(tick)
			}
			_, err := st.CloseAndReceive()
			checkExpired(t, err, exp, n)
			noneAfter(t, s, exp)
		})
		t.Run(p.name+"/bidi", func(t *testing.T) {
			t.Parallel()
			s := startServer(t, ic, mountGate, nil)
			c := s.client(p)
			ctx, exp := shortCall(t, ttl, 6*time.Second)
			st := c.Chat(ctx)
			defer func() { _ = st.CloseResponse() }()
			n := 0
			var err error
			for ; n < 20; n++ {
				_ = st.Send(&examplev1.ChatRequest{Text: "hi"})
				if _, err = st.Receive(); err != nil {
					break
				}
				time.Sleep(tick)
			}
			checkExpired(t, err, exp, n)
			noneAfter(t, s, exp)
		})
		// The client sends one message, then only waits for the server: the
		// handler is blocked in Receive when the token expires. The stream
		// must still end with the expired error, not run until the client's
		// deadline.
		t.Run(p.name+"/bidi-idle-client", func(t *testing.T) {
			t.Parallel()
			s := startServer(t, ic, mountGate, nil)
			c := s.client(p)
			ctx, exp := shortCall(t, ttl, 6*time.Second)
			st := c.Chat(ctx)
			defer func() { _ = st.CloseResponse() }()
			if err := st.Send(&examplev1.ChatRequest{Text: "hi"}); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Receive(); err != nil {
				t.Fatal(err)
			}
			// The context deadline alone does not unblock a client Receive
			// while the request side is idle (net/http's HTTP/2 client
			// watches ctx only after the request body ends), so bound the
			// wait by closing the request side 2.5 s after expiry. Sends
			// and this CloseRequest never overlap: the last Send is done.
			var closedByClient atomic.Bool
			stop := time.AfterFunc(time.Until(exp.Add(2500*time.Millisecond)), func() {
				closedByClient.Store(true)
				_ = st.CloseRequest()
			})
			defer stop.Stop()
			_, err := st.Receive()
			if closedByClient.Load() {
				t.Fatalf("stream outlived its token: still open %v after exp, ended only when the client closed its side (err: %v)", 2500*time.Millisecond, err)
			}
			checkExpired(t, err, exp, 2)
		})
	}
}
