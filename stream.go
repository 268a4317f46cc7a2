package connectjwt

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
)

// expiringConn refuses to send or receive once its token has expired, and a
// Receive that is waiting for the client when the token expires returns at
// once with the expired error.
//
// Why Receive needs more than a clock check: a handler blocked in Receive
// while the client sends nothing is blocked in a read of the request body,
// which does not watch any context; cancelling the handler's context does not
// wake it. So, on client- and bidi-streams, Receive runs the inner Receive on
// its own goroutine and waits for whichever comes first: the message, the
// expiry or the end of the call. The inner Receive decodes into a fresh
// message of the same type, copied into the caller's message only when it
// arrived in time: an abandoned inner Receive can never write into memory the
// handler owns. After that no further inner Receive is started, and the
// abandoned one returns when the stream is torn down (connect-go closes the
// request body when the handler returns), so it does not leak.
//
// On server streams the one request message travels with the call, so
// Receive reads it directly; one that completes after expiry is refused.
type expiringConn struct {
	connect.StreamingHandlerConn
	// ctx is the handler's context; it ends at the token's expiry. It
	// lives here so that a stream costs one allocation.
	ctx      streamContext
	now      func() time.Time
	deadline time.Time
	// waitForClient: the client sends messages during the stream, so a
	// Receive may wait on a silent client.
	waitForClient bool
	expired       atomic.Bool
	// results carries the outcome of the one inner Receive in flight (made
	// at the first Receive). A StreamingHandlerConn allows one Receive at a
	// time, so one slot is enough; an abandoned Receive writes here and
	// exits.
	results chan error
	// abandoned is set once a Receive returned before its inner Receive:
	// from then on the stream is dead.
	abandoned atomic.Bool
}

// check fails once the token has expired or been refused by the revocation store.
// The handler's error is replaced by the loader's when the stream ends, so
// this one only has to stop the handler; it is new on every call because
// *connect.Error is mutable (Meta).
func (c *expiringConn) check() error {
	if c.expired.Load() || !c.now().Before(c.deadline) {
		c.expired.Store(true)
		return expiredError()
	}
	return c.refusedError()
}

// refusedError is the error that stops the handler once the revocation store
// refused the token mid-stream, or nil.
func (c *expiringConn) refusedError() error {
	if f := c.ctx.refused.Load(); f != nil {
		return connect.NewError(f.Reason.Code(), f.Err)
	}
	return nil
}

func expiredError() error {
	return connect.NewError(connect.CodeUnauthenticated, ErrExpired)
}

// ended returns the error for a stream whose context is done: expired, or
// cancelled (the client went away).
func (c *expiringConn) ended() error {
	err := c.ctx.Err()
	if c.ctx.expired() {
		c.expired.Store(true)
		return expiredError()
	}
	if rerr := c.refusedError(); rerr != nil {
		return rerr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	return connect.NewError(connect.CodeCanceled, err)
}

func (c *expiringConn) Receive(msg any) error {
	if err := c.check(); err != nil {
		return err
	}
	if c.abandoned.Load() {
		return c.ended()
	}
	var fresh any
	var commit func()
	if c.waitForClient {
		fresh, commit = freshMessage(msg)
	}
	if fresh == nil {
		// A server stream's request, or a msg that is not a pointer (the
		// inner conn reports that): read directly, refuse a late one.
		if err := c.StreamingHandlerConn.Receive(msg); err != nil {
			if cerr := c.check(); cerr != nil {
				return cerr
			}
			return err
		}
		return c.check()
	}
	if c.results == nil {
		c.results = make(chan error, 1)
	}
	inner := c.StreamingHandlerConn
	go func() { c.results <- inner.Receive(fresh) }()
	select {
	case err := <-c.results:
		if err != nil {
			// An error from the stream (io.EOF, a reset) stands, unless
			// the token expired meanwhile.
			if cerr := c.check(); cerr != nil {
				return cerr
			}
			return err
		}
		// A message that arrived after the token expired is dropped.
		if cerr := c.check(); cerr != nil {
			return cerr
		}
		commit()
		return nil
	case <-c.ctx.Done():
		c.abandoned.Store(true)
		return c.ended()
	}
}

func (c *expiringConn) Send(msg any) error {
	if err := c.check(); err != nil {
		return err
	}
	return c.StreamingHandlerConn.Send(msg)
}

// freshMessage returns a new, empty message of msg's type to decode into and
// a function that moves the decoded message into msg; fresh is nil when msg
// is not a pointer.
func freshMessage(msg any) (fresh any, commit func()) {
	if m, ok := msg.(proto.Message); ok {
		if !m.ProtoReflect().IsValid() {
			return nil, nil
		}
		f := m.ProtoReflect().New().Interface()
		return f, func() {
			proto.Reset(m)
			proto.Merge(m, f)
		}
	}
	v := reflect.ValueOf(msg)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, nil
	}
	f := reflect.New(v.Type().Elem())
	return f.Interface(), func() { v.Elem().Set(f.Elem()) }
}

