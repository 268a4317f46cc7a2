package main

import (
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/internal/exampleapp"
)

// receiveAll drains a ProtectedStream and returns the sequence numbers seen,
// the time each arrived and the stream's error.
func receiveAll(t *testing.T, c clients, token string, msg *examplev1.ProtectedStreamRequest) ([]int32, []time.Time, error) {
	t.Helper()
	req := connect.NewRequest(msg)
	setBearer(req.Header(), token)
	stream, err := c.protected.ProtectedStream(callCtx(t), req)
	if err != nil {
		return nil, nil, err
	}
	defer stream.Close()
	var seqs []int32
	var times []time.Time
	for stream.Receive() {
		seqs = append(seqs, stream.Msg().GetSequence())
		times = append(times, time.Now())
	}
	return seqs, times, stream.Err()
}

func TestProtectedStreamPacing(t *testing.T) {
	s := startTestServer(t)
	hc := h2cClient(t)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c := newClients(hc, s.baseURL, p)
			token := mustLogin(t, c).GetAccessToken()
			const interval = 300 * time.Millisecond
			start := time.Now()
			seqs, times, err := receiveAll(t, c, token, &examplev1.ProtectedStreamRequest{Count: 4, Interval: durationpb.New(interval)})
			if err != nil {
				t.Fatalf("ProtectedStream: %v", err)
			}
			if len(seqs) != 4 {
				t.Fatalf("got %d messages %v, want 4", len(seqs), seqs)
			}
			for i, seq := range seqs {
				if seq != int32(i+1) {
					t.Errorf("message %d has sequence %d", i, seq)
				}
			}
			// The first message comes at once, each next one an interval later.
			if d := times[0].Sub(start); d > interval {
				t.Errorf("first message after %s, want at once", d)
			}
			// Measured from the start, so a late read on a loaded machine
			// cannot make the next message look early.
			for i := 1; i < len(times); i++ {
				if d := times[i].Sub(start); d < time.Duration(i)*interval*9/10 {
					t.Errorf("message %d came %s after the start, want at least %s", i+1, d, time.Duration(i)*interval)
				}
			}
		})
	}
}

func TestProtectedStreamCounts(t *testing.T) {
	s := startTestServer(t)
	c := newClients(h2cClient(t), s.baseURL, protocols[0])
	token := mustLogin(t, c).GetAccessToken()
	for _, tc := range []struct {
		count int32
		want  int
	}{{0, exampleapp.DefaultGreetings}, {1, 1}, {exampleapp.MaxGreetings, exampleapp.MaxGreetings}} {
		seqs, _, err := receiveAll(t, c, token, &examplev1.ProtectedStreamRequest{Count: tc.count})
		if err != nil || len(seqs) != tc.want {
			t.Errorf("count %d: %d messages, %v; want %d", tc.count, len(seqs), err, tc.want)
		}
	}
}

func TestProtectedStreamInvalidArgument(t *testing.T) {
	s := startTestServer(t)
	hc := h2cClient(t)
	tests := []struct {
		name string
		req  *examplev1.ProtectedStreamRequest
	}{
		{"negative count", &examplev1.ProtectedStreamRequest{Count: -1}},
		{"count over max", &examplev1.ProtectedStreamRequest{Count: exampleapp.MaxGreetings + 1}},
		{"negative interval", &examplev1.ProtectedStreamRequest{Interval: durationpb.New(-time.Second)}},
		{"interval over max", &examplev1.ProtectedStreamRequest{Interval: durationpb.New(exampleapp.MaxInterval + time.Millisecond)}},
		{"malformed interval", &examplev1.ProtectedStreamRequest{Interval: &durationpb.Duration{Seconds: 1, Nanos: -1}}},
	}
	for _, p := range protocols {
		c := newClients(hc, s.baseURL, p)
		token := mustLogin(t, c).GetAccessToken()
		for _, tc := range tests {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				seqs, _, err := receiveAll(t, c, token, tc.req)
				if connect.CodeOf(err) != connect.CodeInvalidArgument {
					t.Errorf("error = %v, want invalid_argument", err)
				}
				if len(seqs) != 0 {
					t.Errorf("got %d messages before the error", len(seqs))
				}
			})
		}
	}
}

// A paced stream opened with a short-lived token ends at the token's expiry
// with the example's expired error, long before its last message.
func TestProtectedStreamEndsAtExpiry(t *testing.T) {
	t.Setenv("JWT_SECRET_KEY", testSecret)
	t.Setenv("JWT_ACCESS_TTL", "2s")
	s := startServer(t)
	hc := h2cClient(t)
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c := newClients(hc, s.baseURL, p)
			tokens := mustLogin(t, c)
			exp := tokens.GetAccessTokenExpiresAt().AsTime()
			seqs, _, err := receiveAll(t, c, tokens.GetAccessToken(), &examplev1.ProtectedStreamRequest{
				Count:    exampleapp.MaxGreetings,
				Interval: durationpb.New(100 * time.Millisecond),
			})
			ended := time.Now()
			wantExpired(t, err)
			if len(seqs) == 0 || len(seqs) >= exampleapp.MaxGreetings {
				t.Errorf("got %d messages, want some but not all", len(seqs))
			}
			if ended.Before(exp) || ended.After(exp.Add(time.Second)) {
				t.Errorf("stream ended at %s, token expired at %s", ended.Format(time.StampMilli), exp.Format(time.StampMilli))
			}
		})
	}
}
