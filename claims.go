package connectjwt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Claims are the verified claims of a token: registered claims parsed and
// type-checked, plus the raw payload for everything else. A *Claims is only
// ever built after the token's signature verified.
//
// Handlers read them with [ClaimsFromContext] (Flask's get_jwt) and
// [IdentityFromContext] (get_jwt_identity); a custom claim is read with
// [Claims.Value] or decoded into a struct of the application's with
// [Claims.Decode].
//
// Claims are read-only: the same *Claims is shared by every call that
// presents the same token while it is in the verified-token cache
// ([WithCacheSize]), and by the loaders and [RevocationStore] of those calls, so
// modifying one (its fields or the slices they hold) would change what other
// calls see. Copy what you need to change.
type Claims struct {
	// Identity is the value of the identity claim ("sub" by default).
	Identity string
	// Subject is the sub claim.
	Subject string
	// Issuer is the iss claim.
	Issuer string
	// Audience is the aud claim, a string or an array of strings.
	Audience []string
	// ExpiresAt is the exp claim; always set.
	ExpiresAt time.Time
	// NotBefore is the nbf claim, or zero.
	NotBefore time.Time
	// IssuedAt is the iat claim, or zero.
	IssuedAt time.Time
	// ID is the jti claim, or empty.
	ID string
	// SessionID is the sid claim (OpenID Connect's session ID), or empty:
	// every token descended from one [AuthService] login carries the same
	// one, and revoking it ([RevocationStore.RevokeSession]) revokes them
	// all.
	SessionID string
	// AuthTime is the auth_time claim (OpenID Connect's time of the
	// login the token descends from), or zero.
	AuthTime time.Time
	// Scopes are the scopes granted, without duplicates: those of the
	// "scope" claim (RFC 8693) and those of the "scp" claim (Azure, Okta)
	// together, when a token has both. Each claim may be a space-separated
	// string or an array of strings; a claim of another type makes the
	// token fail with [ErrInvalidClaims].
	Scopes []string
	// Fresh is the "fresh" claim: the token was minted from a password
	// login, not from a refresh (Flask's fresh tokens).
	Fresh bool
	// Type is the JOSE typ header, e.g. "at+jwt"; empty for a token
	// without one ([WithUntypedAccessTokens], [RemoteKeySet.AcceptUntyped]).
	Type string
	// KeyID is the kid header, or empty.
	KeyID string
	// Algorithm is the alg header the token was verified with.
	Algorithm string

	payload []byte
}

// Value returns the raw JSON value of the claim called name, and whether the
// token has it. Names are matched exactly.
func (c *Claims) Value(name string) (json.RawMessage, bool) {
	if c == nil {
		return nil, false
	}
	members, err := jsonObject(c.json())
	if err != nil {
		return nil, false
	}
	v, ok := member(members, name)
	if !ok {
		return nil, false
	}
	return json.RawMessage(slices.Clone(v)), true
}

// Decode unmarshals the whole payload into v, a pointer to an application's
// claims struct (or a map). Member names are unique, but may differ only in
// case ("email" and "Email"), and encoding/json matches struct fields
// ignoring case: so when the payload has names that differ only in case and
// a field of v's struct would match them, Decode refuses with an error
// rather than let one of them win. Decode into a map, or read such claims
// with [Claims.Value], which matches names exactly.
func (c *Claims) Decode(v any) error {
	if c == nil {
		return errors.New("connectjwt: no claims")
	}
	payload := c.json()
	if err := checkDecodeTarget(payload, v); err != nil {
		return err
	}
	return json.Unmarshal(payload, v)
}

// json returns the verified payload, or, for Claims built by hand, the
// registered claims their fields hold.
func (c *Claims) json() []byte {
	if c.payload != nil {
		return c.payload
	}
	object := map[string]any{}
	str := func(name, v string) {
		if v != "" {
			object[name] = v
		}
	}
	date := func(name string, t time.Time) {
		if !t.IsZero() {
			object[name] = t.Unix()
		}
	}
	str("sub", c.Subject)
	if c.Subject == "" {
		str("sub", c.Identity)
	}
	str("iss", c.Issuer)
	switch len(c.Audience) {
	case 0:
	case 1:
		object["aud"] = c.Audience[0]
	default:
		object["aud"] = c.Audience
	}
	date("exp", c.ExpiresAt)
	date("nbf", c.NotBefore)
	date("iat", c.IssuedAt)
	str("jti", c.ID)
	if len(c.Scopes) > 0 {
		object["scope"] = strings.Join(c.Scopes, " ")
	}
	if c.Fresh {
		object["fresh"] = true
	}
	b, err := json.Marshal(object)
	if err != nil { // strings, numbers and booleans always marshal
		return []byte("{}")
	}
	return b
}

