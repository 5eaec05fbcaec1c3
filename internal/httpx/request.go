package httpx

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"
)

// Request is the recorded request of an HTTP boundary: what its signature
// covers. The host is not part of it (a recording made against one base
// URL replays against another), and neither are headers, except those that
// change what the API does (signatureHeaders).
type Request struct {
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

// signatureHeaders are the request headers that change what the API does,
// and so count in the signature. Every other header is left out of it:
// SDKs add volatile ones (idempotency keys, X-Stainless-Retry-Count and
// -Timeout, user agents, traceparent) that must not make a replay diverge.
var signatureHeaders = []string{"Anthropic-Beta", "Openai-Beta"}

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
