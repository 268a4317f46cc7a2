package connectjwt

import (
	"context"
	"net/http"
	"time"
)

// StreamDeadlines wraps the HTTP handler that serves protected streaming
// procedures so that a stream also releases its connection when its token
// expires or is revoked. It does not authenticate anything: it lets
// [Validator.StreamContext] (which the [Interceptor] runs for every stream)
// set the HTTP stream's read and write deadlines (through
// [http.ResponseController]) to the token's expiry plus one second, and move
// the read deadline to now when the stream's context ends by expiry or
// revocation.
//
// Install it around every handler that serves streams. A handler blocked
// in Receive on a client that stopped sending, or in Send on a client that
// stopped reading, does not notice its context: without StreamDeadlines it
// waits until the client moves or a server timeout fires, past the token's
// expiry. With it, a blocked Receive is released at expiry (or revocation),
// on every protocol and HTTP version, and a blocked Send one second after
// expiry (or revocation); the stream then ends. The second of grace lets a client that is
// still reading receive the expired-token error that ends the stream.
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

// connDeadlines is what [StreamDeadlines] hands [Validator.StreamContext].
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
