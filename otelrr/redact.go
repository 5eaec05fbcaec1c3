package otelrr

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentrr/agentrr/boundary"
)

// Redaction: values a user marks as sensitive are replaced before anything
// is stored or forwarded, in requests and responses alike, while replay
// still notices when they change.
//
// A redacted value is stored as "[redacted:hmac:<16 hex digits>]": the
// first 64 bits of HMAC-SHA256, keyed with $AGENTRR_REDACTION_KEY, of the
// value's canonical JSON. The key is read from the environment and never
// stored. The signature covers the stored (redacted) request, so an agent
// that sends a different secret on replay gets a different tag and
// diverges, while the store holds no secret. Without the key the tag is
// "[redacted]": the value is still never stored, but a replay cannot tell
// whether it changed (a warning says so once per process).

// Environment variables read by NewTracerProvider, with or without FromEnv.
const (
	// EnvRedactionKey is the HMAC key of redaction tags. It is read from
	// the environment and never stored; recording and replay must use the
	// same key.
	EnvRedactionKey = "AGENTRR_REDACTION_KEY"
	// EnvRedactKeys is a comma-separated list of object key names to
	// redact, as RedactKey does, added to the rules given in code.
	EnvRedactKeys = "AGENTRR_REDACT_KEYS"
)

// RedactRule says which values redaction replaces. Make one with RedactKey,
// RedactPath or RedactPattern and give it to WithRedaction.
type RedactRule struct {
	keys    []string       // RedactKey: object key names, lower case
	path    []pathStep     // RedactPath
	pattern *regexp.Regexp // RedactPattern
	err     error          // a malformed rule: NewTracerProvider fails with it
}

// RedactKey redacts the value of every object member whose key is one of
// names (compared case-insensitively), wherever it is in a request or
// response, whatever the value's type (a whole nested object is replaced
// by one tag).
func RedactKey(names ...string) RedactRule {
	r := RedactRule{}
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			r.keys = append(r.keys, n)
		}
	}
	if len(r.keys) == 0 {
		r.err = fmt.Errorf("RedactKey: no key name given")
	}
	return r
}

// RedactPath redacts the value at one JSON path: object keys joined with
// ".", array indices in brackets, [*] for every element, and keys that are
// not plain words as quoted strings in brackets:
//
//	messages[0].content
//	messages[*].content
//	input["user email"]
//
// The path starts at the root of the helper's request or response value
// (otelrr.LLM, otelrr.Tool, …) and, for an HTTP exchange recorded by the
// transport, at the root of the JSON request or response body (the API's
// own document, e.g. messages[1].content of a chat completion request).
func RedactPath(path string) RedactRule {
	steps, err := parsePath(path)
	if err != nil {
		return RedactRule{err: fmt.Errorf("RedactPath(%q): %w", path, err)}
	}
	return RedactRule{path: steps}
}

// RedactPattern redacts every match of re inside string values (and inside
// error texts and bodies that are not JSON): an e-mail address, a card
// number. Each match is replaced by its own tag.
func RedactPattern(re *regexp.Regexp) RedactRule {
	if re == nil {
		return RedactRule{err: fmt.Errorf("RedactPattern: nil regexp")}
	}
	return RedactRule{pattern: re}
}

// WithRedaction adds redaction rules. They apply, before anything is stored
// or forwarded, to the requests and responses of every boundary (and to the
// GenAI attributes derived from them, and to error texts); the agent gets a
// redacted response while recording exactly as it will when replaying. The
// real function (the tool, the LLM) gets the real request. See
// EnvRedactionKey for how a redacted value still counts in the signature.
func WithRedaction(rules ...RedactRule) Option {
	return func(c *config) { c.redaction = append(c.redaction, rules...) }
}

// pathStep is one step of a RedactPath: a key, an index, or any index.
type pathStep struct {
	key   string
	index int // -1: any index ([*]); -2: not an index step
}

