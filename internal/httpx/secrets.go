package httpx

import (
	"bytes"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/attribute"
)

// redacted replaces the value of a secret query parameter.
const redacted = "REDACTED"

// secretWords are the words (of a header or query parameter name split on
// '-', '_' and '.') that make it a secret: its value is never stored, never
// put on a span, and masked wherever else it appears.
var secretWords = map[string]bool{
	"auth": true, "authorization": true, "cookie": true, "cookie2": true,
	"key": true, "apikey": true, "secret": true, "password": true, "passwd": true,
	"credential": true, "credentials": true, "token": true, "session": true,
	"signature": true, "sig": true,
}

// IsSecretName reports whether a header or query parameter name names a
// secret: Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key,
// Api-Key, X-Goog-Api-Key, X-Amz-Security-Token, access_token, key, sig, …
func IsSecretName(name string) bool {
	for _, w := range strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		if secretWords[w] {
			return true
		}
	}
	return false
}

// Secrets are secret values (API keys, tokens, cookie values, passwords):
// masked wherever they would otherwise be stored. The HTTP transport
// collects a request's; otelrr/mcprr a server's command line, environment
// and endpoint's.
type Secrets [][]byte

// minSecretLen is the shortest value masked: shorter ones would mask
// ordinary text.
const minSecretLen = 8

// requestSecrets collects the values of req's secret headers and query
// parameters and its URL password, with and without their auth scheme.
func requestSecrets(req *http.Request) Secrets {
	var s Secrets
	add := s.Add
	for k, vs := range req.Header {
		if !IsSecretName(k) {
			continue
		}
		for _, v := range vs {
			add(v)
			if _, cred, ok := strings.Cut(v, " "); ok {
				add(cred) // "Bearer sk-…" → also "sk-…"
			}
			for _, c := range strings.Split(v, ";") { // cookies: name=value; …
				if _, val, ok := strings.Cut(c, "="); ok {
					add(val)
				}
			}
		}
	}
	for k, vs := range req.URL.Query() {
		if IsSecretName(k) {
			for _, v := range vs {
				add(v)
			}
		}
	}
	if p, ok := req.URL.User.Password(); ok {
		add(p)
	}
	s.Sort()
	return s
}

// Add adds v, trimmed, unless it is shorter than minSecretLen or already
// there.
func (s *Secrets) Add(v string) {
	v = strings.TrimSpace(v)
	if len(v) >= minSecretLen && !slices.ContainsFunc(*s, func(b []byte) bool { return string(b) == v }) {
		*s = append(*s, []byte(v))
	}
}

// Sort puts the longest first, so that a value containing another is
// masked whole.
func (s Secrets) Sort() {
	slices.SortFunc(s, func(a, b []byte) int { return len(b) - len(a) })
}

// Mask returns b with every secret value replaced by as many '*' (the
// length is kept so that recorded stream chunk sizes stay true). It returns
// b itself when there is nothing to mask, else a copy.
func (s Secrets) Mask(b []byte) []byte {
	out, copied := b, false
	for _, sec := range s {
		if len(bytes.Trim(sec, "*")) == 0 {
			continue
		}
		for i := bytes.Index(out, sec); i >= 0; i = bytes.Index(out, sec) {
			if !copied {
				out, copied = slices.Clone(out), true
			}
			copy(out[i:i+len(sec)], bytes.Repeat([]byte("*"), len(sec)))
		}
	}
	return out
}

// MaskString is Mask for strings.
func (s Secrets) MaskString(str string) string {
	if len(s) == 0 {
		return str
	}
	return string(s.Mask([]byte(str)))
}

// requestHeaderAttrs returns http.request.header.<name> attributes (the
// OpenTelemetry HTTP convention) for the request headers that are not
// secrets, for display; they are not part of the signature.
func requestHeaderAttrs(h http.Header, sec Secrets) []attribute.KeyValue {
	names := make([]string, 0, len(h))
	for k := range h {
		if !IsSecretName(k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	attrs := make([]attribute.KeyValue, 0, len(names))
	for _, k := range names {
		vs := make([]string, len(h[k]))
		for i, v := range h[k] {
			vs[i] = string(sec.Mask([]byte(v)))
		}
		attrs = append(attrs, attribute.StringSlice("http.request.header."+strings.ToLower(k), vs))
	}
	return attrs
}

// responseHeaders returns the response headers that are recorded and
// handed to the client: all but secrets (Set-Cookie and the like), with
// secret values masked. The client sees these same headers when recording
// and when replaying.
func responseHeaders(h http.Header, sec Secrets) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, vs := range h {
		if IsSecretName(k) {
			continue
		}
		cp := make([]string, len(vs))
		for i, v := range vs {
			cp[i] = string(sec.Mask([]byte(v)))
		}
		out[textproto.CanonicalMIMEHeaderKey(k)] = cp
	}
	return out
}
