package connectjwt

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"connectrpc.com/connect"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// An Authenticator checks a username and password and returns the identity
// to put in the tokens. For wrong credentials it returns an error; it should
// take the same time whether or not the user exists (hash a dummy password
// for unknown users) and compare secrets in constant time. An error that
// wraps [ErrUnavailable] (a user store that is down) is reported as
// unavailable; every other error as [ErrInvalidCredentials], with the same
// message whatever its text, so a caller cannot learn which users exist.
type Authenticator func(ctx context.Context, username, password string) (identity string, err error)

// AuthService implements connectjwt.v1.AuthService: Login exchanges
// credentials for a fresh access token and a refresh token, Refresh exchanges
// a refresh token for a new pair; neither needs an access token (their
// .proto options mark them public, as does [AuthServiceProcedures]).
// Logout and Revoke need one, and the [RevocationStore] given to the issuer
// ([WithRevocationStore]); mount the service behind the [Interceptor]
// ([Interceptor.HandlerOption]) whose [Validator] checks the same store.
// With that store, Refresh rotates refresh tokens (see [AuthService.Refresh]).
type AuthService struct {
	issuer       *Issuer
	authenticate Authenticator
	reuseGrace   time.Duration
	limiter      LoginLimiter
}

var _ connectjwtv1connect.AuthServiceHandler = (*AuthService)(nil)

// AuthServiceProcedures are the procedures of AuthService that need no
// access token, for interceptors that do not read .proto options.
var AuthServiceProcedures = []string{ //nolint:gochecknoglobals // API: spread into WithPublicProcedures(AuthServiceProcedures...)
	connectjwtv1connect.AuthServiceLoginProcedure,
	connectjwtv1connect.AuthServiceRefreshProcedure,
}

// NewAuthService returns an AuthService that checks credentials with
// authenticate, issues tokens with issuer and revokes them in the issuer's
// [RevocationStore]. Failed logins are throttled by an in-memory
// [LoginLimiter] unless [WithLoginLimiter] says otherwise.
func NewAuthService(issuer *Issuer, authenticate Authenticator, opts ...AuthServiceOption) *AuthService {
	s := &AuthService{issuer: issuer, authenticate: authenticate, reuseGrace: DefaultRefreshReuseGrace,
		limiter: NewLoginLimiter(LoginLimits{})}
	for _, o := range opts {
		if o != nil {
			o.applyToAuthService(s)
		}
	}
	return s
}

// Login implements connectjwt.v1.AuthService.Login. Failed logins are
// throttled per username and per peer ([WithLoginLimiter]): a login that
// must wait is refused with REASON_TOO_MANY_ATTEMPTS before its password is
// checked, whether or not the user exists.
func (s *AuthService) Login(ctx context.Context, req *connect.Request[connectjwtv1.LoginRequest]) (*connect.Response[connectjwtv1.LoginResponse], error) {
	if s == nil || s.issuer == nil || s.authenticate == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("login is not configured"))
	}
	username, peer := req.Msg.GetUsername(), req.Peer().Addr
	if f := s.throttled(ctx, username, peer); f != nil {
		return nil, DefaultError(f)
	}
	identity, err := s.authenticate(ctx, username, req.Msg.GetPassword())
	switch {
	case errors.Is(err, ErrUnavailable):
		return nil, DefaultError(failCause(ErrUnavailable, nil, err))
	case err != nil || identity == "":
		if s.limiter != nil {
			// A limiter that cannot record fails this login closed, as
			// unavailable, so failures are never silently uncounted.
			if lerr := s.limiter.Fail(ctx, username, peer); lerr != nil {
				return nil, DefaultError(failCause(ErrUnavailable, nil, lerr))
			}
		}
		return nil, DefaultError(failCause(ErrInvalidCredentials, nil, err))
	}
	if s.limiter != nil {
		if err := s.limiter.Succeed(ctx, username, peer); err != nil {
			return nil, DefaultError(failCause(ErrUnavailable, nil, err))
		}
	}
	pair, err := s.issuer.CreateFreshTokenPair(ctx, identity)
	if err != nil {
		return nil, issueError()
	}
	return connect.NewResponse(&connectjwtv1.LoginResponse{Tokens: pair}), nil
}

// Refresh implements connectjwt.v1.AuthService.Refresh. The refresh token is
// verified like an access token (signature, claims, expiry, [RevocationStore]) but
// must carry the refresh typ; an access token is refused with
// [ErrWrongTokenType]. The new access token is not fresh. Failures are
// answered with [DefaultError]: the interceptor's loaders are for access
// tokens, and a client that refreshes on REASON_EXPIRED must see a refresh
// failure as final.
//
// When the issuer has a [RevocationStore] ([WithRevocationStore]), refresh
// tokens rotate (RFC 9700 §4.14.2): each is redeemed once, atomically in the
// store, and the new pair continues its session (sid). A refresh token presented again after it was redeemed is a
// reuse: the whole session is revoked (every access and refresh token
// descended from its login) and the answer is REASON_REVOKED. Within the
// grace window ([WithRefreshReuseGrace]) after its redemption, it is
// answered REASON_REFRESH_CONFLICT instead, with no tokens and nothing
// revoked. No token of a session outlives its absolute lifetime
// ([WithSessionLifetime]).
func (s *AuthService) Refresh(ctx context.Context, req *connect.Request[connectjwtv1.RefreshRequest]) (*connect.Response[connectjwtv1.RefreshResponse], error) {
	if s == nil || s.issuer == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("refresh is not configured"))
	}
	claims, f, _ := s.issuer.validator.validateToken(ctx, req.Msg.GetRefreshToken(), true)
	if f != nil {
		f.Procedure = connectjwtv1connect.AuthServiceRefreshProcedure
		return nil, DefaultError(f)
	}
	sess, err := s.rotate(ctx, claims)
	if err != nil {
		return nil, err
	}
	pair, err := s.issuer.createPair(ctx, claims.Identity, false, sess)
	if errors.Is(err, ErrExpired) {
		return nil, DefaultError(fail(fmt.Errorf("%w: session has ended, log in again", ErrExpired), claims))
	}
	if err != nil {
		return nil, issueError()
	}
	return connect.NewResponse(&connectjwtv1.RefreshResponse{Tokens: pair}), nil
}

