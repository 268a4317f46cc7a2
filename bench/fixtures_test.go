package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
)

// Every token is issued by connectjwt with the same claims, so each
// implementation verifies exactly the same bytes.
const (
	benchIssuer   = "https://auth.bench.example"
	benchAudience = "bench-api"
	benchSubject  = "user-1234"
)

// algs are the algorithms compared. Round trips use all of them too.
func algs() []string { return []string{"HS256", "RS256", "ES256", "EdDSA"} }

// fixture is one algorithm's key, a valid access token and what each
// implementation needs to verify it.
type fixture struct {
	alg    string
	key    connectjwt.Key
	verify any // the verification key for golang-jwt and auth0
	token  string
}

// fixtures are built once for all benchmarks: RSA key generation is slow.
//
//nolint:gochecknoglobals // built once per test binary, read-only afterwards
var fixtures = sync.OnceValues(buildFixtures)

// fixtureFor returns the fixture of alg, building all of them once.
func fixtureFor(tb testing.TB, alg string) *fixture {
	tb.Helper()
	all, err := fixtures()
	if err != nil {
		tb.Fatal(err)
	}
	f := all[alg]
	if f == nil {
		tb.Fatalf("no fixture for %s", alg)
	}
	return f
}

func buildFixtures() (map[string]*fixture, error) {
	all := map[string]*fixture{}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	for _, f := range []*fixture{
		{alg: "HS256", key: connectjwt.Key{Algorithm: "HS256", Material: secret}, verify: secret},
		{alg: "RS256", key: connectjwt.Key{Algorithm: "RS256", Material: rsaKey}, verify: &rsaKey.PublicKey},
		{alg: "ES256", key: connectjwt.Key{Algorithm: "ES256", Material: ecKey}, verify: &ecKey.PublicKey},
		{alg: "EdDSA", key: connectjwt.Key{Algorithm: "EdDSA", Material: edPriv}, verify: edPub},
	} {
		is, err := connectjwt.NewIssuer(f.shared(), connectjwt.WithTokenLifetimes(time.Hour, 24*time.Hour))
		if err != nil {
			return nil, err
		}
		if f.token, _, err = is.CreateFreshAccessToken(context.Background(), benchSubject); err != nil {
			return nil, err
		}
		all[f.alg] = f
	}
	return all, nil
}

// shared are the options every connectjwt constructor gets.
func (f *fixture) shared() connectjwt.Option {
	return connectjwt.WithOptions(
		connectjwt.WithKey(f.key),
		connectjwt.WithIssuer(benchIssuer),
		connectjwt.WithAudience(benchAudience),
	)
}

// cacheOption turns connectjwt's verified-token cache on or off.
func cacheOption(on bool) connectjwt.ValidatorOption {
	if on {
		return connectjwt.WithCacheSize(connectjwt.DefaultCacheSize)
	}
	return connectjwt.WithCacheSize(0)
}
