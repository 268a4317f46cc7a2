package connectv2_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	connectv1 "connectrpc.com/connect"
	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectv2/example/gen/example/v1/examplev1connect"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	examplev1connectv1 "github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
)

type v1Service struct {
	examplev1connectv1.UnimplementedProtectedServiceHandler
}

func (v1Service) Protected(ctx context.Context, _ *connectv1.Request[examplev1.ProtectedRequest]) (*connectv1.Response[examplev1.ProtectedResponse], error) {
	return connectv1.NewResponse(&examplev1.ProtectedResponse{Hello: "world", Identity: identity(ctx)}), nil
}

// TestSameAnswersAsV1 serves the v1 and the v2 front end from ONE
// Validator and checks that every token gets the same code and reason.
func TestSameAnswersAsV1(t *testing.T) {
	v := newValidator(t, connectjwt.WithClaimsCheck(func(_ context.Context, _ string, c *connectjwt.Claims) error {
		if c.Identity == "mallory" {
			return connectjwt.ErrAccessDenied
		}
		return nil
	}))
	v2 := startServer(t, v)

	mux := http.NewServeMux()
	mux.Handle(examplev1connectv1.NewProtectedServiceHandler(v1Service{}, connectjwt.NewInterceptor(v).HandlerOption()))
	srv1 := httptest.NewUnstartedServer(mux)
	srv1.EnableHTTP2 = true
	srv1.StartTLS()
	t.Cleanup(srv1.Close)

	good := mint(t, time.Hour, nil)
	parts := strings.Split(good, ".")
	for _, tc := range []struct {
		name   string
		values []string
	}{
		{"valid", []string{"Bearer " + good}},
		{"missing", nil},
		{"empty", []string{""}},
		{"other scheme", []string{"Basic " + good}},
		{"expired", []string{"Bearer " + mint(t, -time.Minute, nil)}},
		{"not yet valid", []string{"Bearer " + mint(t, time.Hour, func(tk *jwt.Token) { mapClaims(tk)["nbf"] = time.Now().Add(time.Hour).Unix() })}},
		{"forged", []string{"Bearer " + mint(t, time.Hour, func(tk *jwt.Token) { tk.Header["_key"] = otherSecret })}},
		{"refresh as access", []string{"Bearer " + mint(t, time.Hour, func(tk *jwt.Token) { tk.Header["typ"] = connectjwt.DefaultRefreshTokenType })}},
		{"no exp", []string{"Bearer " + mint(t, time.Hour, func(tk *jwt.Token) { delete(mapClaims(tk), "exp") })}},
		{"access denied", []string{"Bearer " + mint(t, time.Hour, func(tk *jwt.Token) { mapClaims(tk)["sub"] = "mallory" })}},
		{"garbage", []string{"Bearer not-a-jwt"}},
		{"oversize", []string{"Bearer " + strings.Repeat("a", 10<<10)}},
		{"two headers", []string{"Bearer " + good, "Bearer " + good}},
		{"truncated", []string{"Bearer " + parts[0] + "." + parts[1]}},
	} {
		for _, p := range protocols {
			t.Run(tc.name+"/"+p.name, func(t *testing.T) {
				c2 := examplev1connect.NewProtectedServiceClient(connect.NewClient(connecthttp.NewTransport(v2.client, v2.url, p.opts...), withHeader(tc.values...)))
				ctx2, info := connect.NewClientContext(t.Context())
				_, err2 := c2.Protected(ctx2, &examplev1.ProtectedRequest{})
				code2, reason2 := reasonOf(t, err2)

				var opts []connectv1.ClientOption
				switch p.name {
				case "grpc":
					opts = append(opts, connectv1.WithGRPC())
				case "grpcweb":
					opts = append(opts, connectv1.WithGRPCWeb())
				}
				c1 := examplev1connectv1.NewProtectedServiceClient(srv1.Client(), srv1.URL, opts...)
				req := connectv1.NewRequest(&examplev1.ProtectedRequest{})
				for _, val := range tc.values {
					req.Header().Add("Authorization", val)
				}
				_, err1 := c1.Protected(t.Context(), req)
				code1 := connectv1.CodeOf(err1)
				if err1 == nil {
					code1 = 0
				}
				ae1, _ := connectjwt.AuthErrorOf(err1)
				if uint32(code1) != uint32(code2) || ae1.GetReason() != reason2 {
					t.Errorf("v1: %v %v (%v); v2: %v %v (%v)", code1, ae1.GetReason(), err1, code2, reason2, err2)
				}
				var challenge1 string
				if ce1, ok := errors.AsType[*connectv1.Error](err1); ok {
					challenge1 = ce1.Meta().Get("Www-Authenticate")
				}
				if challenge2 := info.ResponseHeader().Get("Www-Authenticate"); challenge1 != challenge2 {
					t.Errorf("WWW-Authenticate: v1 %q, v2 %q", challenge1, challenge2)
				}
				if tc.name == "valid" && (err1 != nil || err2 != nil) {
					t.Errorf("valid token refused: %v / %v", err1, err2)
				}
			})
		}
	}
}

// mapClaims returns the claims of a token mint built (always jwt.MapClaims).
func mapClaims(tk *jwt.Token) jwt.MapClaims {
	claims, _ := tk.Claims.(jwt.MapClaims)
	return claims
}
