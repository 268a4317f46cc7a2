package connectjwt

import (
	"fmt"
	"strings"
)

// tokenFromHeader extracts the token from the values of the configured
// header. It never decodes anything: it checks the count, the size and the
// scheme, so nothing larger reaches the validator.
//
// The rules: exactly one header line; an empty value or one
// with another scheme counts as missing (it may be meant for another layer);
// the scheme is matched case-insensitively and followed by one or more
// spaces; whitespace around the value is ignored; the value is capped at
// maxBytes.
//
// The token's alphabet (RFC 7515 compact serialization, [compactJWS]) is the
// validator's first check, before anything is decoded. The verified-token
// cache looks the token up before it: a hit has the exact bytes of a token
// that passed every check, so the scan of every byte, the largest cost of a
// cached call, is made only on a miss.
func tokenFromHeader(values []string, canonicalName, scheme string, maxBytes int) (string, error) {
	switch len(values) {
	case 0:
		return "", ErrMissing
	case 1:
	default:
		return "", fmt.Errorf("%w: more than one %s header", ErrMalformed, canonicalName)
	}
	// Optional whitespace around a field value (RFC 9110 §5.5): HTTP/1.1
	// servers strip it, Go's HTTP/2 server does not; trim it so every
	// protocol reads the same header the same way.
	value := strings.Trim(values[0], " \t")
	if value == "" {
		return "", ErrMissing
	}
	if len(value) > maxBytes {
		return "", fmt.Errorf("%w: %s header larger than %d bytes", ErrMalformed, canonicalName, maxBytes)
	}
	token := value
	if scheme != "" {
		// The scheme must be followed by at least one space; "Basic x" or
		// "BearerX" name another scheme and count as missing.
		if len(value) < len(scheme) || !asciiEqualFold(value[:len(scheme)], scheme) {
			return "", ErrMissing
		}
		rest := value[len(scheme):]
		if rest == "" {
			return "", fmt.Errorf("%w: expected '%s <JWT>'", ErrMalformed, scheme)
		}
		if rest[0] != ' ' {
			return "", ErrMissing
		}
		i := 0
		for i < len(rest) && rest[i] == ' ' {
			i++
		}
		token = rest[i:]
		if token == "" {
			return "", fmt.Errorf("%w: expected '%s <JWT>'", ErrMalformed, scheme)
		}
	}
	return token, nil
}

// compactJWS reports whether s has the shape of a JWS in compact
// serialization: base64url characters only, exactly two dots, and non-empty
// header and payload segments. The signature may be empty here (alg "none"
// is refused later as a disallowed algorithm, not as a parse error).
func compactJWS(s string) bool {
	dots, first, second := 0, -1, -1
	for i := range len(s) {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			dots++
			if dots == 1 {
				first = i
			} else {
				second = i
			}
		default:
			return false
		}
	}
	return dots == 2 && first > 0 && second > first+1
}

// asciiEqualFold compares strings ignoring ASCII case, as HTTP compares
// authentication schemes; non-ASCII bytes must match exactly
// (strings.EqualFold would also match "ſ" to "s" and the Kelvin sign to
// "k").
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		left, right := a[i], b[i]
		if 'A' <= left && left <= 'Z' {
			left += 'a' - 'A'
		}
		if 'A' <= right && right <= 'Z' {
			right += 'a' - 'A'
		}
		if left != right {
			return false
		}
	}
	return true
}
