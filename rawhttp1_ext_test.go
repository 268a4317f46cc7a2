package connectjwt_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"google.golang.org/protobuf/proto"
)

// rawHTTP1 sends a POST with a JSON body "{}" and the given extra header
// lines (each ending in \r\n) on a fresh TCP connection, and returns the
// status, body and headers.
func rawHTTP1(tb testing.TB, baseURL, path, headerLines string) (int, []byte, http.Header) {
	tb.Helper()
	addr := strings.TrimPrefix(baseURL, "http://")
	conn, err := (&net.Dialer{Timeout: callTimeout}).DialContext(context.Background(), "tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(callTimeout))
	req := "POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n" +
		headerLines + "\r\n{}"
	if _, err := io.WriteString(conn, req); err != nil {
		tb.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, body, res.Header
}

// connectBodyAuthError decodes the AuthError detail of a Connect unary
// error body.
func connectBodyAuthError(tb testing.TB, status int, body []byte) *connectjwtv1.AuthError {
	tb.Helper()
	var e struct {
		Code    string `json:"code"`
		Details []struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"details"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		tb.Fatalf("status %d, body %q is not a Connect error", status, body)
	}
	for _, d := range e.Details {
		if d.Type != "connectjwt.v1.AuthError" {
			continue
		}
		b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(d.Value, "="))
		if err != nil {
			tb.Fatalf("detail value: %v", err)
		}
		ae := &connectjwtv1.AuthError{}
		if err := proto.Unmarshal(b, ae); err != nil {
			tb.Fatal(err)
		}
		return ae
	}
	tb.Fatalf("status %d, no AuthError in %q", status, body)
	return nil
}
