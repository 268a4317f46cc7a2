package exampleapp

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"

	"github.com/connectjwt/connectjwt"
)

// refusalLog reports every refused call to w through connectjwt's slog
// adapter (one line per refusal with the procedure and the reason, never
// the token), so the reasons show while trying the curl walkthrough. With
// a nil w nothing is reported.
func refusalLog(w io.Writer) connectjwt.ValidatorOption {
	if w == nil {
		return connectjwt.WithObserver(nil)
	}
	return connectjwt.WithObserver(connectjwt.NewSlogObserver(slog.New(slog.NewTextHandler(w, nil))))
}

// mountWhoami serves GET /whoami, a plain net/http route next to the
// Connect handlers, behind connectjwt's net/http middleware: with a valid
// access token it answers {"identity": "..."}; without one, 401 with
// WWW-Authenticate and a JSON error carrying the reason.
//
//	curl -sS http://127.0.0.1:8080/whoami -H "Authorization: Bearer $TOKEN"
func mountWhoami(mux *http.ServeMux, v *connectjwt.Validator) error {
	m, err := connectjwt.NewHTTPMiddleware(v)
	if err != nil {
		return err
	}
	mux.Handle("GET /whoami", m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := connectjwt.IdentityFromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Identity string `json:"identity"`
		}{id})
	})))
	return nil
}
