// Package redact is the one place that decides which values, beyond
// credentials, never reach an agentrr store or a forwarded span: the
// redaction rules a user gives (otelrr.WithRedaction and
// $AGENTRR_REDACT_KEYS), applied to requests, responses, error texts,
// HTTP bodies and the GenAI attributes derived from them, before anything
// is stored or forwarded.
//
// A redacted value is stored as "[redacted:hmac:<16 hex digits>]": the
// first 64 bits of HMAC-SHA256, keyed with $AGENTRR_REDACTION_KEY, of the
// value's canonical JSON. The key is read from the environment and never
// stored. The signature covers the stored (redacted) request, so an agent
// that sends a different secret on replay gets a different tag and
// diverges, while the store holds no secret. Without the key the tag is
// "[redacted]": the value is still never stored, but a replay cannot tell
// whether it changed (a warning says so once per process).
//
// Redacting is idempotent: a value that already is a tag is left as it is,
// so a redacted response the agent sends back in a later request keeps its
// tag. Credentials named as such (Authorization, API keys, cookies) are
// not this package's: the HTTP capture drops and masks them by name.
package redact

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentrr/agentrr/boundary"
)

// Environment variables New reads.
const (
	// EnvKey is the HMAC key of redaction tags. Recording and replay must
	// use the same key.
	EnvKey = "AGENTRR_REDACTION_KEY"
	// EnvKeys is a comma-separated list of object key names to redact, as
	// Key does, added to the rules given in code.
	EnvKeys = "AGENTRR_REDACT_KEYS"
)

// Redactor applies a set of rules. A nil *Redactor redacts nothing: every
// method returns its input. A Redactor is safe for concurrent use.
type Redactor struct {
	keys     map[string]bool
	paths    [][]pathStep
	patterns []*regexp.Regexp
	hmacKey  []byte // nil: plain "[redacted]" tags
}

var warnNoKey sync.Once

// New returns the Redactor of rules plus the keys named in $AGENTRR_REDACT_KEYS,
// tagging with $AGENTRR_REDACTION_KEY; nil when there is nothing to
// redact. It fails when $AGENTRR_REDACT_KEYS is set but names no key.
// Without a tag key it warns on standard error, once per process, that
// redacted values are stored as a plain marker.
func New(rules []Rule) (*Redactor, error) {
	if env := os.Getenv(EnvKeys); strings.TrimSpace(env) != "" {
		rule, err := Key(strings.Split(env, ",")...)
		if err != nil {
			return nil, fmt.Errorf("%s=%q: %w", EnvKeys, env, err)
		}
		rules = append(rules, rule)
	}
	if len(rules) == 0 {
		return nil, nil
	}
	r := &Redactor{keys: map[string]bool{}}
	for _, rule := range rules {
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
	if k := os.Getenv(EnvKey); k != "" {
		r.hmacKey = []byte(k)
	} else {
		warnNoKey.Do(func() {
			fmt.Fprintf(os.Stderr, "agentrr: warning: redaction rules are set but %s is not: redacted values are stored as [redacted], and a replay cannot tell whether they changed\n", EnvKey)
		})
	}
	return r, nil
}

// tagPrefix starts every tag; a value that already is a tag is left as
// it is, so that redacting twice changes nothing.
const tagPrefix = "[redacted"

// isTag reports whether s is what a redacted value is stored as.
func isTag(s string) bool {
	return strings.HasPrefix(s, tagPrefix) && strings.HasSuffix(s, "]") && len(s) <= len("[redacted:hmac:0123456789abcdef]")
}

// tag is what a redacted value is stored as. canonical is the value's
// canonical JSON (for a pattern match: the matched text as a JSON string).
func (r *Redactor) tag(canonical []byte) string {
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
func (r *Redactor) JSON(doc []byte) []byte {
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

// Canonical is boundary.Canonical(v) with the rules applied: the stored
// form of a helper's response, which is also what the agent gets back.
func (r *Redactor) Canonical(v any) ([]byte, error) {
	b, err := boundary.Canonical(v)
	if err != nil {
		return nil, err
	}
	return r.JSON(b), nil
}

// value redacts v, found at path at (nil when paths no longer matter).
func (r *Redactor) value(v any, at []int) (any, bool) {
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

func (r *Redactor) tagValue(v any) string {
	b, err := boundary.Canonical(v)
	if err != nil {
		b = []byte(fmt.Sprint(v))
	}
	return r.tag(b)
}

// Path tracking: at holds, for each path rule, how many of its steps the
// current value has matched (-1: the rule no longer matches here). The
// root starts every rule at 0.
func (r *Redactor) start() []int {
	if len(r.paths) == 0 {
		return nil
	}
	return make([]int, len(r.paths))
}

func (r *Redactor) pathHit(at []int) bool {
	for i, n := range at {
		if n >= 0 && n == len(r.paths[i]) {
			return true
		}
	}
	return false
}

func (r *Redactor) descend(at []int, match func(pathStep) bool) []int {
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

func (r *Redactor) descendKey(at []int, key string) []int {
	return r.descend(at, func(s pathStep) bool { return s.index == -2 && s.key == key })
}

func (r *Redactor) descendIndex(at []int, i int) []int {
	return r.descend(at, func(s pathStep) bool { return s.index == -1 || s.index == i })
}

// Text returns s with every pattern match replaced by its tag.
func (r *Redactor) Text(s string) string {
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
// returns b itself when nothing changed, else a new slice.
func (r *Redactor) Body(b []byte) []byte {
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

// Attributes redacts the string attributes derived from a payload (the
// GenAI messages, tool call arguments): a JSON document as JSON, other
// text with the patterns. A stream's accumulated text is redacted here
// even where the events that carried it were each too short to match a
// pattern. kvs itself is not changed.
func (r *Redactor) Attributes(kvs []attribute.KeyValue) []attribute.KeyValue {
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

func (r *Redactor) attrText(s string) string {
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