func parsePath(p string) ([]pathStep, error) {
	var steps []pathStep
	s := strings.TrimSpace(p)
	if s == "" {
		return nil, fmt.Errorf("empty path")
	}
	for len(s) > 0 {
		switch {
		case s[0] == '.':
			if len(steps) == 0 {
				return nil, fmt.Errorf("starts with '.'")
			}
			s = s[1:]
			fallthrough
		case s[0] != '[':
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			if end == 0 {
				return nil, fmt.Errorf("empty key")
			}
			steps = append(steps, pathStep{key: s[:end], index: -2})
			s = s[end:]
		default: // '['
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed '['")
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
					return nil, fmt.Errorf("want ']' after a quoted key")
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

// redactor applies a provider's rules. A nil *redactor redacts nothing.
type redactor struct {
	keys     map[string]bool
	paths    [][]pathStep
	patterns []*regexp.Regexp
	hmacKey  []byte // nil: plain "[redacted]" tags
}

var warnNoKey sync.Once

// newRedactor builds the redactor of rules plus $AGENTRR_REDACT_KEYS; nil
// when there is nothing to redact.
func newRedactor(rules []RedactRule) (*redactor, error) {
	if env := os.Getenv(EnvRedactKeys); strings.TrimSpace(env) != "" {
		rules = append(rules, RedactKey(strings.Split(env, ",")...))
	}
	if len(rules) == 0 {
		return nil, nil
	}
	r := &redactor{keys: map[string]bool{}}
	for _, rule := range rules {
		if rule.err != nil {
			return nil, fmt.Errorf("otelrr: %w", rule.err)
		}
		for _, k := range rule.keys {
			r.keys[k] = true
		}
		if rule.path != nil {
			r.paths = append(r.paths, rule.path)
		}
		if rule.pattern != nil {
			r.patterns = append(r.patterns, rule.pattern)
		}
	}
	if k := os.Getenv(EnvRedactionKey); k != "" {
		r.hmacKey = []byte(k)
	} else {
		warnNoKey.Do(func() {
			fmt.Fprintf(os.Stderr, "agentrr: warning: redaction rules are set but %s is not: redacted values are stored as [redacted], and a replay cannot tell whether they changed\n", EnvRedactionKey)
		})
	}
	return r, nil
}

// redactedPrefix starts every tag; a value that already is a tag is left
// as it is, so that redacting twice changes nothing (a redacted response
// the agent sends back in a later request keeps its tag).
const redactedPrefix = "[redacted"

func isTag(s string) bool {
	return strings.HasPrefix(s, redactedPrefix) && strings.HasSuffix(s, "]") && len(s) <= len("[redacted:hmac:0123456789abcdef]")
}

// tag is what a redacted value is stored as. canonical is the value's
// canonical JSON (for a pattern match: the matched text as a JSON string).
func (r *redactor) tag(canonical []byte) string {
	if r.hmacKey == nil {
		return "[redacted]"
	}
	m := hmac.New(sha256.New, r.hmacKey)
	m.Write([]byte("agentrr-redaction\x00"))
	m.Write(canonical)
	return "[redacted:hmac:" + hex.EncodeToString(m.Sum(nil)[:8]) + "]"
}

// JSON returns the canonical JSON doc with the rules applied, still
// canonical; doc itself when nothing is redacted or doc is not JSON.
func (r *redactor) JSON(doc []byte) []byte {
	if r == nil || len(doc) == 0 {
		return doc
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return doc
	}
	out, changed := r.value(v, r.start())
	if !changed {
		return doc
	}
	b, err := boundary.Canonical(out)
	if err != nil {
		return doc
	}
	return b
}

// value redacts v, found at path at (nil when paths no longer matter).
func (r *redactor) value(v any, at []int) (any, bool) {
	if s, ok := v.(string); ok && isTag(s) {
		return v, false
	}
	if r.pathHit(at) {
		return r.tagValue(v), true
	}
	changed := false
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			if r.keys[strings.ToLower(k)] {
				if s, ok := e.(string); ok && isTag(s) {
					continue
				}
				t[k], changed = r.tagValue(e), true
				continue
			}
			if ne, c := r.value(e, r.descendKey(at, k)); c {
				t[k], changed = ne, true
			}
		}
	case []any:
		for i, e := range t {
			if ne, c := r.value(e, r.descendIndex(at, i)); c {
				t[i], changed = ne, true
			}
		}
	case string:
		if s := r.Text(t); s != t {
			return s, true
		}
	}
	return v, changed
}

func (r *redactor) tagValue(v any) string {
	b, err := boundary.Canonical(v)
	if err != nil {
		b = []byte(fmt.Sprint(v))
	}
	return r.tag(b)
}

// Path tracking: at holds, for each path rule, how many of its steps the
// current value has matched (-1: the rule no longer matches here). The
// root starts every rule at 0.
func (r *redactor) start() []int {
	if len(r.paths) == 0 {
		return nil
	}
	return make([]int, len(r.paths))
}

func (r *redactor) pathHit(at []int) bool {
	for i, n := range at {
		if n >= 0 && n == len(r.paths[i]) {
			return true
		}
	}
	return false
}

func (r *redactor) descend(at []int, match func(pathStep) bool) []int {
	if at == nil {
		return nil
	}
	next := make([]int, len(at))
	live := false
	for i, n := range at {
		next[i] = -1
		if n >= 0 && n < len(r.paths[i]) && match(r.paths[i][n]) {
			next[i] = n + 1
			live = true
		}
	}
	if !live {
		return nil
	}
	return next
}

func (r *redactor) descendKey(at []int, key string) []int {
	return r.descend(at, func(s pathStep) bool { return s.index == -2 && s.key == key })
}

func (r *redactor) descendIndex(at []int, i int) []int {
	return r.descend(at, func(s pathStep) bool { return s.index == -1 || s.index == i })
}

// Text returns s with every pattern match replaced by its tag.
func (r *redactor) Text(s string) string {
	if r == nil {
		return s
	}
	for _, re := range r.patterns {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			if isTag(m) {
				return m
			}
			b, _ := json.Marshal(m)
			return r.tag(b)
		})
	}
	return s
}

