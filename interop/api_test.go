package interop

// Every use of connectjwt's configuration API in this module is in this
// file, so a change of the API touches only it.

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"connectrpc.com/connect"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

// trust is what an interceptor under test accepts.
type trust struct {
	flaskRecipe bool   // the validator of README.md's flask-jwt-simple recipe, with hmac as the secret
	hmac        []byte // a local HMAC key, with hmacAlg (HS256 by default) and hmacKID
	hmacAlg     string
	hmacKID     string
	accessType  string      // the access token typ of the local key, "at+jwt" by default
	localTypes  []string    // further access token types accepted from the local key
	untyped     bool        // the local key's access tokens may have no typ
	sets        []remoteSet // remote JWK Sets
	scopes      []string    // scopes the Protected procedure requires
	onKeyError  func(error) // OnFetchError of every remote set
}

type remoteSet struct {
	issuer, url, audience string
	types                 []string // accepted access token types, "at+jwt" by default
	untyped               bool     // access tokens without typ are accepted
}

// newTestInterceptor builds the interceptor for tr.
func newTestInterceptor(t *testing.T, tr trust) *connectjwt.Interceptor {
	t.Helper()
	if tr.flaskRecipe {
		_, v, err := flaskMigration(tr.hmac)
		if err != nil {
			t.Fatalf("flaskMigration: %v", err)
		}
		return connectjwt.NewInterceptor(v)
	}
	var opts []connectjwt.ValidatorOption
	if tr.hmac != nil {
		alg := tr.hmacAlg
		if alg == "" {
			alg = "HS256"
		}
		opts = append(opts, connectjwt.WithKey(connectjwt.Key{ID: tr.hmacKID, Algorithm: alg, Material: tr.hmac}))
	}
	if tr.accessType != "" {
		opts = append(opts, connectjwt.WithTokenTypes(tr.accessType, "refresh+jwt"))
	}
	if len(tr.localTypes) > 0 {
		opts = append(opts, connectjwt.WithAcceptedAccessTypes(tr.localTypes...))
	}
	if tr.untyped {
		opts = append(opts, connectjwt.WithUntypedAccessTokens())
	}
	for _, s := range tr.sets {
		opts = append(opts, connectjwt.WithRemoteKeySet(connectjwt.RemoteKeySet{
			Issuer: s.issuer, URL: s.url, Audience: []string{s.audience}, OnFetchError: tr.onKeyError,
			AccessTokenTypes: s.types, AcceptUntyped: s.untyped,
		}))
	}
	if len(tr.scopes) > 0 {
		opts = append(opts, connectjwt.WithProcedurePolicy(examplev1connect.ProtectedServiceProtectedProcedure,
			connectjwt.Policy{Scopes: tr.scopes}))
	}
	v, err := connectjwt.NewValidator(opts...)
	if err != nil {
		t.Fatalf("NewValidator: %v", err)
	}
	return connectjwt.NewInterceptor(v)
}

// handlerOption installs ic on a handler.
func handlerOption(ic *connectjwt.Interceptor) connect.HandlerOption { return ic.HandlerOption() }

// testIssuer is an Issuer of ours: its access tokens and its JWK Set.
type testIssuer struct{ is *connectjwt.Issuer }

// newTestIssuer issues tokens signed with material under alg and kid; iss
// and aud are left out when empty.
func newTestIssuer(t *testing.T, alg, kid string, material any, iss, aud string) testIssuer {
	t.Helper()
	opts := []connectjwt.IssuerOption{connectjwt.WithKey(connectjwt.Key{ID: kid, Algorithm: alg, Material: material})}
	if iss != "" {
		opts = append(opts, connectjwt.WithIssuer(iss))
	}
	if aud != "" {
		opts = append(opts, connectjwt.WithAudience(aud))
	}
	is, err := connectjwt.NewIssuer(opts...)
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	return testIssuer{is}
}

// accessToken issues an access token for identity.
func (ti testIssuer) accessToken(t *testing.T, identity string) string {
	t.Helper()
	tok, _, err := ti.is.CreateAccessToken(context.Background(), identity)
	if err != nil {
		t.Fatalf("CreateAccessToken: %v", err)
	}
	return tok
}

// refreshToken issues a refresh token for identity.
func (ti testIssuer) refreshToken(t *testing.T, identity string) string {
	t.Helper()
	tok, _, err := ti.is.CreateRefreshToken(context.Background(), identity)
	if err != nil {
		t.Fatalf("CreateRefreshToken: %v", err)
	}
	return tok
}

// jwksHandler serves the issuer's public keys.
func (ti testIssuer) jwksHandler() http.Handler { return ti.is.JWKSHandler() }

// identityOf is the identity the interceptor put in ctx.
func identityOf(ctx context.Context) string {
	id, _ := connectjwt.IdentityFromContext(ctx)
	return id
}

// authError returns the reason name and message of the AuthError detail of
// a failed call.
func authError(err error) (reason, message string) {
	ae, ok := connectjwt.AuthErrorOf(err)
	if !ok {
		return "", ""
	}
	return ae.GetReason().String(), ae.GetMessage()
}

// flaskMigration builds the issuer and validator of README.md's "Migrating
// from flask-jwt-simple" recipe, with secret as Flask's JWT_SECRET_KEY.
// TestFlaskRecipeIsTheREADMEs checks that every line naming connectjwt
// between the markers is in the README's block, and the reverse.
func flaskMigration(secret []byte) (*connectjwt.Issuer, *connectjwt.Validator, error) {
	// README recipe begins.
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(connectjwt.HMACKey(secret)), // Flask's JWT_SECRET_KEY (HS256), at least 32 bytes
	)
	issuer, err := connectjwt.NewIssuer(shared) // typ at+jwt; sub, iat, nbf, exp in whole seconds; no iss, no aud
	if err != nil {
		return nil, nil, err
	}
	validator, err := connectjwt.NewValidator(shared,
		connectjwt.WithAcceptedAccessTypes("JWT"), // create_jwt's tokens are typed JWT
	)
	// README recipe ends.
	return issuer, validator, err
}

// newRecipeIssuer is the issuer of flaskMigration.
func newRecipeIssuer(t *testing.T, secret []byte) testIssuer {
	t.Helper()
	is, _, err := flaskMigration(secret)
	if err != nil {
		t.Fatalf("flaskMigration: %v", err)
	}
	return testIssuer{is}
}

// isKeyError reports whether err is a configuration error about a key.
func isKeyError(err error) bool { return errors.Is(err, connectjwt.ErrInvalidKey) }
