package exampleapp

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"
)

// corsMaxAge is how long, in seconds, a browser may cache a preflight answer.
const corsMaxAge = 2 * 60 * 60

// WithCORS lets browser pages on origins call the API from another origin
// (for example a page on a Vite dev server at http://127.0.0.1:5173).
//
// With no origins it returns api unchanged: no CORS headers at all, so only
// pages served by this server (same origin) can read its answers. That is
// also why the empty case must not reach rs/cors, which treats an empty
// AllowedOrigins as "*".
//
// Otherwise, done with connectrpc.com/cors and rs/cors:
//   - preflights (OPTIONS) are answered here, before any Connect handler, so
//     they need no token: the browser cannot send one with a preflight;
//   - the request headers of Connect and gRPC-web (connectcors.AllowedHeaders)
//     and Authorization, which carries the bearer token, are allowed;
//   - the gRPC-web status headers (connectcors.ExposedHeaders) and
//     WWW-Authenticate are exposed, so a page can read why a call failed: a
//     gRPC-web error without a body travels in those headers only;
//   - credentials (cookies) are not allowed: the token travels in the
//     Authorization header, which needs no credentialed CORS.
func WithCORS(api http.Handler, origins []string) http.Handler {
	if len(origins) == 0 {
		return api
	}
	policy := cors.New(cors.Options{
		AllowedOrigins: slices.Clone(origins),
		AllowedMethods: connectcors.AllowedMethods(),
		AllowedHeaders: append(connectcors.AllowedHeaders(), "Authorization"),
		ExposedHeaders: append(connectcors.ExposedHeaders(), "WWW-Authenticate"),
		MaxAge:         corsMaxAge,
	})
	return policy.Handler(api)
}

// OriginsFlag is the value of -cors-origin: repeatable, and each value may
// list several origins separated by commas.
type OriginsFlag []string

// String returns the origins, comma-separated.
func (o *OriginsFlag) String() string {
	if o == nil {
		return ""
	}
	return strings.Join(*o, ",")
}

// Set adds the origins in value, each checked by parseOrigin.
func (o *OriginsFlag) Set(value string) error {
	for part := range strings.SplitSeq(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		origin, err := parseOrigin(part)
		if err != nil {
			return err
		}
		if !slices.Contains(*o, origin) {
			*o = append(*o, origin)
		}
	}
	return nil
}

// parseOrigin accepts an exact web origin, scheme://host[:port], and returns
// it as a browser sends it in the Origin header (lowercase, default port
// left out). Wildcards are refused: name each origin that may call the API.
func parseOrigin(origin string) (string, error) {
	bad := func(why string) error {
		return fmt.Errorf("CORS origin %q: %s; want an origin like http://127.0.0.1:5173", origin, why)
	}
	if strings.Contains(origin, "*") {
		return "", bad("wildcards are not accepted")
	}
	parsed, err := url.Parse(origin)
	if err != nil {
		return "", bad("not a URL")
	}
	scheme := strings.ToLower(parsed.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", bad("scheme must be http or https")
	case parsed.Opaque != "" || parsed.Host == "" || parsed.Hostname() == "":
		return "", bad("no host")
	case parsed.User != nil:
		return "", bad("user info is not part of an origin")
	case (parsed.Path != "" && parsed.Path != "/") || parsed.RawQuery != "" || parsed.ForceQuery || parsed.Fragment != "":
		return "", bad("an origin has no path, query or fragment")
	}
	host := strings.ToLower(parsed.Host)
	if port := parsed.Port(); (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		host = strings.ToLower(parsed.Hostname())
		if strings.Contains(host, ":") {
			host = "[" + host + "]" // IPv6
		}
	}
	return scheme + "://" + host, nil
}