// checkDecodeTarget refuses to decode payload into v when two of its member
// names fold to the name of a field of v's struct type.
func checkDecodeTarget(payload []byte, v any) error {
	members, err := jsonObject(payload)
	if err != nil {
		return err
	}
	if len(members) < 2 {
		return nil
	}
	folded := make(map[string]int, len(members))
	var colliding []string
	for _, m := range members {
		f := foldName(string(m.name))
		if folded[f]++; folded[f] == 2 {
			colliding = append(colliding, f)
		}
	}
	if len(colliding) == 0 {
		return nil
	}
	fields := map[string]bool{}
	structFieldNames(reflect.TypeOf(v), fields, map[reflect.Type]bool{})
	for _, f := range colliding {
		if fields[f] {
			return errCaseCollisions
		}
	}
	return nil
}

// structFieldNames adds the folded JSON names of t's fields to names, when
// t is a struct or a pointer to one, following embedded structs as
// encoding/json does.
func structFieldNames(typ reflect.Type, names map[string]bool, seen map[reflect.Type]bool) {
	for typ != nil && typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	if typ == nil || typ.Kind() != reflect.Struct || seen[typ] {
		return
	}
	seen[typ] = true
	for field := range typ.Fields() {
		tag := field.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if field.Anonymous && name == "" {
			structFieldNames(field.Type, names, seen)
			continue
		}
		if !field.IsExported() {
			continue
		}
		if name == "" {
			name = field.Name
		}
		names[foldName(name)] = true
	}
}

// HasScope reports whether the token grants scope.
func (c *Claims) HasScope(scope string) bool {
	return c != nil && slices.Contains(c.Scopes, scope)
}

// MarshalJSON returns the verified payload, so claims can be logged or
// returned as they were sent. For Claims built by hand it returns the
// registered claims their fields hold.
func (c *Claims) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("null"), nil
	}
	return slices.Clone(c.json()), nil
}

type claimsKey struct{}

// authState is what authentication left in the context: the validator that
// checked it (nil for [NewContextWithClaims]) and the claims (nil for an
// anonymous call on an optional procedure), and the procedure it admitted
// them for.
type authState struct {
	v         *Validator
	claims    *Claims
	procedure string
}

// authContext carries an authState: one allocation per call where
// context.WithValue and a separate *authState would take two.
type authContext struct {
	context.Context //nolint:containedctx // a context wrapper: it is the parent

	st authState
}

func withAuth(ctx context.Context, st authState) context.Context {
	return &authContext{Context: ctx, st: st}
}

// Value returns the auth state for claimsKey and defers to the parent
// otherwise.
func (c *authContext) Value(key any) any {
	if _, ok := key.(claimsKey); ok {
		return &c.st
	}
	return c.Context.Value(key)
}

// ClaimsFromContext returns the verified claims of the call, Flask's
// get_jwt(). It returns false when the call was not authenticated, e.g. an
// anonymous call to an optional procedure, or a public one.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	st, ok := ctx.Value(claimsKey{}).(*authState)
	if !ok || st.claims == nil {
		return nil, false
	}
	return st.claims, true
}

// IdentityFromContext returns the identity of the caller (the identity
// claim, "sub" by default), Flask's get_jwt_identity().
func IdentityFromContext(ctx context.Context) (string, bool) {
	c, ok := ClaimsFromContext(ctx)
	if !ok {
		return "", false
	}
	return c.Identity, true
}

// NewContextWithClaims returns a context carrying claims, for tests of
// handlers that read [ClaimsFromContext]. Claims built by hand carry only
// their fields ([Claims.Decode] and [Claims.MarshalJSON] see the registered
// claims); for custom claims, use the connectjwttest package, which builds
// the context from a real token.
func NewContextWithClaims(ctx context.Context, claims *Claims) context.Context {
	return withAuth(ctx, authState{claims: claims})
}

