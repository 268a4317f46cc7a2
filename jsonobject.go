package connectjwt

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	errNotObject      = errors.New("not a JSON object")
	errDuplicateName  = errors.New("duplicate member name")
	errInvalidJSON    = errors.New("invalid JSON or UTF-8")
	errLoneSurrogate  = errors.New("lone UTF-16 surrogate escape")
	errCaseCollisions = errors.New("connectjwt: claims have names that differ only in case; decode into a map")
)

// jsonMember is one top-level member of a JSON object: its (unescaped) name
// and its raw value.
type jsonMember struct {
	name  []byte
	value []byte
}

// maxQuadraticMembers bounds the pairwise comparison of names; larger
// objects use a map.
const maxQuadraticMembers = 32

// jsonObject validates data as a UTF-8 JSON object whose member names are
// unique, and returns its members. Names are compared exactly, as JSON
// names are case-sensitive: "email" and "Email" are two members, and every
// reader of claims here matches names exactly ([Claims.Decode] guards
// encoding/json's case-insensitive struct matching). Duplicates are refused
// (encoding/json resolves them last-wins, other readers first-wins), and so
// are escapes of lone UTF-16 surrogates ("\ud800"), which decoders turn
// into U+FFFD, so two different names or values would read as one.
func jsonObject(data []byte) ([]jsonMember, error) {
	if !utf8.Valid(data) || !json.Valid(data) {
		return nil, errInvalidJSON
	}
	if loneSurrogate(data) {
		return nil, errLoneSurrogate
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, errNotObject
	}
	var members []jsonMember
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] != '}' {
		end := endOfString(data, i)
		name := data[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			var s string
			if err := json.Unmarshal(data[i:end], &s); err != nil {
				return nil, errInvalidJSON
			}
			name = []byte(s)
		}
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // ':'
		vEnd := endOfValue(data, i)
		members = append(members, jsonMember{name: name, value: data[i:vEnd]})
		i = skipSpace(data, vEnd)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	if err := uniqueNames(members); err != nil {
		return nil, err
	}
	return members, nil
}

// uniqueNames refuses two members with the same name. One rule at every
// size: exact comparison, pairwise for small objects, with a map above.
func uniqueNames(members []jsonMember) error {
	if len(members) <= maxQuadraticMembers {
		for a := 1; a < len(members); a++ {
			for b := range a {
				if bytes.Equal(members[a].name, members[b].name) {
					return errDuplicateName
				}
			}
		}
		return nil
	}
	seen := make(map[string]struct{}, len(members))
	for _, m := range members {
		if _, dup := seen[string(m.name)]; dup {
			return errDuplicateName
		}
		seen[string(m.name)] = struct{}{}
	}
	return nil
}

// foldName folds a name the way encoding/json matches struct fields
// (ToUpper(ToLower(r)) per rune), so "ſub", "SUB" and "sub" fold alike.
func foldName(name string) string {
	return strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, name)
}

// loneSurrogate reports whether data, valid JSON, has a \u escape of a
// UTF-16 surrogate that is not half of a high-low pair.
func loneSurrogate(data []byte) bool {
	for i := bytes.IndexByte(data, '\\'); i >= 0 && i+1 < len(data); {
		if data[i+1] != 'u' {
			i += 2 // a two-byte escape, \\ included
		} else {
			r := hex4(data[i+2 : i+6])
			switch {
			case 0xDC00 <= r && r <= 0xDFFF:
				return true
			case 0xD800 <= r && r <= 0xDBFF:
				if i+12 > len(data) || data[i+6] != '\\' || data[i+7] != 'u' {
					return true
				}
				if lo := hex4(data[i+8 : i+12]); lo < 0xDC00 || lo > 0xDFFF {
					return true
				}
				i += 12
			default:
				i += 6
			}
		}
		j := bytes.IndexByte(data[i:], '\\')
		if j < 0 {
			return false
		}
		i += j
	}
	return false
}

// hex4 decodes four hex digits (json.Valid checked them).
func hex4(b []byte) rune {
	var value rune
	for _, digit := range b {
		switch {
		case '0' <= digit && digit <= '9':
			digit -= '0'
		case 'a' <= digit && digit <= 'f':
			digit -= 'a' - 10
		default:
			digit -= 'A' - 10
		}
		value = value<<4 | rune(digit)
	}
	return value
}

// The scanners below run only on input that json.Valid accepted.

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// endOfString returns the index just past the string starting at data[i].
func endOfString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// endOfValue returns the index just past the value starting at data[i].
func endOfValue(data []byte, i int) int {
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		return endOfString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = endOfString(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	default:
		j := i
		for j < len(data) {
			switch data[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j
			}
			j++
		}
		return j
	}
}

// member returns the raw value of the member named name.
func member(members []jsonMember, name string) ([]byte, bool) {
	for _, m := range members {
		if string(m.name) == name {
			return m.value, true
		}
	}
	return nil, false
}
