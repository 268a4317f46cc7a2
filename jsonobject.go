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
	errNotObject     = errors.New("not a JSON object")
	errDuplicateName = errors.New("duplicate or case-colliding member name")
	errInvalidJSON   = errors.New("invalid JSON or UTF-8")
)

// jsonMember is one top-level member of a JSON object: its (unescaped) name
// and its raw value.
type jsonMember struct {
	name  []byte
	value []byte
}

// maxQuadraticMembers bounds the pairwise case-folding comparison; larger
// objects use a map.
const maxQuadraticMembers = 32

// jsonObject validates data as a UTF-8 JSON object whose member names are
// unique, also ignoring ASCII case (security.md §8: struct decoding matches
// names case-insensitively and duplicates resolve last-wins, so either would
// let two readers see two different claims), and returns its members.
// buf is reused for the result to avoid allocating for small objects.
func jsonObject(data []byte, buf []jsonMember) ([]jsonMember, error) {
	if !utf8.Valid(data) || !json.Valid(data) {
		return nil, errInvalidJSON
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, errNotObject
	}
	members := buf[:0]
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

func uniqueNames(members []jsonMember) error {
	if len(members) <= maxQuadraticMembers {
		for a := 1; a < len(members); a++ {
			for b := 0; b < a; b++ {
				if bytes.EqualFold(members[a].name, members[b].name) {
					return errDuplicateName
				}
			}
		}
		return nil
	}
	// Above the pairwise limit, key a map by the name folded the way
	// encoding/json matches struct fields (ToUpper(ToLower(r)) per rune),
	// so "ſub" and "sub" collide here as they would in Claims.Decode.
	seen := make(map[string]struct{}, len(members))
	for _, m := range members {
		k := strings.Map(func(r rune) rune { return unicode.ToUpper(unicode.ToLower(r)) }, string(m.name))
		if _, dup := seen[k]; dup {
			return errDuplicateName
		}
		seen[k] = struct{}{}
	}
	return nil
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
