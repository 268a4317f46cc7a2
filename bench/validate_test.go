package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

// BenchmarkValidate compares verifying one token, nothing else: golang-jwt's
// ParseWithClaims with a parser built once (MapClaims and RegisteredClaims,
// with the checks connectjwt also makes: pinned algorithm, required exp, iat,
// issuer, audience, strict base64), and connectjwt's Validator.Validate
// without and with the verified-token cache (a hit, after the first call).
// mode=parallel verifies the same token on every core at once (RunParallel),
// which is where shared state, such as a cache's lock, would show.
//
// The first impl is golang-jwt with MapClaims, so benchstat's ratios are
// against it.
func BenchmarkValidate(b *testing.B) {
	for _, mode := range []string{"serial", "parallel"} {
		for _, alg := range algs() {
			f := fixtureFor(b, alg)
			parser := jwt.NewParser(
				jwt.WithValidMethods([]string{alg}),
				jwt.WithExpirationRequired(),
				jwt.WithIssuedAt(),
				jwt.WithIssuer(benchIssuer),
				jwt.WithAudience(benchAudience),
				jwt.WithStrictDecoding(),
			)
			keyFunc := func(*jwt.Token) (any, error) { return f.verify, nil }
			prefix := "mode=" + mode + "/alg=" + alg + "/impl="

			b.Run(prefix+"golang-jwt-map", func(b *testing.B) {
				repeat(b, mode, func() bool {
					tok, err := parser.ParseWithClaims(f.token, jwt.MapClaims{}, keyFunc)
					return err == nil && tok.Valid
				})
			})
			b.Run(prefix+"golang-jwt-registered", func(b *testing.B) {
				repeat(b, mode, func() bool {
					var c jwt.RegisteredClaims
					tok, err := parser.ParseWithClaims(f.token, &c, keyFunc)
					return err == nil && tok.Valid
				})
			})
			for _, impl := range []string{"connectjwt-nocache", "connectjwt-cache"} {
				b.Run(prefix+impl, func(b *testing.B) {
					v, err := connectjwt.NewValidator(f.shared(), cacheOption(impl == "connectjwt-cache"))
					if err != nil {
						b.Fatal(err)
					}
					ctx := context.Background()
					if _, err := v.Validate(ctx, f.token); err != nil {
						b.Fatal(err)
					}
					repeat(b, mode, func() bool {
						c, err := v.Validate(ctx, f.token)
						return err == nil && c.Identity == benchSubject
					})
				})
			}
		}
	}
}

// repeat runs ok as the benchmark's operation, serially or with
// RunParallel, and fails the benchmark the first time it reports false.
func repeat(b *testing.B, mode string, ok func() bool) {
	b.Helper()
	b.ReportAllocs()
	if mode == "serial" {
		for b.Loop() {
			if !ok() {
				b.Fatal("token refused")
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !ok() {
				b.Error("token refused")
				return
			}
		}
	})
}

// BenchmarkRefuse measures the cost of refusing a token whose signature is
// forged (a flood of bad tokens): each token has the right shape, alg and
// kid, and a signature that does not verify, so the validator decodes the
// header and signature and computes the signature before it refuses. A
// refused token is never cached, so the cache does not change this cost.
// impl=connectjwt calls Validator.Validate; impl=connectjwt-handler hands
// the unary request to the protected handler in process, as
// BenchmarkHandler does (the server's whole cost of a refusal);
// impl=connectjwt-roundtrip makes the call over loopback HTTP/2, as a flood
// would arrive. Both expect the call to be refused as unauthenticated.
func BenchmarkRefuse(b *testing.B) {
	for _, alg := range algs() {
		f := fixtureFor(b, alg)
		forged := forgeSignature(f.token)
		b.Run("alg="+alg+"/impl=connectjwt", func(b *testing.B) {
			v, err := connectjwt.NewValidator(f.shared())
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			repeat(b, "serial", func() bool {
				_, err := v.Validate(ctx, forged)
				return errors.Is(err, connectjwt.ErrInvalidSignature)
			})
		})
		b.Run("alg="+alg+"/impl=connectjwt-handler", func(b *testing.B) {
			h := newHandler(b, "connectjwt-cache", f)
			repeat(b, "serial", func() bool {
				req := httptest.NewRequest(http.MethodPost, examplev1connect.ProtectedServiceProtectedProcedure, http.NoBody) //nolint:noctx // as in BenchmarkHandler
				req.Header.Set("Content-Type", "application/proto")
				req.Header.Set("Authorization", "Bearer "+forged)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code == http.StatusUnauthorized
			})
		})
		b.Run("alg="+alg+"/impl=connectjwt-roundtrip", func(b *testing.B) {
			client := startServer(b, newHandler(b, "connectjwt-cache", f))
			ctx := context.Background()
			repeat(b, "serial", func() bool {
				return connect.CodeOf(unaryCall(ctx, client, forged)) == connect.CodeUnauthenticated
			})
		})
	}
}

// forgeSignature returns token with the first character of its signature
// changed, so the signature stays canonical base64url of the same length
// but no longer verifies.
func forgeSignature(token string) string {
	i := strings.LastIndexByte(token, '.') + 1
	c := byte('A')
	if token[i] == 'A' {
		c = 'B'
	}
	return token[:i] + string(c) + token[i+1:]
}