// untilExpiry runs a streaming handler that must stop when the token
// expires: the handler's context ends at exp (plus leeway), which also wakes
// a Receive waiting for the client; every Send and Receive checks the clock;
// and an expired stream ends with the loader's expired error whatever the
// handler returned.
func (i *Interceptor) untilExpiry(ctx context.Context, conn connect.StreamingHandlerConn, claims *Claims, next connect.StreamingHandlerFunc) error {
	deadline := claims.ExpiresAt.Add(i.v.cfg.leeway)
	ec := &expiringConn{
		StreamingHandlerConn: conn,
		now:                  i.v.cfg.now,
		deadline:             deadline,
		waitForClient:        conn.Spec().StreamType&connect.StreamTypeClient != 0,
	}
	// The expiry is measured on the configured clock (WithClock) and
	// scheduled on the real one.
	ec.ctx.parent = ctx
	ec.ctx.when = time.Now().Add(deadline.Sub(i.v.cfg.now()))
	i.expiries.add(&ec.ctx)
	setConnDeadlines(ctx, ec.ctx.when.Add(connDeadlineGrace))
	defer func() {
		// Also when next panics: goroutines the handler started on its
		// context must not outlive the stream (or the token).
		ec.ctx.end(context.Canceled, endedByReturn)
		i.expiries.remove(&ec.ctx)
	}()
	if every := i.v.cfg.streamRecheckInterval(); every > 0 {
		// Lookups run on the call's context; the checks end with the stream.
		stop := i.v.watchRevocation(ctx, func() bool { return ec.ctx.Err() != nil }, claims, every, ec.ctx.refuse)
		defer stop()
	}
	err := next(&ec.ctx, ec)
	// Before the checks below: a handler that returned in time is not
	// reported as expired (or revoked) because a timer fired a moment later.
	ec.ctx.end(context.Canceled, endedByReturn)
	if f := ec.ctx.refused.Load(); f != nil {
		f.Procedure = conn.Spec().Procedure
		i.v.observeEvent(ctx, Event{Kind: EventStreamEnd, Issuer: claims.Issuer, Procedure: f.Procedure, Reason: f.Reason})
		return i.reject(ctx, f, conn.Peer())
	}
	if ec.expired.Load() || ec.ctx.expired() {
		f := fail(ErrExpired, claims)
		f.Procedure = conn.Spec().Procedure
		i.v.observeEvent(ctx, Event{Kind: EventStreamEnd, Issuer: claims.Issuer, Procedure: f.Procedure, Reason: f.Reason})
		// ctx, not the stream's own context, which has ended by now.
		return i.reject(ctx, f, conn.Peer())
	}
	return err
}

