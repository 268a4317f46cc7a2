package connectjwt

import (
	"context"
	"errors"
	"sync"
	"time"

	"connectrpc.com/connect"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
	"github.com/connectjwt/connectjwt/internal/flight"
)

// A TokenSource supplies the access token a client sends.
type TokenSource interface {
	AccessToken(ctx context.Context) (string, error)
}

// StaticToken is a [TokenSource] that always returns the same token.
type StaticToken string

// AccessToken returns t.
func (t StaticToken) AccessToken(context.Context) (string, error) {
	if t == "" {
		return "", errNoToken
	}
	return string(t), nil
}

var errNoToken = errors.New("connectjwt: no access token; log in first")

// NewClientInterceptor returns a client-side interceptor that sends the
// token from src as "Authorization: Bearer <token>" on unary and streaming
// calls. It never refreshes; use [Session.Interceptor] for that.
func NewClientInterceptor(src TokenSource) connect.Interceptor {
	return &clientInterceptor{src: src}
}

// A Session keeps one user's tokens on the client side: it logs in through
// AuthService, supplies the access token ([TokenSource]) and refreshes it.
// Its interceptor ([Session.Interceptor]) refreshes once when the server
// answers REASON_EXPIRED and retries a unary call once; concurrent calls that
// fail together share one Refresh call. It never retries any other failure.
//
// Refresh tokens rotate: each is good for one Refresh. Processes that share
// one user's tokens (saved to a file, say) must share their storage: when
// one refreshes, the others get the new tokens through [Session.SetTokens].
// A Refresh that the server answers REASON_REFRESH_CONFLICT (another holder
// of the same refresh token has just used it) waits up to
// [RefreshConflictWait] for SetTokens to bring the winner's tokens and then
// succeeds with them; if none come, it returns the conflict error.
//
// The AuthService client given to [NewSession] must not itself use the
// session's interceptor. A Session is safe for concurrent use.
type Session struct {
	auth connectjwtv1connect.AuthServiceClient

	conflictWait time.Duration

	mu      sync.Mutex
	access  string
	refresh string
	changed chan struct{} // closed and replaced by every SetTokens

	refreshes flight.Group[struct{}, struct{}] // at most one Refresh call at a time
}

// NewSession returns a Session that logs in and refreshes through auth.
func NewSession(auth connectjwtv1connect.AuthServiceClient) *Session {
	return &Session{auth: auth, conflictWait: RefreshConflictWait, changed: make(chan struct{})}
}

// RefreshConflictWait is how long a [Session] whose Refresh was answered
// REASON_REFRESH_CONFLICT waits for [Session.SetTokens] to bring the tokens
// of the Refresh that won.
const RefreshConflictWait = 2 * time.Second

// Login exchanges credentials for tokens and keeps them.
func (s *Session) Login(ctx context.Context, username, password string) error {
	res, err := s.auth.Login(ctx, connect.NewRequest(&connectjwtv1.LoginRequest{Username: username, Password: password}))
	if err != nil {
		return err
	}
	s.SetTokens(res.Msg.GetTokens().GetAccessToken(), res.Msg.GetTokens().GetRefreshToken())
	return nil
}

// SetTokens replaces the session's tokens, e.g. with ones stored earlier.
func (s *Session) SetTokens(access, refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.access, s.refresh = access, refresh
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
}

// AccessToken implements [TokenSource].
func (s *Session) AccessToken(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.access == "" {
		return "", errNoToken
	}
	return s.access, nil
}

// Refresh replaces the access token stale with a new one through
// AuthService.Refresh. If the token has already been replaced, it does
// nothing; if a refresh is under way, it waits for that one.
func (s *Session) Refresh(ctx context.Context, stale string) error {
	s.mu.Lock()
	replaced := s.access != stale
	s.mu.Unlock()
	if replaced {
		return nil
	}
	var refresh string
	// Again under the group's lock: a refresh that completed has replaced the
	// token before it stops being in flight, so stale is seen as replaced.
	call := s.refreshes.Go(struct{}{}, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		refresh = s.refresh
		return s.access == stale
	}, func() (struct{}, error) {
		return struct{}{}, s.doRefresh(context.WithoutCancel(ctx), refresh)
	})
	if call == nil {
		return nil // already replaced
	}
	select {
	case <-call.Done():
		_, err := call.Result()
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// refreshTimeout bounds a refresh that waiters share: no caller's
// cancellation stops it, so it needs its own limit.
const refreshTimeout = 30 * time.Second

// doRefresh exchanges refresh for new tokens and keeps them.
func (s *Session) doRefresh(ctx context.Context, refresh string) error {
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	if refresh == "" {
		return errNoToken
	}
	res, err := s.auth.Refresh(ctx, connect.NewRequest(&connectjwtv1.RefreshRequest{RefreshToken: refresh}))
	if err != nil {
		if ReasonOf(err) == ReasonRefreshConflict && s.awaitOtherRefresh(ctx, refresh) {
			return nil // SetTokens brought the tokens of the Refresh that won
		}
		return err
	}
	s.SetTokens(res.Msg.GetTokens().GetAccessToken(), res.Msg.GetTokens().GetRefreshToken())
	return nil
}

// awaitOtherRefresh waits up to s.conflictWait for SetTokens to replace the
// refresh token used, by the tokens of the Refresh that redeemed it first,
// and reports whether it did.
func (s *Session) awaitOtherRefresh(ctx context.Context, used string) bool {
	timer := time.NewTimer(s.conflictWait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		replaced, changed := s.refresh != used, s.changed
		s.mu.Unlock()
		if replaced {
			return true
		}
		select {
		case <-changed:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// Interceptor returns the client interceptor that sends the session's
// access token and refreshes it on REASON_EXPIRED (retrying unary calls
// once). When the refresh fails, the call returns its original error.
func (s *Session) Interceptor() connect.Interceptor {
	return &clientInterceptor{src: s, session: s}
}

type clientInterceptor struct {
	src     TokenSource
	session *Session
}

func (c *clientInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if !req.Spec().IsClient {
			return next(ctx, req)
		}
		token, err := c.src.AccessToken(ctx)
		if err != nil {
			return nil, connect.NewError(connect.CodeUnauthenticated, err)
		}
		setBearer(req.Header(), token)
		res, err := next(ctx, req)
		if err == nil || c.session == nil || !isExpired(err) {
			return res, err
		}
		if rerr := c.session.Refresh(ctx, token); rerr != nil {
			return nil, err
		}
		fresh, terr := c.src.AccessToken(ctx)
		if terr != nil {
			return nil, err
		}
		setBearer(req.Header(), fresh)
		return next(ctx, req)
	}
}

func (c *clientInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		conn := next(ctx, spec)
		if token, err := c.src.AccessToken(ctx); err == nil {
			setBearer(conn.RequestHeader(), token)
		}
		// Without a token the call goes out without one and the server
		// answers REASON_MISSING, which is the error the caller should see.
		return conn
	}
}

func (c *clientInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func setBearer(h interface{ Set(string, string) }, token string) {
	h.Set(DefaultHeaderName, DefaultHeaderScheme+" "+token)
}

func isExpired(err error) bool {
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		return false
	}
	ae, ok := authErrorDetail(err)
	return ok && Reason(ae.GetReason()) == ReasonExpired
}
