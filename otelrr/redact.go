package otelrr

import (
	"fmt"
	"regexp"

	"github.com/agentrr/agentrr/internal/redact"
)

// RedactRule says which values redaction replaces. Make one with RedactKey,
// RedactPath or RedactPattern and give it to WithRedaction.
type RedactRule struct {
	rule redact.Rule
	err  error // a malformed rule: NewTracerProvider fails with it
}

// RedactKey redacts the value of every object member whose key is one of
// names (compared case-insensitively), wherever it is in a request or
// response, whatever the value's type (a whole nested object is replaced
// by one tag). The AGENTRR_REDACT_KEYS environment variable (a
// comma-separated list, read by every provider and recorder) adds key
// names without a code change.
func RedactKey(names ...string) RedactRule {
	r, err := redact.Key(names...)
	return newRule(r, err, "RedactKey")
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
	r, err := redact.Path(path)
	return newRule(r, err, fmt.Sprintf("RedactPath(%q)", path))
}

// RedactPattern redacts every match of re inside string values (and inside
// error texts and bodies that are not JSON): an e-mail address, a card
// number. Each match is replaced by its own tag.
func RedactPattern(re *regexp.Regexp) RedactRule {
	r, err := redact.Pattern(re)
	return newRule(r, err, "RedactPattern")
}

func newRule(r redact.Rule, err error, what string) RedactRule {
	if err != nil {
		return RedactRule{err: fmt.Errorf("%s: %w", what, err)}
	}
	return RedactRule{rule: r}
}

// WithRedaction adds redaction rules. They apply, before anything is stored
// or forwarded, to the requests and responses of every boundary (and to the
// GenAI attributes derived from them, and to error texts); the agent gets a
// redacted response while recording exactly as it will when replaying. The
// real function (the tool, the LLM) gets the real request.
//
// A redacted value is stored as "[redacted:hmac:<16 hex digits>]", an HMAC
// of the value keyed with the AGENTRR_REDACTION_KEY environment variable,
// which is never stored: the signature covers the tag, so a replay still
// notices when a redacted value changes. Recording and replay need the
// same key. Without it the tag is "[redacted]" and a replay cannot tell
// (a warning says so once per process). See docs/contract.md.
func WithRedaction(rules ...RedactRule) Option {
	return func(c *config) { c.redaction = append(c.redaction, rules...) }
}

// newRedactor builds the redactor of rules plus $AGENTRR_REDACT_KEYS; nil
// when there is nothing to redact.
func newRedactor(rules []RedactRule) (*redact.Redactor, error) {
	rs := make([]redact.Rule, 0, len(rules))
	for _, r := range rules {
		if r.err != nil {
			return nil, fmt.Errorf("otelrr: %w", r.err)
		}
		rs = append(rs, r.rule)
	}
	r, err := redact.New(rs)
	if err != nil {
		return nil, fmt.Errorf("otelrr: %w", err)
	}
	return r, nil
}