// Parsing of registered claims. Every function returns an error wrapping
// ErrInvalidClaims that names the claim but never its value.

// maxNumericDate is 9999-12-31T23:59:59Z: a NumericDate beyond it, or
// negative, is refused: a huge value such as 1e19 would overflow int64
// seconds into the past.
const maxNumericDate = 253402300799

func parseNumericDate(name string, raw []byte) (time.Time, error) {
	if len(raw) == 0 || raw[0] != '-' && (raw[0] < '0' || raw[0] > '9') {
		return time.Time{}, fmt.Errorf("%w: %s must be a number", ErrInvalidClaims, name)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("%w: %s is out of range", ErrInvalidClaims, name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

func parseString(name string, raw []byte) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%w: %s must be a string", ErrInvalidClaims, name)
	}
	inner := raw[1 : len(raw)-1]
	if !slices.Contains(inner, '\\') {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: %s must be a string", ErrInvalidClaims, name)
	}
	return s, nil
}

// parseStrings accepts a string or an array of strings (aud).
func parseStrings(name string, raw []byte) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		s, err := parseString(name, raw)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	var out []string
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &out) != nil {
		return nil, fmt.Errorf("%w: %s must be a string or an array of strings", ErrInvalidClaims, name)
	}
	return out, nil
}

// appendScopes adds the scopes of a scope or scp claim to scopes, skipping
// ones already there. The claim is a space-separated string (RFC 8693 §4.2,
// Azure's scp) or an array of strings (Okta's scp, some scope claims), each
// a single non-empty scope without spaces; anything else fails with
// ErrInvalidClaims.
func appendScopes(scopes []string, name string, raw []byte) ([]string, error) {
	var list []string
	if len(raw) > 0 && raw[0] == '"' {
		s, err := parseString(name, raw)
		if err != nil {
			return nil, err
		}
		list = strings.Fields(s)
	} else {
		if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
			return nil, fmt.Errorf("%w: %s must be a string or an array of strings", ErrInvalidClaims, name)
		}
		for _, s := range list {
			if s == "" || strings.ContainsFunc(s, unicode.IsSpace) {
				return nil, fmt.Errorf("%w: %s has an empty scope or one with spaces", ErrInvalidClaims, name)
			}
		}
	}
	for _, s := range list {
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	return scopes, nil
}

// parseClaims type-checks the registered claims of a verified payload.
func parseClaims(c *Claims, members []jsonMember, identityClaim string) error {
	var err error
	for _, m := range members {
		switch string(m.name) {
		case "iss":
			c.Issuer, err = parseString("iss", m.value)
		case "sub":
			c.Subject, err = parseString("sub", m.value)
		case "aud":
			c.Audience, err = parseStrings("aud", m.value)
		case "exp":
			c.ExpiresAt, err = parseNumericDate("exp", m.value)
		case "nbf":
			c.NotBefore, err = parseNumericDate("nbf", m.value)
		case "iat":
			c.IssuedAt, err = parseNumericDate("iat", m.value)
		case "jti":
			c.ID, err = parseString("jti", m.value)
		case "sid":
			c.SessionID, err = parseString("sid", m.value)
		case "auth_time":
			c.AuthTime, err = parseNumericDate("auth_time", m.value)
		case "scope", "scp":
			c.Scopes, err = appendScopes(c.Scopes, string(m.name), m.value)
		case "fresh":
			switch string(m.value) {
			case "true":
				c.Fresh = true
			case "false":
			default:
				err = fmt.Errorf("%w: fresh must be a boolean", ErrInvalidClaims)
			}
		}
		if err != nil {
			return err
		}
	}
	if c.ExpiresAt.IsZero() { // a parsed exp is never the zero time
		return fmt.Errorf("%w: exp is required", ErrInvalidClaims)
	}
	if identityClaim == "sub" {
		c.Identity = c.Subject
	} else if raw, ok := member(members, identityClaim); ok {
		if c.Identity, err = parseString("identity claim", raw); err != nil {
			return err
		}
	}
	if c.Identity == "" {
		return fmt.Errorf("%w: identity claim is missing or empty", ErrInvalidClaims)
	}
	return nil
}
