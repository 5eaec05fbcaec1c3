package redact

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Rule says which values a Redactor replaces: the values of object members
// with given keys (Key), the value at a JSON path (Path), or the matches
// of a pattern inside strings (Pattern). The zero Rule redacts nothing.
type Rule struct {
	keys    []string       // Key: object key names, lower case
	path    []pathStep     // Path
	pattern *regexp.Regexp // Pattern
}

// Key redacts the value of every object member whose key is one of names
// (compared case-insensitively, surrounding white space ignored), wherever
// it is, whatever the value's type (a whole nested object is replaced by
// one tag). It fails when no name is left.
func Key(names ...string) (Rule, error) {
	r := Rule{}
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			r.keys = append(r.keys, n)
		}
	}
	if len(r.keys) == 0 {
		return Rule{}, errors.New("no key name given")
	}
	return r, nil
}

// Path redacts the value at one JSON path: object keys joined with ".",
// array indices in brackets, [*] for every element, and keys that are not
// plain words as quoted strings in brackets (messages[0].content,
// messages[*].content, input["user email"]). The path starts at the root
// of the document redacted. It fails on a malformed path.
func Path(path string) (Rule, error) {
	steps, err := parsePath(path)
	if err != nil {
		return Rule{}, err
	}
	return Rule{path: steps}, nil
}

// Pattern redacts every match of re inside string values, error texts and
// bodies that are not JSON; each match is replaced by its own tag. It
// fails when re is nil.
func Pattern(re *regexp.Regexp) (Rule, error) {
	if re == nil {
		return Rule{}, errors.New("nil regexp")
	}
	return Rule{pattern: re}, nil
}

// pathStep is one step of a Path: a key, an index, or any index.
type pathStep struct {
	key   string
	index int // -1: any index ([*]); -2: not an index step
}

func parsePath(p string) ([]pathStep, error) {
	var steps []pathStep
	s := strings.TrimSpace(p)
	if s == "" {
		return nil, errors.New("empty path")
	}
	for len(s) > 0 {
		switch {
		case s[0] == '.':
			if len(steps) == 0 {
				return nil, errors.New("starts with '.'")
			}
			s = s[1:]
			fallthrough
		case s[0] != '[':
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			if end == 0 {
				return nil, errors.New("empty key")
			}
			steps = append(steps, pathStep{key: s[:end], index: -2})
			s = s[end:]
		default: // '['
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, errors.New("unclosed '['")
			}
			inner := s[1:end]
			switch {
			case inner == "*":
				steps = append(steps, pathStep{index: -1})
			case strings.HasPrefix(inner, `"`):
				// A quoted key may hold ']': find the closing quote.
				var key string
				dec := json.NewDecoder(strings.NewReader(s[1:]))
				if err := dec.Decode(&key); err != nil {
					return nil, fmt.Errorf("bad quoted key: %v", err)
				}
				rest := s[1+int(dec.InputOffset()):]
				if !strings.HasPrefix(rest, "]") {
					return nil, errors.New("want ']' after a quoted key")
				}
				steps = append(steps, pathStep{key: key, index: -2})
				s = rest[1:]
				continue
			default:
				n, err := strconv.Atoi(inner)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("index %q is not a number or *", inner)
				}
				steps = append(steps, pathStep{index: n})
			}
			s = s[end+1:]
		}
	}
	return steps, nil
}
