package connectjwt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/connectjwt/connectjwt"
)

// A plain route next to Connect handlers, protected by the same validator.
func ExampleNewHTTPMiddleware() {
	key := connectjwt.HMACKey(bytes.Repeat([]byte("example secret "), 3))
	issuer, err := connectjwt.NewIssuer(connectjwt.WithKey(key))
	if err != nil {
		panic(err)
	}
	v, err := connectjwt.NewValidator(connectjwt.WithKey(key))
	if err != nil {
		panic(err)
	}
	mw, err := connectjwt.NewHTTPMiddleware(v, connectjwt.PublicPath("/healthz"))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/whoami", mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := connectjwt.IdentityFromContext(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]string{"identity": id})
	})))
	base, client, stop := serve(mux)
	defer stop()

	get := func(token string) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/whoami", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var e struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(body, &e)
		fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"), e.Reason, strings.Contains(string(body), `"identity":"alice"`))
	}
	get("")
	tok, _, err := issuer.CreateAccessToken(context.Background(), "alice")
	if err != nil {
		panic(err)
	}
	get(tok)
	// Output:
	// 401 Bearer REASON_MISSING false
	// 200   true
}

// Refusals logged through log/slog; the record never holds the token.
func ExampleNewSlogObserver() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		// Drop the time so the output is stable.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{}
			}
			return a
		},
	}))
	obs := connectjwt.NewSlogObserver(logger, connectjwt.SlogRefusalLevel(slog.LevelWarn))
	obs.ObserveDecision(context.Background(), connectjwt.Decision{
		Procedure: "/example.v1.ProtectedService/Protected",
		Outcome:   connectjwt.OutcomeRefused,
		Reason:    connectjwt.ReasonOf(connectjwt.ErrMissing),
		Failure:   &connectjwt.Failure{Reason: connectjwt.ReasonOf(connectjwt.ErrMissing), Err: connectjwt.ErrMissing},
	})
	// Output:
	// level=WARN msg="connectjwt: call refused" procedure=/example.v1.ProtectedService/Protected outcome=refused reason=REASON_MISSING error="missing authorization token" cache=unused
}
