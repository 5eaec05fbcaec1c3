package httpx

import (
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Response is the recorded response of an HTTP boundary: everything replay
// needs to hand the client the same response, byte for byte.
type Response struct {
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
	// errors are (see otelrr.RecordedError); BodyErrorIs is absent in
	// recordings made before errors were classified.
	BodyErrorIs      []string `json:"body_error_is,omitempty"`
	BodyErrorTimeout bool     `json:"body_error_timeout,omitempty"`
	// ClosedEarly is true when the client closed a streamed body before its
	// end: what came after is not in the recording.
	ClosedEarly bool `json:"closed_early,omitempty"`
}

// SetBodyError records the error the body ended with: its text (secrets
// masked, redacted), the names of the sentinel errors it matched, and
// whether it was a timeout.
func (r *Response) SetBodyError(text string, matches []string, timeout bool) {
	r.BodyError = text
	r.BodyErrorIs = append([]string{}, matches...)
	r.BodyErrorTimeout = timeout
}

// BodyBytes returns the recorded body. The slice is r's own: do not
// modify it.
func (r *Response) BodyBytes() []byte {
	if r.Body != nil {
		return []byte(*r.Body)
	}
	return r.BodyBase64
}

// SetBody stores b in Body or BodyBase64 (which keeps b itself).
func (r *Response) SetBody(b []byte) {
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

// statusLine is the response's status line ("429 Too Many Requests").
func (r *Response) statusLine() string {
	if r.StatusLine != "" {
		return r.StatusLine
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", r.Status, http.StatusText(r.Status)))
}

// IsStreamed reports whether a response with header h is recorded as it
// streams (server-sent events, JSON lines) rather than read whole first.
func IsStreamed(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	switch mt {
	case "text/event-stream", "application/x-ndjson", "application/jsonl", "application/x-jsonlines":
		return true
	}
	return false
}

// HTTPResponse is the response replay hands the client for r, answering
// req, with header (r's, possibly changed: see ZeroRetryWait) and no body:
// the caller sets Body (http.NoBody when r.NoBody, else a NewReplayBody).
func (r *Response) HTTPResponse(req *http.Request, header http.Header) *http.Response {
	resp := &http.Response{
		Status:        r.statusLine(),
		StatusCode:    r.Status,
		Proto:         r.Proto,
		Header:        header,
		ContentLength: r.ContentLength,
		Request:       req,
	}
	if resp.Proto == "" {
		resp.Proto = "HTTP/1.1"
	}
	resp.ProtoMajor, resp.ProtoMinor, _ = http.ParseHTTPVersion(resp.Proto)
	return resp
}

// CloneHeader returns a copy of r's headers, never nil.
func (r *Response) CloneHeader() http.Header {
	header := http.Header(r.Header).Clone()
	if header == nil {
		header = http.Header{}
	}
	return header
}

// Retryable reports whether the SDKs retry a response like r: status 408,
// 409, 429 or ≥ 500, unless an x-should-retry header says otherwise.
func (r *Response) Retryable() bool {
	retryable := r.Status == http.StatusRequestTimeout || r.Status == http.StatusConflict ||
		r.Status == http.StatusTooManyRequests || r.Status >= 500
	switch strings.ToLower(http.Header(r.Header).Get("X-Should-Retry")) {
	case "true":
		retryable = true
	case "false":
		retryable = false
	}
	return retryable
}

// ZeroRetryWait makes header ask for an immediate retry, for a response the
// client retried at once in the recording: Retry-After-Ms, which both SDKs
// read first, says 0; a Retry-After that was there stays there, saying 0
// too. It returns the values it replaced, as recorded in
// boundary.AttrHTTPRetryWaitSkipped.
func ZeroRetryWait(header http.Header) (was string) {
	was = fmt.Sprintf("Retry-After-Ms=%q Retry-After=%q", header.Get("Retry-After-Ms"), header.Get("Retry-After"))
	if header.Get("Retry-After") != "" {
		header.Set("Retry-After", "0")
	}
	header.Set("Retry-After-Ms", "0")
	return was
}
