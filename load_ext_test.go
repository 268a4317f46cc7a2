package connectjwt_test

// A bounded loopback load test: concurrent clients across the three
// protocols and unary, server-stream and bidi calls, mixing valid, expired,
// forged, wrong-type and missing tokens, against two servers (with and
// without the verified-token cache). Every decision must be right, the
// handler must run exactly for the accepted calls, and the goroutine count
// must settle back once the streams end. It stops by itself (a fixed
// number of calls and an overall deadline) and is sized to finish in a few
// seconds under -race on 2 cores.

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
)

func TestLoadMixedTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const (
		clients        = 32
		callsPerClient = 24
	)
	base := runtime.NumGoroutine()
	start := time.Now()
	t.Run("load", func(t *testing.T) {
		now := time.Now()
		k := testKeys()
		type tokenKind struct {
			name   string
			header string // Authorization value; "" sends none
			want   connectjwt.Reason
		}
		valid := claimsAt(now, time.Hour)
		kinds := []tokenKind{
			{"valid", "Bearer " + mint(t, tokenSpec{Claims: valid}), connectjwt.ReasonUnspecified},
			{"valid-2", "Bearer " + mint(t, tokenSpec{Claims: jwt.MapClaims{"sub": testSubject, "iss": testIssuer, "aud": []string{testAudience}, "exp": now.Add(time.Hour).Unix(), "jti": "2"}}), connectjwt.ReasonUnspecified},
			{"expired", "Bearer " + mint(t, tokenSpec{Claims: claimsAt(now.Add(-2*time.Hour), time.Hour)}), connectjwt.ReasonExpired},
			{"forged", "Bearer " + mint(t, tokenSpec{Method: jwt.SigningMethodHS256, Key: k.otherHS256, Claims: valid}), connectjwt.ReasonInvalidSignature},
			{"forged-expired", "Bearer " + swapSignature(mint(t, tokenSpec{Claims: claimsAt(now.Add(-2*time.Hour), time.Hour)}), mint(t, tokenSpec{Claims: valid})), connectjwt.ReasonInvalidSignature},
			{"alg-none", "Bearer " + mint(t, tokenSpec{Method: jwt.SigningMethodNone, Key: jwt.UnsafeAllowNoneSignatureType, Claims: valid}), connectjwt.ReasonInvalidAlgorithm},
			{"refresh", "Bearer " + mint(t, tokenSpec{Claims: valid, Header: map[string]any{"typ": "refresh+jwt"}}), connectjwt.ReasonWrongTokenType},
			{"missing", "", connectjwt.ReasonMissing},
		}
		servers := []*testServer{
			startServer(t, newInterceptor(t), mountGate, nil),
			startServer(t, newInterceptor(t, connectjwt.WithCacheSize(0)), mountInterceptor, nil),
		}
		loadShapes := []shape{unary, serverStream, unary, bidiStream}

		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		type key struct {
			kind string
			ok   bool
		}
		var mu sync.Mutex
		counts := map[key]int{}
		var wrong []string
		accepted := make([]int64, len(servers))
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				srvIdx := c % len(servers)
				s := servers[srvIdx]
				p := protocols()[c%len(protocols())]
				client := s.client(p)
				for i := range callsPerClient {
					if ctx.Err() != nil {
						return
					}
					kind := kinds[(c+i)%len(kinds)]
					sh := loadShapes[(c/3+i)%len(loadShapes)]
					callCtx := ctx
					if kind.header != "" {
						callCtx = withHeaders(ctx, map[string][]string{"Authorization": {kind.header}})
					}
					ids, err := call(callCtx, client, sh)
					var problem string
					switch {
					case kind.want == connectjwt.ReasonUnspecified:
						if err != nil {
							problem = fmt.Sprintf("error %v", err)
						} else {
							for _, id := range ids {
								if id != testSubject {
									problem = "identity " + id
								}
							}
						}
					case err == nil:
						problem = "accepted"
					case connect.CodeOf(err) != connect.CodeUnauthenticated || connectjwt.ReasonOf(err) != kind.want:
						problem = fmt.Sprintf("got %v / %v", connect.CodeOf(err), connectjwt.ReasonOf(err))
					}
					mu.Lock()
					counts[key{kind.name, problem == ""}]++
					if problem == "" && kind.want == connectjwt.ReasonUnspecified {
						accepted[srvIdx]++
					}
					if problem != "" && len(wrong) < 20 {
						wrong = append(wrong, fmt.Sprintf("%s %s %s: %s", p.name, sh, kind.name, problem))
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ctx.Err() != nil {
			t.Fatalf("load test hit its deadline after %v", time.Since(start))
		}
		total := 0
		for k, n := range counts {
			total += n
			if !k.ok {
				t.Errorf("%s: %d wrong decisions", k.kind, n)
			}
		}
		for _, w := range wrong {
			t.Error(w)
		}
		if total != clients*callsPerClient {
			t.Errorf("%d calls made, want %d", total, clients*callsPerClient)
		}
		// The handler ran exactly for the accepted calls.
		for i, s := range servers {
			if got := s.svc.calls.Load(); got != accepted[i] {
				t.Errorf("server %d: handler ran %d times for %d accepted calls", i, got, accepted[i])
			}
		}
		t.Logf("%d calls in %v: %v", total, time.Since(start), counts)
	})
	settleGoroutines(t, base, 2, 5*time.Second)
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("load test took %v", d)
	}
}
