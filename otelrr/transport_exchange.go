package otelrr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/genai"
	"github.com/agentrr/agentrr/internal/redact"
)

// httpRequest is the recorded request of an HTTP boundary: what its
// signature covers. The host is not part of it (a recording made against
// one base URL replays against another), and neither are headers, except
// those that change what the API does (signatureHeaders).
type httpRequest struct {
	Method string              `json:"method"`
	Path   string              `json:"path"`
	Query  map[string][]string `json:"query,omitempty"`
	Header map[string][]string `json:"header,omitempty"`
	// Exactly one of the body fields is set when the request has a body:
	// Body for JSON (canonicalised: key order and white space do not
	// count), BodyText for other UTF-8 text, BodyBase64 for the rest.
	Body       json.RawMessage `json:"body,omitempty"`
	BodyText   *string         `json:"body_text,omitempty"`
	BodyBase64 []byte          `json:"body_base64,omitempty"`
}

// httpResponse is the recorded response of an HTTP boundary: everything
// replay needs to hand the client the same response, byte for byte.
type httpResponse struct {
	Status        int                 `json:"status"`
	StatusLine    string              `json:"status_line,omitempty"`
	Proto         string              `json:"proto,omitempty"`
	Header        map[string][]string `json:"header,omitempty"`
	ContentLength int64               `json:"content_length"`
	// NoBody is true when the response had no body at all (http.NoBody).
	NoBody bool `json:"no_body,omitempty"`
	// The body bytes exactly as the client read them: Body when they are
	// valid UTF-8, BodyBase64 otherwise.
	Body       *string `json:"body,omitempty"`
	BodyBase64 []byte  `json:"body_base64,omitempty"`
	// Stream is true for a body recorded as it streamed. Chunks then holds
	// the byte count of each read the client made, in order: replay hands
	// the client the same bytes in the same pieces.
	Stream bool  `json:"stream,omitempty"`
	Chunks []int `json:"chunks,omitempty"`
	// BodyError is the error the body's last read returned, when the body
	// did not end cleanly (a stream cut off): replay returns an error with
	// the same text after the same bytes.
	BodyError string `json:"body_error,omitempty"`
	// BodyErrorIs and BodyErrorTimeout classify BodyError as the helpers'
	// errors are (see RecordedError); BodyErrorIs is absent in recordings
	// made before errors were classified.
	BodyErrorIs      []string `json:"body_error_is,omitempty"`
	BodyErrorTimeout bool     `json:"body_error_timeout,omitempty"`
	// ClosedEarly is true when the client closed a streamed body before its
	// end: what came after is not in the recording.
	ClosedEarly bool `json:"closed_early,omitempty"`
}

// setBodyError records the error the body ended with.
func (r *httpResponse) setBodyError(e *RecordedError) {
	r.BodyError = e.Text
	r.BodyErrorIs = append([]string{}, e.Matches...)
	r.BodyErrorTimeout = e.IsTimeout
}

// bodyBytes returns the recorded body.
func (r *httpResponse) bodyBytes() []byte {
	if r.Body != nil {
		return []byte(*r.Body)
	}
	return r.BodyBase64
}

// setBody stores b in Body or BodyBase64.
func (r *httpResponse) setBody(b []byte) {
	r.Body, r.BodyBase64 = nil, nil
	if len(b) == 0 {
		return
	}
	if utf8.Valid(b) {
		s := string(b)
		r.Body = &s
		return
	}
	r.BodyBase64 = b
}

// signatureHeaders are the request headers that change what the API does,
// and so count in the signature. Every other header is left out of it:
// SDKs add volatile ones (idempotency keys, X-Stainless-Retry-Count and
// -Timeout, user agents, traceparent) that must not make a replay diverge.
var signatureHeaders = []string{"Anthropic-Beta", "Openai-Beta"}

// exchange is one HTTP request as the transport captured it.
type exchange struct {
	api      genai.API
	llm      genai.Request
	body     []byte // the request body as sent
	request  httpRequest
	reqJSON  []byte // canonical JSON of request (secrets masked)
	secrets  secrets
	sp       spec
	urlFull  string // without user info; secret query values masked
	hostPort string

	openedAt    int64                // the run's next seq when the request was sent
	streamAttrs []attribute.KeyValue // set on a streamed boundary when it is stored
}