// Body redacts an HTTP body: a JSON document as JSON (canonical JSON
// comes back), a server-sent event stream event by event (each data line
// holding JSON is redacted as JSON), any other text with the patterns. It
// returns b itself when nothing changed.
func (r *redactor) Body(b []byte) []byte {
	if r == nil || len(b) == 0 {
		return b
	}
	t := bytes.TrimSpace(b)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t) {
		if canon, err := boundary.CanonicalizeJSON(t); err == nil {
			if out := r.JSON(canon); !bytes.Equal(out, canon) {
				return out
			}
		}
		return b
	}
	if !bytes.Contains(b, []byte("data:")) {
		if s := r.Text(string(b)); s != string(b) {
			return []byte(s)
		}
		return b
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	changed := false
	for i, line := range lines {
		body := bytes.TrimRight(line, "\r\n")
		end := line[len(body):]
		payload, ok := bytes.CutPrefix(body, []byte("data:"))
		if !ok {
			if s := r.Text(string(body)); s != string(body) {
				lines[i] = append([]byte(s), end...)
				changed = true
			}
			continue
		}
		lead := []byte("data:")
		if bytes.HasPrefix(payload, []byte(" ")) {
			payload, lead = payload[1:], []byte("data: ")
		}
		var out []byte
		if json.Valid(payload) {
			if canon, err := boundary.CanonicalizeJSON(payload); err == nil {
				if red := r.JSON(canon); !bytes.Equal(red, canon) {
					out = red
				}
			}
		} else if s := r.Text(string(payload)); s != string(payload) {
			out = []byte(s)
		}
		if out != nil {
			lines[i] = append(append(append([]byte(nil), lead...), out...), end...)
			changed = true
		}
	}
	if !changed {
		return b
	}
	return bytes.Join(lines, nil)
}

// canonical is boundary.Canonical(v) with the rules applied: the stored
// form of a response, which is also what the agent gets back.
func (r *redactor) canonical(v any) ([]byte, error) {
	b, err := boundary.Canonical(v)
	if err != nil {
		return nil, err
	}
	return r.JSON(b), nil
}

// requestRedactor is the redactor of the run req belongs to (nil: none).
func requestRedactor(req *http.Request) *redactor {
	if run := runFromContext(req.Context()); run != nil {
		return run.rec.redact
	}
	return nil
}

// httpBody redacts a whole response body that is about to be stored and
// handed to the client, keeping the recorded and handed-out lengths true.
func (r *redactor) httpBody(data []byte, rec *httpResponse, client *http.Response) []byte {
	out := r.Body(data)
	if len(out) == len(data) {
		return out
	}
	if rec.ContentLength >= 0 {
		rec.ContentLength = int64(len(out))
		client.ContentLength = rec.ContentLength
	}
	if _, ok := rec.Header["Content-Length"]; ok {
		n := []string{strconv.Itoa(len(out))}
		rec.Header["Content-Length"] = n
		client.Header["Content-Length"] = n
	}
	return out
}

// attrs redacts the string attributes derived from a payload (the GenAI
// messages, tool call arguments): a JSON document as JSON, other text with
// the patterns. A stream's accumulated text is redacted here even where
// the events that carried it were each too short to match a pattern.
func (r *redactor) attrs(kvs []attribute.KeyValue) []attribute.KeyValue {
	if r == nil {
		return kvs
	}
	out := make([]attribute.KeyValue, len(kvs))
	for i, kv := range kvs {
		switch kv.Value.Type() {
		case attribute.STRING:
			kv.Value = attribute.StringValue(r.attrText(kv.Value.AsString()))
		case attribute.STRINGSLICE:
			ss := kv.Value.AsStringSlice()
			for j, s := range ss {
				ss[j] = r.attrText(s)
			}
			kv.Value = attribute.StringSliceValue(ss)
		}
		out[i] = kv
	}
	return out
}

func (r *redactor) attrText(s string) string {
	t := strings.TrimSpace(s)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)) {
		if canon, err := boundary.CanonicalizeJSON([]byte(t)); err == nil {
			if out := r.JSON(canon); !bytes.Equal(out, canon) {
				return string(out)
			}
		}
		return s
	}
	return r.Text(s)
}
