package connectjwt_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/connectjwt/connectjwt"
)

// TestStreamContextEndsSilentRead: under StreamDeadlines, a handler that
// uses Validator.StreamContext and is blocked reading from a client that
// sends nothing is released when the token expires (not a second later,
// when the HTTP deadlines set from the expiry would fire), its context's
// cause is the expired failure, and it can still write the answer that
// ends the stream.
func TestStreamContextEndsSilentRead(t *testing.T) {
	secret := bytes.Repeat([]byte("s"), 32)
	// exp is in whole seconds: the token expires 0.5 to 1.5 s from now.
	const lifetime = 1500 * time.Millisecond
	shifted := func() time.Time { return time.Now().Add(-connectjwt.DefaultAccessTokenTTL + lifetime) }
	is, err := connectjwt.NewIssuer(connectjwt.WithKey(connectjwt.HMACKey(secret)), connectjwt.WithClock(shifted))
	if err != nil {
		t.Fatal(err)
	}
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey(secret)))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		refused  *connectjwt.Failure
		afterExp time.Duration
		readErr  error
		cause    error
	}
	results := make(chan result, 1)
	srv := httptest.NewUnstartedServer(connectjwt.StreamDeadlines(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, f := v.Authenticate(r.Context(), connectjwt.Call{Procedure: "/p.S/Chat", Header: r.Header["Authorization"]})
		if f != nil {
			http.Error(w, f.Error(), http.StatusUnauthorized)
			results <- result{refused: f}
			return
		}
		claims, _ := connectjwt.ClaimsFromContext(ctx)
		sctx, cancel := v.StreamContext(ctx)
		defer cancel()
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		_, rerr := r.Body.Read(make([]byte, 1)) // the client sends nothing
		res := result{afterExp: time.Since(claims.ExpiresAt), readErr: rerr, cause: context.Cause(sctx)}
		_, _ = io.WriteString(w, "expired")
		results <- res
	})))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	tok, _, err := is.CreateAccessToken(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	body, silent := io.Pipe()
	defer silent.Close()
	ctx, cancelReq := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelReq()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/p.S/Chat", body)
	req.Header.Set("Content-Type", "application/connect+proto")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)

	res := <-results
	if res.refused != nil {
		t.Fatalf("token refused: %v", res.refused)
	}
	if res.readErr == nil {
		t.Error("the read returned no error")
	}
	// The deadlines StreamDeadlines sets from the expiry alone would
	// release the read a second after it.
	if res.afterExp > 800*time.Millisecond {
		t.Errorf("read released %v after the expiry, want at once", res.afterExp)
	}
	if !errors.Is(res.cause, connectjwt.ErrExpired) {
		t.Errorf("cause %v, want ErrExpired", res.cause)
	}
	if string(got) != "expired" {
		t.Errorf("client read %q, want the handler's answer", got)
	}
}