// captureRequest reads (and closes) req's body and describes the request.
func captureRequest(req *http.Request) (*exchange, error) {
	ex := &exchange{}
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("otelrr: read the body of %s %s: %w", req.Method, req.URL.Path, err)
		}
		ex.body = b
	}
	ex.secrets = requestSecrets(req)

	u := req.URL
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	ex.request = httpRequest{Method: req.Method, Path: path}
	if q := u.Query(); len(q) > 0 {
		ex.request.Query = make(map[string][]string, len(q))
		for k, vs := range q {
			if isSecretName(k) {
				vs = []string{redacted}
			}
			ex.request.Query[k] = vs
		}
	}
	for _, h := range signatureHeaders {
		if vs := req.Header.Values(h); len(vs) > 0 {
			if ex.request.Header == nil {
				ex.request.Header = map[string][]string{}
			}
			ex.request.Header[h] = vs
		}
	}
	body := ex.secrets.mask(ex.body)
	rd := requestRedactor(req) // WithRedaction: what is stored, not what is sent
	if len(body) > 0 && isJSONBody(req.Header.Get("Content-Type"), body) {
		if canon, err := boundary.CanonicalizeJSON(body); err == nil {
			ex.request.Body = rd.JSON(canon)
		}
	}
	if len(body) > 0 && ex.request.Body == nil {
		if utf8.Valid(body) {
			s := rd.Text(string(normaliseMultipart(req.Header.Get("Content-Type"), body)))
			ex.request.BodyText = &s
		} else {
			ex.request.BodyBase64 = body
		}
	}
	reqJSON, err := boundary.Canonical(ex.request)
	if err != nil {
		return nil, fmt.Errorf("otelrr: %s %s: request cannot be recorded: %w", req.Method, path, err)
	}
	ex.reqJSON = reqJSON

	host := u.Hostname()
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	ex.hostPort = host + ":" + port
	safe := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	if len(ex.request.Query) > 0 {
		safe.RawQuery = url.Values(ex.request.Query).Encode()
	}
	ex.urlFull = safe.String()
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("server.address", host),
		attribute.String("url.full", ex.urlFull),
	}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	attrs = append(attrs, requestHeaderAttrs(req.Header, ex.secrets)...)

	ex.api = genai.Recognise(req.Method, u.Path)
	if ex.api != genai.None && ex.request.Body != nil {
		if llm, ok := genai.ParseRequest(ex.api, ex.request.Body); ok {
			ex.llm = llm
			ex.sp = spec{
				kind:     boundary.KindLLM,
				name:     llm.Model,
				spanName: genai.Operation + " " + llm.Model,
				spanKind: trace.SpanKindClient,
				attrs: append(append([]attribute.KeyValue{
					attribute.String(boundary.GenAIOperationName, genai.Operation),
					attribute.String(boundary.GenAIProviderName, genai.ProviderName(ex.api, host)),
				}, rd.Attributes(llm.Attributes)...), attrs...),
			}
			return ex, nil
		}
	}
	ex.api = genai.None
	name := req.Method + " " + u.Path
	ex.sp = spec{kind: boundary.KindHTTP, name: name, spanName: name, spanKind: trace.SpanKindClient, attrs: attrs}
	return ex, nil
}

// requestRedactor is the redactor of the run req belongs to (nil: none).
func requestRedactor(req *http.Request) *redact.Redactor {
	if run := runFromContext(req.Context()); run != nil {
		return run.rec.redact
	}
	return nil
}

// redactBody redacts with rd a whole response body that is about to be
// stored and handed to the client, keeping the recorded and handed-out
// lengths true.
func redactBody(rd *redact.Redactor, data []byte, rec *httpResponse, client *http.Response) []byte {
	out := rd.Body(data)
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

// isJSONBody reports whether a request body is to be compared as JSON.
func isJSONBody(contentType string, body []byte) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/json" || strings.HasSuffix(mt, "+json") {
		return true
	}
	// SDKs always label JSON, but a body that is a JSON object or array
	// compares better as JSON than as text whatever its label says.
	t := bytes.TrimSpace(body)
	return mt == "" && len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(t)
}

