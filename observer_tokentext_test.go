package connectjwt

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRefusalLogsQuoteNoTokenContent: refusals of tokens whose header or
// claims are malformed in every way the parser distinguishes (wrong types,
// bad JSON, unknown members, a bad issuer or audience) log the reason but
// never the values the token carried, even with a valid signature. (The
// issuer, kid and alg of a token whose signature verified are logged by
// design; none of the tokens here gets that far with the marker in them.)
func TestRefusalLogsQuoteNoTokenContent(t *testing.T) {
	const mark = "MARKf00d"
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, v := observedValidator(t, NewSlogObserver(logger), time.Now)
	exp := time.Now().Add(time.Hour).Unix()
	enc := base64.RawURLEncoding.EncodeToString
	sign := func(header, payload string) string {
		in := enc([]byte(header)) + "." + enc([]byte(payload))
		mac := hmac.New(sha256.New, observerSecret())
		mac.Write([]byte(in))
		return in + "." + enc(mac.Sum(nil))
	}
	hs := `{"alg":"HS256","typ":"at+jwt"}`
	claims := func(extra string) string {
		return `{"iss":"https://issuer.test","sub":"alice","exp":` + strconv.FormatInt(exp, 10) + extra + `}`
	}
	tokens := []string{
		sign(`{"alg":"HS256","kid":"`+mark+`"}`, claims("")),
		sign(`{"alg":"HS256","kid":`+"7"+`,"x":"`+mark+`"}`, claims("")),
		sign(`{"alg":"`+mark+`"}`, claims("")),
		sign(`{"alg":"HS256","crit":["`+mark+`"]}`, claims("")),
		sign(`{"alg":"HS256","typ":"`+mark+`"}`, claims("")),
		sign(`{"alg":"HS256",`+mark+`}`, claims("")),
		sign(hs, `{"iss":"https://issuer.test","sub":"alice","exp":"`+mark+`"}`),
		sign(hs, claims(`,"aud":"`+mark+`"`)),
		sign(hs, claims(`,"nbf":"`+mark+`"`)),
		sign(hs, claims(`,"sub":["`+mark+`"]`)),
		sign(hs, claims(`,"scope":{"`+mark+`":1}`)),
		sign(hs, `{"iss":"https://issuer.test","sub":"`+mark+`","exp":1}`),
		sign(hs, `{"iss":"https://issuer.test",`+mark+`}`),
		sign(hs, `["`+mark+`"]`),
		sign(hs, claims(`}`+mark)),
		enc([]byte(hs)) + "." + enc([]byte(claims(""))) + "." + mark,
		mark,
	}
	for _, tok := range tokens {
		if _, f := v.Authenticate(context.Background(), Call{Procedure: "/p.S/M", Header: []string{"Bearer " + tok}}); f == nil {
			t.Errorf("token %q accepted", tok)
		}
	}
	out := buf.String()
	if n := strings.Count(out, "call refused"); n != len(tokens) {
		t.Fatalf("%d refusals logged, want %d:\n%s", n, len(tokens), out)
	}
	if strings.Contains(out, mark) {
		t.Errorf("log quotes the token's content:\n%s", out)
	}
}
