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
var algs = []string{"HS256", "RS256", "ES256", "EdDSA"}

// fixture is one algorithm's key, a valid access token and what each
// implementation needs to verify it.
type fixture struct {
	alg    string
	key    connectjwt.Key
	verify any // the verification key for golang-jwt and auth0
	token  string
}

var (
	fixturesOnce sync.Once
	fixtures     map[string]*fixture
)

// fixtureFor returns the fixture of alg, building all of them once.
func fixtureFor(tb testing.TB, alg string) *fixture {
	tb.Helper()
	fixturesOnce.Do(buildFixtures)
	f := fixtures[alg]
	if f == nil {
		tb.Fatalf("no fixture for %s", alg)
	}
	return f
}

func buildFixtures() {
	fixtures = map[string]*fixture{}
	secret := make([]byte, 32)
	mustRead(secret)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	for _, f := range []*fixture{
		{alg: "HS256", key: connectjwt.Key{Algorithm: "HS256", Material: secret}, verify: secret},
		{alg: "RS256", key: connectjwt.Key{Algorithm: "RS256", Material: rsaKey}, verify: &rsaKey.PublicKey},
		{alg: "ES256", key: connectjwt.Key{Algorithm: "ES256", Material: ecKey}, verify: &ecKey.PublicKey},
		{alg: "EdDSA", key: connectjwt.Key{Algorithm: "EdDSA", Material: edPriv}, verify: edPub},
	} {
		is, err := connectjwt.NewIssuer(f.shared(), connectjwt.WithTokenLifetimes(time.Hour, 24*time.Hour))
		must(err)
		f.token, _, err = is.CreateFreshAccessToken(context.Background(), benchSubject)
		must(err)
		fixtures[f.alg] = f
	}
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

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func mustRead(b []byte) {
	_, err := rand.Read(b)
	must(err)
}
