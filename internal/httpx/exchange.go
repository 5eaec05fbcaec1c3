package httpx

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/genai"
	"github.com/agentrr/agentrr/internal/redact"
)

// Exchange is one HTTP request as Capture read it, and what recording its
// response needs: the request's secrets, the redaction rules and the LLM
// API it is for. Its boundary is a CLIENT span.
type Exchange struct {
	// Kind, Name and SpanName name the boundary: an llm boundary named
	// after the model, its span "chat {model}", for a recognised LLM API
	// request with a model; else an http boundary "METHOD /path".
	Kind     boundary.Kind
	Name     string
	SpanName string
	// Attrs are the span attributes of the request: for an llm boundary
	// the GenAI ones (redacted), then the HTTP conventions' (method,
	// server, url.full with secret query values masked, and the headers
	// that are not secrets).
	Attrs []attribute.KeyValue
	// API is the LLM API of an llm boundary; genai.None for an http one.
	API genai.API

	// Body is the request body as it is to be sent, secrets included.
	Body []byte
	// Request is the recorded request; RequestJSON its canonical JSON,
	// what the boundary stores and its signature covers.
	Request     Request
	RequestJSON []byte
	// HostPort is the server's host:port (the port the scheme implies when
	// the URL has none).
	HostPort string

	secrets Secrets
	redact  *redact.Redactor
}

// Capture reads (and closes) req's body and describes the request: its
// recorded form, with secret query values replaced, secret values in the
// body masked and the rules of rd applied (rd may be nil), and its
// boundary. The request sent is not changed: send Body with it. An error
// means the body could not be read or the request cannot be recorded.
func Capture(req *http.Request, rd *redact.Redactor) (*Exchange, error) {
	ex := &Exchange{redact: rd}
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read the body of %s %s: %w", req.Method, req.URL.Path, err)
		}
		ex.Body = b
	}
	ex.secrets = requestSecrets(req)

	u := req.URL
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	ex.Request = Request{Method: req.Method, Path: path}
	if q := u.Query(); len(q) > 0 {
		ex.Request.Query = make(map[string][]string, len(q))
		for k, vs := range q {
			if IsSecretName(k) {
				vs = []string{redacted}
			}
			ex.Request.Query[k] = vs
		}
	}
	for _, h := range signatureHeaders {
		if vs := req.Header.Values(h); len(vs) > 0 {
			if ex.Request.Header == nil {
				ex.Request.Header = map[string][]string{}
			}
			ex.Request.Header[h] = vs
		}
	}
	body := ex.secrets.Mask(ex.Body)
	if len(body) > 0 && isJSONBody(req.Header.Get("Content-Type"), body) {
		if canon, err := boundary.CanonicalizeJSON(body); err == nil {
			ex.Request.Body = rd.JSON(canon)
		}
	}
	if len(body) > 0 && ex.Request.Body == nil {
		if utf8.Valid(body) {
			s := rd.Text(string(normaliseMultipart(req.Header.Get("Content-Type"), body)))
			ex.Request.BodyText = &s
		} else {
			ex.Request.BodyBase64 = body
		}
	}
	reqJSON, err := boundary.Canonical(ex.Request)
	if err != nil {
		return nil, fmt.Errorf("%s %s: request cannot be recorded: %w", req.Method, path, err)
	}
	ex.RequestJSON = reqJSON

	host := u.Hostname()
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	ex.HostPort = host + ":" + port
	safe := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	if len(ex.Request.Query) > 0 {
		safe.RawQuery = url.Values(ex.Request.Query).Encode()
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("server.address", host),
		attribute.String("url.full", safe.String()),
	}
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, attribute.Int("server.port", p))
	}
	attrs = append(attrs, requestHeaderAttrs(req.Header, ex.secrets)...)

	if api := genai.Recognise(req.Method, u.Path); api != genai.None && ex.Request.Body != nil {
		if llm, ok := genai.ParseRequest(api, ex.Request.Body); ok {
			ex.API = api
			ex.Kind = boundary.KindLLM
			ex.Name = llm.Model
			ex.SpanName = genai.Operation + " " + llm.Model
			ex.Attrs = append(append([]attribute.KeyValue{
				attribute.String(boundary.GenAIOperationName, genai.Operation),
				attribute.String(boundary.GenAIProviderName, genai.ProviderName(api, host)),
			}, rd.Attributes(llm.Attributes)...), attrs...)
			return ex, nil
		}
	}
	ex.Kind = boundary.KindHTTP
	ex.Name = req.Method + " " + u.Path
	ex.SpanName = ex.Name
	ex.Attrs = attrs
	return ex, nil
}

