package bench

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
)

// BenchmarkValidate compares verifying one token, nothing else: golang-jwt's
// ParseWithClaims with a parser built once (MapClaims and RegisteredClaims,
// with the checks connectjwt also makes: pinned algorithm, required exp, iat,
// issuer, audience, strict base64), and connectjwt's Validator.Validate
// without and with the verified-token cache (a hit, after the first call).
//
// The first impl is golang-jwt with MapClaims, so benchstat's ratios are
// against it.
func BenchmarkValidate(b *testing.B) {
	for _, alg := range algs {
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

		b.Run("alg="+alg+"/impl=golang-jwt-map", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tok, err := parser.ParseWithClaims(f.token, jwt.MapClaims{}, keyFunc)
				if err != nil || !tok.Valid {
					b.Fatal(err)
				}
			}
		})
		b.Run("alg="+alg+"/impl=golang-jwt-registered", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var c jwt.RegisteredClaims
				tok, err := parser.ParseWithClaims(f.token, &c, keyFunc)
				if err != nil || !tok.Valid {
					b.Fatal(err)
				}
			}
		})
		for _, cache := range []bool{false, true} {
			name := "alg=" + alg + "/impl=connectjwt-nocache"
			if cache {
				name = "alg=" + alg + "/impl=connectjwt-cache"
			}
			b.Run(name, func(b *testing.B) {
				v, err := connectjwt.NewValidator(f.sharedOptions(cacheOption(cache))...)
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if _, err := v.Validate(ctx, f.token); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					c, err := v.Validate(ctx, f.token)
					if err != nil || c.Identity != benchSubject {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
