package connectjwt_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/connectjwt/connectjwt"
)

// Messages say what is wrong (issue 16 item 7): a token over the size cap,
// by Validate and from a header; never a piece of the token.
func TestOversizeMessages(t *testing.T) {
	v, err := connectjwt.NewValidator(connectjwt.WithKey(connectjwt.HMACKey([]byte("0123456789abcdef0123456789abcdef"))))
	if err != nil {
		t.Fatal(err)
	}
	big := "eyJ" + strings.Repeat("Q", connectjwt.DefaultMaxTokenBytes) + ".e30.c2ln"
	_, err = v.Validate(context.Background(), big)
	if !errors.Is(err, connectjwt.ErrMalformed) || !strings.Contains(err.Error(), "token larger than 8192 bytes") || strings.Contains(err.Error(), "QQQ") {
		t.Errorf("Validate: %v", err)
	}
	_, err = v.ValidateHeader(context.Background(), http.Header{"Authorization": {"Bearer " + big}})
	if !errors.Is(err, connectjwt.ErrMalformed) || !strings.Contains(err.Error(), "Authorization header larger than 8192 bytes") {
		t.Errorf("ValidateHeader: %v", err)
	}
}