// ErrorText is the recorded text of err, an error of the exchange (the
// request's, or its body's): secret values masked, redaction applied.
func (ex *Exchange) ErrorText(err error) string {
	return ex.redact.Text(ex.secrets.MaskString(err.Error()))
}

// RecordResponse returns the recorded form of resp, without its body, and
// the response the client gets, answering req: resp with the recorded
// headers (secret ones dropped, secret values masked) and no trailers.
// The caller sets client.Body.
func (ex *Exchange) RecordResponse(resp *http.Response, req *http.Request) (rec *Response, client *http.Response) {
	rec = &Response{
		Status:        resp.StatusCode,
		StatusLine:    resp.Status,
		Proto:         resp.Proto,
		Header:        responseHeaders(resp.Header, ex.secrets),
		ContentLength: resp.ContentLength,
		NoBody:        resp.Body == nil || resp.Body == http.NoBody,
	}
	c := *resp
	c.Header = http.Header(rec.Header).Clone()
	c.Trailer = nil
	c.Request = req
	return rec, &c
}

// RecordBody stores data, a whole response body read before the client
// gets any of it, in rec: secret values masked and redaction applied. It
// returns the body the client gets, the same bytes, and keeps the
// recorded and handed-out lengths true when redaction changed the length.
func (ex *Exchange) RecordBody(rec *Response, client *http.Response, data []byte) []byte {
	masked := ex.secrets.Mask(data)
	out := ex.redact.Body(masked)
	if len(out) != len(masked) {
		if rec.ContentLength >= 0 {
			rec.ContentLength = int64(len(out))
			client.ContentLength = rec.ContentLength
		}
		if _, ok := rec.Header["Content-Length"]; ok {
			n := []string{strconv.Itoa(len(out))}
			rec.Header["Content-Length"] = n
			client.Header["Content-Length"] = n
		}
	}
	rec.SetBody(out)
	return out
}

// StreamBody is the stored form of data, a streamed body the client
// already got: secret values masked, redaction applied (the client saw it
// unredacted; see otelrr.WithRedaction).
func (ex *Exchange) StreamBody(data []byte) []byte {
	return ex.redact.Body(ex.secrets.Mask(data))
}

// ResponseSpan is what a recorded response adds to its boundary span.
type ResponseSpan struct {
	// Attrs are the response's attributes: http.response.status_code,
	// agentrr.http.stream, error.type, and the GenAI response attributes
	// (redacted) of an llm boundary that succeeded.
	Attrs []attribute.KeyValue
	// Error, when not empty, is the description of the span's Error
	// status: an HTTP status ≥ 400, or a body that did not end cleanly.
	Error string
	// ToolCalls are the attributes of one boundary.EventGenAIToolCall
	// span event per tool call the model requested (redacted).
	ToolCalls [][]attribute.KeyValue
}

// ResponseSpan reads rec, the recorded response of ex, for its span. It is
// the same when recording and when replaying.
func (ex *Exchange) ResponseSpan(rec *Response) ResponseSpan {
	s := ResponseSpan{Attrs: []attribute.KeyValue{attribute.Int("http.response.status_code", rec.Status)}}
	if rec.Stream {
		s.Attrs = append(s.Attrs, attribute.Bool(boundary.AttrHTTPStream, true))
	}
	switch {
	case rec.Status >= 400:
		s.Attrs = append(s.Attrs, attribute.String("error.type", strconv.Itoa(rec.Status)))
		s.Error = "HTTP " + rec.statusLine()
	case rec.BodyError != "":
		s.Attrs = append(s.Attrs, attribute.String("error.type", "body_read"))
		s.Error = "response body: " + rec.BodyError
	case ex.API != genai.None:
		res := genai.ParseResponse(ex.API, rec.BodyBytes(), rec.Stream)
		s.Attrs = append(s.Attrs, ex.redact.Attributes(res.Attributes())...)
		for _, ev := range res.ToolCallEvents() {
			s.ToolCalls = append(s.ToolCalls, ex.redact.Attributes(ev))
		}
	}
	return s
}
