package redact

import (
	"regexp"
	"strings"
	"testing"
)

func mustRule(t *testing.T) func(Rule, error) Rule {
	return func(r Rule, err error) Rule {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

func mustRedactor(t *testing.T, key string, rules ...Rule) *Redactor {
	t.Helper()
	t.Setenv(EnvKey, key)
	t.Setenv(EnvKeys, "")
	r, err := New(rules)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var emailRE = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)

func TestRedactorRules(t *testing.T) {
	rule := mustRule(t)
	r := mustRedactor(t, "k1",
		rule(Key("Password", "token")),
		rule(Path("messages[*].content")),
		rule(Path(`meta["user id"]`)),
		rule(Pattern(emailRE)))
	in := `{"meta":{"user id":42,"x":1},"messages":[{"content":"a","role":"user"},{"content":{"nested":true},"role":"assistant"}],"note":"write to bob@example.com or eve@example.org","password":"hunter2","auth":{"TOKEN":["t1","t2"]},"n":1.50}`
	out := string(r.JSON([]byte(in)))
	for _, leaked := range []string{"hunter2", "bob@example.com", "eve@example.org", `"t1"`, `"a"`, "nested", `"user id":42`} {
		if strings.Contains(out, leaked) {
			t.Errorf("%s survived redaction: %s", leaked, out)
		}
	}
	for _, kept := range []string{`"x":1`, `"role":"user"`, `"n":1.50`, "write to [redacted:hmac:"} {
		if !strings.Contains(out, kept) {
			t.Errorf("redaction lost %s: %s", kept, out)
		}
	}
	if again := string(r.JSON([]byte(out))); again != out {
		t.Errorf("redacting twice changed the document:\n%s\n%s", out, again)
	}
	// Tags are keyed: another key, other tags; the same value, the same tag.
	other := mustRedactor(t, "k2", rule(Key("password")))
	a := string(r.JSON([]byte(`{"password":"hunter2"}`)))
	b := string(other.JSON([]byte(`{"password":"hunter2"}`)))
	c := string(r.JSON([]byte(`{"password":"hunter3"}`)))
	if a == b || a == c || a != string(r.JSON([]byte(`{"password":"hunter2"}`))) {
		t.Errorf("tags: %s / other key %s / other value %s", a, b, c)
	}
	if !regexp.MustCompile(`^\{"password":"\[redacted:hmac:[0-9a-f]{16}\]"\}$`).MatchString(a) {
		t.Errorf("tag format: %s", a)
	}
	// Without a key: a plain marker, the same whatever the value.
	plain := mustRedactor(t, "", rule(Key("password")))
	if p1, p2 := string(plain.JSON([]byte(`{"password":"x"}`))), string(plain.JSON([]byte(`{"password":"y"}`))); p1 != `{"password":"[redacted]"}` || p1 != p2 {
		t.Errorf("without a key: %s, %s", p1, p2)
	}
	// Not JSON, no rules: unchanged.
	if got := string(r.JSON([]byte("not json"))); got != "not json" {
		t.Errorf("non-JSON: %q", got)
	}
	var none *Redactor
	if got := string(none.JSON([]byte(in))); got != in {
		t.Error("a nil redactor changed the document")
	}
}

func TestRedactPathSyntax(t *testing.T) {
	for _, ok := range []string{"a", "a.b", "a[0]", "a[*].b", `["x y"]`, `a["]"].b`, "[3]"} {
		if _, err := parsePath(ok); err != nil {
			t.Errorf("parsePath(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".a", "a..b", "a[", "a[x]", "a[-1]", `a["x"`} {
		if _, err := parsePath(bad); err == nil {
			t.Errorf("parsePath(%q) accepted", bad)
		}
	}
	if _, err := Path("a["); err == nil {
		t.Error("a malformed path rule was accepted")
	}
	if _, err := Key(" ", ""); err == nil {
		t.Error("a key rule without a name was accepted")
	}
	if _, err := Pattern(nil); err == nil {
		t.Error("a nil pattern was accepted")
	}
	t.Setenv(EnvKeys, " , ")
	if _, err := New(nil); err == nil {
		t.Errorf("%s naming no key was accepted", EnvKeys)
	}
}

func TestRedactBodies(t *testing.T) {
	rule := mustRule(t)
	r := mustRedactor(t, "k", rule(Key("secret")), rule(Pattern(emailRE)))
	sse := "event: x\ndata: {\"secret\":\"s1\",\"text\":\"hi bob@example.com\"}\n\ndata: [DONE]\n\n"
	out := string(r.Body([]byte(sse)))
	if strings.Contains(out, "s1") || strings.Contains(out, "bob@example.com") || !strings.HasSuffix(out, "data: [DONE]\n\n") || !strings.HasPrefix(out, "event: x\n") {
		t.Errorf("SSE body: %q", out)
	}
	if out := string(r.Body([]byte("plain text to bob@example.com"))); strings.Contains(out, "bob@") {
		t.Errorf("text body: %q", out)
	}
	js := []byte(` {"b":1, "secret":{"x":[1]}} `)
	if out := string(r.Body(js)); strings.Contains(out, `"x"`) || !strings.HasPrefix(out, `{"b":1,"secret":"[redacted:hmac:`) {
		t.Errorf("JSON body: %q", out)
	}
	if got := r.Body([]byte(`{"b":1}`)); string(got) != `{"b":1}` {
		t.Errorf("a body with nothing to redact changed: %q", got)
	}
}
