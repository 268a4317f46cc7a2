package connectjwt

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
)

// An HTTPMiddleware authenticates plain net/http routes with a [Validator]:
// file downloads, webhooks, REST routes next to Connect handlers. Build it
// with [NewHTTPMiddleware] and wrap a handler with [HTTPMiddleware.Wrap].
//
// Every request needs a valid access token unless its path is public
// ([PublicPath], [PublicPrefix]). The request path (URL.Path) plays the part
// of the procedure: the validator's policies apply to a request whose path
// is a procedure name ("/package.Service/Method"), and [WithClaimsCheck]
// receives the path. A public path is decided by the middleware alone; its
// requests carry no claims, and any token on them is not looked at.
//
// An admitted request reaches the handler with the verified claims in its
// context ([ClaimsFromContext]). A refused one gets 401 (no, or an
// unacceptable, token), 403 (insufficient scope, access denied) or 503 (a
// key server or revocation store could not be reached), an RFC 6750
// WWW-Authenticate header, and a JSON body in the shape of a Connect error,
// plus the reason by name:
//
//	{"code":"unauthenticated","message":"token has expired","reason":"REASON_EXPIRED",
//	 "details":[{"type":"connectjwt.v1.AuthError","value":"...","debug":{...}}]}
//
// so clients can reuse the parsing they have for Connect errors.
//
// Every request is checked, CORS preflights (OPTIONS without credentials)
// included: put a CORS handler outside this middleware, as around Connect
// handlers.
type HTTPMiddleware struct {
	v        *Validator
	exact    map[string]bool
	prefixes []string
}

// An HTTPOption configures an [HTTPMiddleware].
type HTTPOption interface {
	applyHTTP(*HTTPMiddleware) error
}

type httpOption func(*HTTPMiddleware) error

func (o httpOption) applyHTTP(m *HTTPMiddleware) error { return o(m) }

// PublicPath makes requests to exactly these paths (e.g. "/healthz") public:
// they need no token. The match is on the request's URL.Path, byte for byte;
// a request whose target encodes a character that needs no encoding, a slash
// or a backslash ("/%68ealthz", "/a%2Fb") is never public, because a router
// that matches the raw path could route it elsewhere: fail closed.
func PublicPath(paths ...string) HTTPOption {
	return httpOption(func(m *HTTPMiddleware) error {
		for _, p := range paths {
			if err := checkPublicPath(p); err != nil {
				return err
			}
			m.exact[p] = true
		}
		return nil
	})
}

// PublicPrefix makes requests to every path under these prefixes public,
// e.g. "/static/". A prefix must begin and end with a slash, so "/static/"
// never matches "/statics". A path with dot segments ("/static/../admin")
// or doubled slashes, or whose target is encoded as [PublicPath] describes,
// is never public by prefix: fail closed.
func PublicPrefix(prefixes ...string) HTTPOption {
	return httpOption(func(m *HTTPMiddleware) error {
		for _, prefix := range prefixes {
			if err := checkPublicPath(prefix); err != nil {
				return err
			}
			if !strings.HasSuffix(prefix, "/") {
				return fmt.Errorf("connectjwt: public prefix %q must end with a slash", prefix)
			}
			m.prefixes = append(m.prefixes, prefix)
		}
		return nil
	})
}

func checkPublicPath(p string) error {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != strings.TrimSuffix(p, "/") && p != "/" {
		return fmt.Errorf("connectjwt: public path %q must be a clean absolute path", p)
	}
	return nil
}

// NewHTTPMiddleware returns middleware that authenticates requests with v.
// It returns an error for a nil validator or a path option that is not a
// clean absolute path.
func NewHTTPMiddleware(v *Validator, opts ...HTTPOption) (*HTTPMiddleware, error) {
	if v == nil {
		return nil, errors.New("connectjwt: NewHTTPMiddleware needs a validator")
	}
	m := &HTTPMiddleware{v: v, exact: map[string]bool{}}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o.applyHTTP(m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Wrap returns a handler that authenticates each request before passing it
// to next.
func (m *HTTPMiddleware) Wrap(next http.Handler) http.Handler {
	headerKey := textproto.CanonicalMIMEHeaderKey(m.v.HeaderName())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if m.public(r.URL) {
			start := m.v.observeStart()
			m.v.observeDecision(ctx, r.URL.Path, nil, nil, CacheUnused, start)
			next.ServeHTTP(w, r)
			return
		}
		ctx, f := m.v.Authenticate(ctx, Call{Procedure: r.URL.Path, Header: r.Header[headerKey]})
		if f != nil {
			m.refuse(w, f)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// public reports whether u's path is public.
func (m *HTTPMiddleware) public(u *url.URL) bool {
	path := u.Path
	if len(m.exact) == 0 && len(m.prefixes) == 0 || strings.ContainsRune(path, '\\') || obscured(u.RawPath) {
		return false
	}
	if m.exact[path] {
		return true
	}
	if len(m.prefixes) == 0 || strings.Contains(path, "//") || strings.Contains(path, "/./") || strings.Contains(path, "/../") ||
		strings.HasSuffix(path, "/.") || strings.HasSuffix(path, "/..") {
		return false
	}
	for _, pre := range m.prefixes {
		if strings.HasPrefix(path, pre) {
			return true
		}
	}
	return false
}

// obscured reports whether an escaped path encodes a character that needs
// no encoding (an ASCII letter, digit or "-._~"), a slash or a backslash, or
// holds a malformed escape: then a router matching the raw path may see
// another path than URL.Path.
func obscured(raw string) bool {
	for i := range len(raw) {
		if raw[i] != '%' {
			continue
		}
		if i+2 >= len(raw) {
			return true
		}
		b, err := strconv.ParseUint(raw[i+1:i+3], 16, 8)
		if err != nil {
			return true
		}
		switch c := byte(b); {
		case c == '/', c == '\\', c == '-', c == '.', c == '_', c == '~',
			'0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			return true
		}
	}
	return false
}

// httpError is a Connect error in its JSON form, plus the reason by name.
type httpError struct {
	Code    string            `json:"code"`
	Message string            `json:"message,omitempty"`
	Reason  string            `json:"reason,omitempty"`
	Details []httpErrorDetail `json:"details,omitempty"`
}

type httpErrorDetail struct {
	Type  string          `json:"type"`
	Value string          `json:"value"`
	Debug json.RawMessage `json:"debug,omitempty"`
}

// refuse writes the error response for f.
func (m *HTTPMiddleware) refuse(w http.ResponseWriter, f *Failure) {
	cerr := DefaultError(f)
	body := httpError{Code: cerr.Code().String(), Message: cerr.Message(), Reason: f.Reason.String()}
	for _, d := range cerr.Details() {
		detail := httpErrorDetail{Type: d.Type(), Value: base64.RawStdEncoding.EncodeToString(d.Bytes())}
		if msg, err := d.Value(); err == nil {
			if debug, err := protojson.Marshal(msg); err == nil {
				detail.Debug = debug
			}
		}
		body.Details = append(body.Details, detail)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("WWW-Authenticate", wwwAuthenticate(m.v.HeaderScheme(), f))
	w.WriteHeader(httpStatus(cerr.Code()))
	if err := json.NewEncoder(w).Encode(body); err != nil {
		return // the client is gone; there is no one left to tell
	}
}

// httpStatus is the HTTP status for the codes of the failures an
// [HTTPMiddleware] answers ([Reason.Code]).
func httpStatus(c connect.Code) int {
	switch c {
	case connect.CodePermissionDenied:
		return http.StatusForbidden
	case connect.CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusUnauthorized
	}
}