// StreamDeadlines wraps the HTTP handler that serves protected streaming
// procedures so that a stream also releases its connection when its token
// expires. It does not authenticate anything: it lets the [Interceptor] set
// the HTTP stream's read and write deadlines (through
// [http.ResponseController]) to the token's expiry plus one second.
//
// Install it around every handler that serves streams: without it, a
// handler blocked in Send because the client stopped reading, or in a read
// of a client that went silent over HTTP/1.1, waits until the client moves
// or a server timeout fires, past the token's expiry; with it, both fail at
// that deadline and the stream ends. The second of grace lets a client that
// is still reading receive the expired-token error that ends the stream.
//
//	mux.Handle(greetv1connect.NewGreetServiceHandler(svc, auth.HandlerOption()))
//	srv := &http.Server{Handler: connectjwt.StreamDeadlines(mux)}
//
// A deadline is never set later than the one the server's own WriteTimeout
// or ReadTimeout would give. Requests that cannot be streams (Connect
// unary calls) pass through untouched. A handler that takes more than the
// second to return after expiry has its stream reset (HTTP/2) or its
// connection closed (HTTP/1.1) instead of ending with the expired error.
func StreamDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Media types are case-insensitive, and connect-go serves them so.
		ct := r.Header.Get("Content-Type")
		if !hasPrefixFold(ct, "application/connect+") && !hasPrefixFold(ct, "application/grpc") {
			next.ServeHTTP(w, r)
			return
		}
		d := &connDeadlines{rc: http.NewResponseController(w), start: time.Now()}
		if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok {
			d.readTimeout, d.writeTimeout = srv.ReadTimeout, srv.WriteTimeout
			// The server counts ReadTimeout from before the headers
			// arrived, which may have taken up to ReadHeaderTimeout
			// (ReadTimeout when unset).
			d.readLead = srv.ReadHeaderTimeout
			if d.readLead <= 0 {
				d.readLead = srv.ReadTimeout
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), connDeadlinesKey{}, d)))
	})
}

// connDeadlineGrace is how long after the token's expiry [StreamDeadlines]
// lets the stream's connection live.
const connDeadlineGrace = time.Second

type connDeadlinesKey struct{}

// connDeadlines is what [StreamDeadlines] hands the interceptor.
type connDeadlines struct {
	rc                        *http.ResponseController
	start                     time.Time
	readTimeout, writeTimeout time.Duration
	// readLead is how long before start the server may have started its
	// ReadTimeout clock.
	readLead time.Duration
}

// setConnDeadlines sets the read and write deadlines of the call's HTTP
// stream to at (when [StreamDeadlines] is installed), unless the
// server's own timeouts end it sooner. A ResponseWriter that cannot set
// deadlines (http.ErrNotSupported) leaves only the handler's context to
// end at expiry.
func setConnDeadlines(ctx context.Context, at time.Time) {
	d, _ := ctx.Value(connDeadlinesKey{}).(*connDeadlines)
	d.setAll(at)
}

// setAll sets the read and write deadlines to at, unless the server's own
// timeouts end the stream sooner; on a nil d it does nothing.
func (d *connDeadlines) setAll(at time.Time) {
	if d == nil {
		return
	}
	if beforeServerDeadline(at, d.start, 0, d.writeTimeout) {
		_ = d.rc.SetWriteDeadline(at)
	}
	if beforeServerDeadline(at, d.start, d.readLead, d.readTimeout) {
		_ = d.rc.SetReadDeadline(at)
	}
}

// end is for a stream whose token expired or was revoked at now: the read
// deadline becomes now, so a read waiting for the client returns at once,
// and writes get connDeadlineGrace to send the error that ends the stream.
// On a nil d it does nothing.
func (d *connDeadlines) end(now time.Time) {
	if d == nil {
		return
	}
	_ = d.rc.SetReadDeadline(now)
	if at := now.Add(connDeadlineGrace); beforeServerDeadline(at, d.start, 0, d.writeTimeout) {
		_ = d.rc.SetWriteDeadline(at)
	}
}

// beforeServerDeadline reports whether at is surely earlier than a server
// deadline of timeout (none when <= 0) counted from a moment that lies up to
// lead before start. start itself is a little after the server set its
// deadlines, so at must also be a clear second early.
func beforeServerDeadline(at, start time.Time, lead, timeout time.Duration) bool {
	if timeout <= 0 {
		return true
	}
	return at.Add(time.Second).Before(start.Add(timeout - lead))
}

// hasPrefixFold reports whether s begins with prefix, ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && asciiEqualFold(s[:len(prefix)], prefix)
}
