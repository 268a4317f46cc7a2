package connectjwt

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// A syntactically valid compact JWS (the header extractor never decodes).
const shapeToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"

func TestTokenFromHeader(t *testing.T) {
	const name = "Authorization"
	long := strings.Repeat("a", 4000) + "." + strings.Repeat("b", 4000) + "." + strings.Repeat("c", 4000)
	// A value of exactly maxBytes passes the size cap.
	atCap := "Bearer " + strings.Repeat("a", 100) + "." + strings.Repeat("b", 100) + "."
	atCap += strings.Repeat("c", 8192-len(atCap))

	tests := []struct {
		name     string
		values   []string // nil: no header at all
		scheme   string
		maxBytes int
		want     string // expected token when wantErr is nil
		wantErr  error  // sentinel; nil means success
		anyErr   bool   // only require an error (behaviour left open)
		// badShape is what the extractor returns for a value whose scheme
		// and size are right but whose token is not a compact JWS; the
		// validator's alphabet check refuses it as malformed.
		badShape string
	}{
		{name: "no header", values: nil, wantErr: ErrMissing},
		{name: "two headers", values: []string{"Bearer " + shapeToken, "Bearer " + shapeToken}, wantErr: ErrMalformed},
		{name: "two headers one empty", values: []string{"", "Bearer " + shapeToken}, wantErr: ErrMalformed},
		{name: "empty value", values: []string{""}, wantErr: ErrMissing},
		{name: "other scheme", values: []string{"Basic abc"}, wantErr: ErrMissing},
		{name: "other scheme with jwt", values: []string{"Basic " + shapeToken}, wantErr: ErrMissing},
		{name: "scheme prefix without space", values: []string{"Bearer" + shapeToken}, wantErr: ErrMissing},
		{name: "longer scheme", values: []string{"BearerX " + shapeToken}, wantErr: ErrMissing},
		{name: "short value", values: []string{"Bea"}, wantErr: ErrMissing},
		{name: "non-ascii scheme", values: []string{"Beärer " + shapeToken}, wantErr: ErrMissing},
		{name: "tab separator", values: []string{"Bearer\t" + shapeToken}, anyErr: true},
		{name: "canonical", values: []string{"Bearer " + shapeToken}, want: shapeToken},
		{name: "lower case scheme", values: []string{"bearer " + shapeToken}, want: shapeToken},
		{name: "upper case scheme", values: []string{"BEARER " + shapeToken}, want: shapeToken},
		{name: "several spaces", values: []string{"Bearer    " + shapeToken}, want: shapeToken},
		{name: "scheme alone", values: []string{"Bearer"}, wantErr: ErrMalformed},
		{name: "scheme and space", values: []string{"Bearer "}, wantErr: ErrMalformed},
		{name: "scheme and spaces", values: []string{"Bearer     "}, wantErr: ErrMalformed},
		{name: "trailing space", values: []string{"Bearer " + shapeToken + " "}, want: shapeToken},
		{name: "leading space and tab", values: []string{" \tBearer " + shapeToken}, want: shapeToken},
		{name: "newline inside", values: []string{"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIi\nOiJhIn0.c2ln"}, badShape: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIi\nOiJhIn0.c2ln"},
		{name: "trailing newline", values: []string{"Bearer " + shapeToken + "\n"}, badShape: shapeToken + "\n"},
		{name: "trailing CRLF", values: []string{"Bearer " + shapeToken + "\r\n"}, badShape: shapeToken + "\r\n"},
		{name: "padding", values: []string{"Bearer " + shapeToken + "="}, badShape: shapeToken + "="},
		{name: "padding in payload", values: []string{"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0=.c2ln"}, badShape: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0=.c2ln"},
		{name: "standard base64 alphabet", values: []string{"Bearer ab+c.de/f.ghi"}, badShape: "ab+c.de/f.ghi"},
		{name: "three dots", values: []string{"Bearer a.b.c.d"}, badShape: "a.b.c.d"},
		{name: "one dot", values: []string{"Bearer a.b"}, badShape: "a.b"},
		{name: "no dot", values: []string{"Bearer abc"}, badShape: "abc"},
		{name: "empty header segment", values: []string{"Bearer .b.c"}, badShape: ".b.c"},
		{name: "empty payload segment", values: []string{"Bearer a..c"}, badShape: "a..c"},
		{name: "empty signature allowed here", values: []string{"Bearer a.b."}, want: "a.b."},
		{name: "oversize", values: []string{"Bearer " + long}, wantErr: ErrMalformed},
		{name: "at size cap", values: []string{atCap}, want: strings.TrimPrefix(atCap, "Bearer ")},
		{name: "one over size cap", values: []string{atCap + "c"}, wantErr: ErrMalformed},
		{name: "small cap", values: []string{"Bearer " + shapeToken}, maxBytes: 16, wantErr: ErrMalformed},
		{name: "bare scheme token", scheme: "-", values: []string{shapeToken}, want: shapeToken},
		{name: "bare scheme rejects Bearer prefix", scheme: "-", values: []string{"Bearer " + shapeToken}, badShape: "Bearer " + shapeToken},
		{name: "bare scheme empty", scheme: "-", values: []string{""}, wantErr: ErrMissing},
		{name: "custom scheme", scheme: "JWT", values: []string{"jwt " + shapeToken}, want: shapeToken},
		{name: "custom scheme refuses Bearer", scheme: "JWT", values: []string{"Bearer " + shapeToken}, wantErr: ErrMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.values != nil {
				h[name] = tt.values
			}
			scheme := tt.scheme
			switch scheme {
			case "":
				scheme = "Bearer"
			case "-":
				scheme = ""
			}
			maxBytes := tt.maxBytes
			if maxBytes == 0 {
				maxBytes = DefaultMaxTokenBytes
			}
			got, err := tokenFromHeader(h[name], name, scheme, maxBytes)
			switch {
			case tt.anyErr:
				if err == nil {
					t.Fatalf("tokenFromHeader accepted %q as %q", tt.values, got)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if got != "" {
					t.Errorf("token = %q on error", got)
				}
			default:
				want := tt.want
				if tt.badShape != "" {
					want = tt.badShape
				}
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if got != want {
					t.Fatalf("token = %q, want %q", got, want)
				}
				if ok := compactJWS(got); ok != (tt.badShape == "") {
					t.Fatalf("compactJWS(%q) = %v", got, ok)
				}
			}

			// The whole header path, with and without the cache (whose
			// lookup comes before the alphabet check).
			for _, cache := range []ValidatorOption{WithCacheSize(DefaultCacheSize), WithCacheSize(0)} {
				v, verr := NewValidator(WithKey(HMACKey([]byte(strings.Repeat("k", 32)))), WithHeader(name, scheme), WithMaxTokenSize(maxBytes), cache)
				if verr != nil {
					t.Fatal(verr)
				}
				_, verr = v.ValidateHeader(context.Background(), h)
				switch {
				case tt.anyErr:
					if verr == nil {
						t.Fatal("ValidateHeader accepted it")
					}
				case tt.wantErr != nil:
					if !errors.Is(verr, tt.wantErr) {
						t.Fatalf("ValidateHeader: %v, want %v", verr, tt.wantErr)
					}
				case tt.badShape != "":
					if !errors.Is(verr, ErrMalformed) {
						t.Fatalf("ValidateHeader: %v, want %v", verr, ErrMalformed)
					}
				default: // the right shape, but not a token anyone signed
					if verr == nil || errors.Is(verr, ErrMissing) {
						t.Fatalf("ValidateHeader: %v", verr)
					}
				}
			}
			if err != nil {
				for _, v := range tt.values {
					tok := strings.TrimSpace(strings.TrimPrefix(v, "Bearer "))
					if strings.Contains(tok, ".") && strings.Contains(err.Error(), tok) {
						t.Errorf("error %q contains the header value", err)
					}
				}
			}
		})
	}
}

// BenchmarkCompactJWS is the alphabet check every call's token goes through.
func BenchmarkCompactJWS(b *testing.B) {
	// The length of a typical access token: header, claims, HS256 MAC.
	tok := strings.Repeat("eyJh", 9) + "." + strings.Repeat("eyJzdWIi", 30) + "." + strings.Repeat("c2ln", 11)
	for b.Loop() {
		if !compactJWS(tok) {
			b.Fatal("not a compact JWS")
		}
	}
}