// normaliseMultipart replaces the random boundary of a multipart body with
// a fixed one, so that the same upload has the same signature every time.
func normaliseMultipart(contentType string, body []byte) []byte {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return body
	}
	return bytes.ReplaceAll(body, []byte(params["boundary"]), []byte("agentrr-multipart-boundary"))
}

// requestHeaderAttrs returns http.request.header.<name> attributes (the
// OpenTelemetry HTTP convention) for the request headers that are not
// secrets, for display; they are not part of the signature.
func requestHeaderAttrs(h http.Header, sec secrets) []attribute.KeyValue {
	names := make([]string, 0, len(h))
	for k := range h {
		if !isSecretName(k) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	attrs := make([]attribute.KeyValue, 0, len(names))
	for _, k := range names {
		vs := make([]string, len(h[k]))
		for i, v := range h[k] {
			vs[i] = string(sec.mask([]byte(v)))
		}
		attrs = append(attrs, attribute.StringSlice("http.request.header."+strings.ToLower(k), vs))
	}
	return attrs
}

// responseHeaders returns the response headers that are recorded and
// handed to the client: all but secrets (Set-Cookie and the like), with
// secret values masked. The client sees these same headers when recording
// and when replaying.
func responseHeaders(h http.Header, sec secrets) map[string][]string {
	out := make(map[string][]string, len(h))
	for k, vs := range h {
		if isSecretName(k) {
			continue
		}
		cp := make([]string, len(vs))
		for i, v := range vs {
			cp[i] = string(sec.mask([]byte(v)))
		}
		out[textproto.CanonicalMIMEHeaderKey(k)] = cp
	}
	return out
}

const redacted = "REDACTED"

// secretWords are the words (of a header or query parameter name split on
// '-' and '_') that make it a secret: its value is never stored, never put
// on a span, and masked wherever else it appears.
var secretWords = map[string]bool{
	"auth": true, "authorization": true, "cookie": true, "cookie2": true,
	"key": true, "apikey": true, "secret": true, "password": true, "passwd": true,
	"credential": true, "credentials": true, "token": true, "session": true,
	"signature": true, "sig": true,
}

// isSecretName reports whether a header or query parameter name names a
// secret: Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-Api-Key,
// Api-Key, X-Goog-Api-Key, X-Amz-Security-Token, access_token, key, sig, …
func isSecretName(name string) bool {
	for _, w := range strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '-' || r == '_' || r == '.' }) {
		if secretWords[w] {
			return true
		}
	}
	return false
}

// secrets are the secret values of one request (API keys, tokens, cookie
// values): masked wherever they would otherwise be stored.
type secrets [][]byte

// minSecretLen is the shortest value masked: shorter ones would mask
// ordinary text.
const minSecretLen = 8

// requestSecrets collects the values of req's secret headers and query
// parameters and its URL password, with and without their auth scheme.
func requestSecrets(req *http.Request) secrets {
	var s secrets
	add := func(v string) {
		v = strings.TrimSpace(v)
		if len(v) >= minSecretLen && !slices.ContainsFunc(s, func(b []byte) bool { return string(b) == v }) {
			s = append(s, []byte(v))
		}
	}
	for k, vs := range req.Header {
		if !isSecretName(k) {
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
		if isSecretName(k) {
			for _, v := range vs {
				add(v)
			}
		}
	}
	if p, ok := req.URL.User.Password(); ok {
		add(p)
	}
	// Longest first, so that a value containing another is masked whole.
	slices.SortFunc(s, func(a, b []byte) int { return len(b) - len(a) })
	return s
}

// mask returns b with every secret value replaced by as many '*' (the
// length is kept so that recorded stream chunk sizes stay true). It returns
// b itself when there is nothing to mask, else a copy.
func (s secrets) mask(b []byte) []byte {
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

// maskString is mask for strings.
func (s secrets) maskString(str string) string {
	if len(s) == 0 {
		return str
	}
	return string(s.mask([]byte(str)))
}