// Logout implements connectjwt.v1.AuthService.Logout: it revokes the calling
// access token, its session (every token descended from the same login,
// see [AuthService.Refresh]), the given refresh token (when it is the
// caller's) and, with everywhere, every token of the caller issued until
// now.
func (s *AuthService) Logout(ctx context.Context, req *connect.Request[connectjwtv1.LogoutRequest]) (*connect.Response[connectjwtv1.LogoutResponse], error) {
	caller, err := s.revoker(ctx)
	if err != nil {
		return nil, err
	}
	var refresh *Claims
	if tok := req.Msg.GetRefreshToken(); tok != "" {
		if refresh, err = s.ownToken(ctx, caller, tok); err != nil {
			return nil, err
		}
	}
	if req.Msg.GetEverywhere() {
		now := s.issuer.cfg.now()
		until := now.Add(max(s.issuer.cfg.accessTTL, s.issuer.cfg.refreshTTL))
		if err := s.issuer.cfg.store.RevokeIdentity(ctx, caller.Identity, now, until); err != nil {
			return nil, storeError(err)
		}
	}
	// The caller's session ends: every token descended from its login,
	// including refresh tokens that were stolen and rotated.
	if caller.SessionID != "" {
		if err := s.issuer.cfg.store.RevokeSession(ctx, caller.SessionID, s.issuer.sessionEndOf(caller)); err != nil {
			return nil, storeError(err)
		}
	}
	for _, c := range []*Claims{caller, refresh} {
		if c == nil || c.ID == "" {
			continue
		}
		if err := s.issuer.cfg.store.RevokeToken(ctx, c); err != nil {
			return nil, storeError(err)
		}
	}
	return connect.NewResponse(&connectjwtv1.LogoutResponse{}), nil
}

// Revoke implements connectjwt.v1.AuthService.Revoke.
func (s *AuthService) Revoke(ctx context.Context, req *connect.Request[connectjwtv1.RevokeRequest]) (*connect.Response[connectjwtv1.RevokeResponse], error) {
	caller, err := s.revoker(ctx)
	if err != nil {
		return nil, err
	}
	target, err := s.ownToken(ctx, caller, req.Msg.GetToken())
	if err != nil {
		return nil, err
	}
	if target.ID == "" {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("token has no jti and cannot be revoked alone; use Logout with everywhere"))
	}
	if err := s.issuer.cfg.store.RevokeToken(ctx, target); err != nil {
		return nil, storeError(err)
	}
	return connect.NewResponse(&connectjwtv1.RevokeResponse{}), nil
}

// revoker returns the caller's verified claims, or why Logout and Revoke
// cannot run.
func (s *AuthService) revoker(ctx context.Context) (*Claims, error) {
	if s == nil || s.issuer == nil || s.issuer.cfg.store == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("revocation is not configured"))
	}
	state, _ := ctx.Value(claimsKey{}).(*authState)
	if state == nil || state.claims == nil {
		return nil, DefaultError(fail(ErrMissing, nil))
	}
	caller := state.claims
	// A revocation the validator never reads would be a silent no-op: the
	// caller's validator must check the store revocations are written to.
	if state.v != nil && !sameStore(state.v.cfg.store, s.issuer.cfg.store) {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("revocation is not checked by this server's validator"))
	}
	// Identities are only unique within an issuer: a caller with a token
	// of another trusted issuer (WithJWKS) must not log out, or revoke the
	// tokens of, a local user who happens to share its identity.
	if caller.Issuer != s.issuer.cfg.issuer {
		return nil, DefaultError(fail(fmt.Errorf("%w: tokens of another issuer cannot be revoked here", ErrAccessDenied), caller))
	}
	return caller, nil
}

// ownToken verifies tok, an access or a refresh token, and checks it belongs
// to the caller. Expired tokens are accepted: revoking them is harmless.
func (s *AuthService) ownToken(ctx context.Context, caller *Claims, tok string) (*Claims, error) {
	c, f, _ := s.issuer.validator.validateToken(ctx, tok, true)
	if f != nil && errors.Is(f, ErrWrongTokenType) {
		c, f, _ = s.issuer.validator.validateToken(ctx, tok, false)
	}
	if f != nil && (errors.Is(f, ErrExpired) || errors.Is(f, ErrRevoked)) {
		c, f = f.Claims, nil
	}
	if f != nil && errors.Is(f, ErrUnavailable) {
		return nil, DefaultError(f) // the store is down: retryable, not the caller's fault
	}
	if f != nil {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("token to revoke: %w", f))
	}
	if c.Identity != caller.Identity {
		return nil, DefaultError(fail(fmt.Errorf("%w: not your token", ErrAccessDenied), nil))
	}
	return c, nil
}

// sameStore reports whether a and b are the same store.
func sameStore(a, b RevocationStore) bool {
	if a == nil || b == nil {
		return a == b
	}
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

func storeError(err error) error {
	return DefaultError(failCause(fmt.Errorf("%w: revocation store failed", ErrUnavailable), nil, err))
}

// issueError answers a failure to sign tokens; its cause (a signer's error)
// stays on the server.
func issueError() error {
	return connect.NewError(connect.CodeInternal, errors.New("could not issue tokens"))
}
