package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/agentrr/agentrr/internal/httpx"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
)

// api is the API a request is for, which decides its upstream.
type api string

const (
	apiOpenAI    api = "openai"
	apiAnthropic api = "anthropic"
)

var _ http.Handler = (*Server)(nil)

// route returns the API of a request and its path at the upstream
// (escaped). /openai/… and /anthropic/… name the API (the base URLs Env
// gives); any other path is Anthropic's when the request carries the
// anthropic-version header every Anthropic SDK sends, else OpenAI's.
func route(r *http.Request) (api, string) {
	p := r.URL.EscapedPath()
	for _, a := range []api{apiOpenAI, apiAnthropic} {
		prefix := "/" + string(a)
		if p == prefix || strings.HasPrefix(p, prefix+"/") {
			rest := strings.TrimPrefix(p, prefix)
			if rest == "" {
				rest = "/"
			}
			return a, rest
		}
	}
	if r.Header.Get("Anthropic-Version") != "" {
		return apiAnthropic, p
	}
	return apiOpenAI, p
}

// hopHeaders are the headers of one connection, never forwarded (RFC 9110
// §7.6.1), and agentrr's own control headers.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
	HeaderRun, HeaderBranch,
}

func removeHop(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// ServeHTTP forwards one request through otelrr.Transport, with the context
// of its run and branch, and writes the response to the client as it
// arrives. See boundaryContext for how a request's run and branch are
// chosen.
//
// A whole (non-streamed) response is durably recorded before the client
// gets any of it. A streamed one (text/event-stream, NDJSON) is written to
// the client read by read, each flushed at once, and recorded when its body
// ends: after its last byte is read and before the handler returns, so
// before the response completes (the chunked encoding's last chunk is sent
// after the handler returns). A client that goes away mid-stream closes the
// upstream body: the stream is recorded cut where it was.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, path := route(r)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, a, http.StatusBadRequest, "agentrr_bad_request", "agentrr proxy: cannot read the request body: "+err.Error(), false)
		return
	}
	up := s.upstreams[a]
	target := *up
	target.RawPath = strings.TrimSuffix(up.EscapedPath(), "/") + path
	if target.Path, err = url.PathUnescape(target.RawPath); err != nil {
		writeError(w, a, http.StatusBadRequest, "agentrr_bad_request", "agentrr proxy: bad request path: "+err.Error(), false)
		return
	}
	target.RawQuery = r.URL.RawQuery

	ctx, _, err := s.boundaryContext(r, newRequestKey(r.Method, target.EscapedPath(), body))
	if err != nil {
		s.writeFailure(w, a, err)
		return
	}
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, target.String(), rd)
	if err != nil {
		writeError(w, a, http.StatusBadRequest, "agentrr_bad_request", "agentrr proxy: "+err.Error(), false)
		return
	}
	out.Header = r.Header.Clone()
	removeHop(out.Header)
	// The upstream's compression is undone by the Go client (when it asks
	// for gzip itself), so that what is recorded is the body the API
	// sent, as JSON or events, whatever encoding the client accepts.
	out.Header.Del("Accept-Encoding")
	out.Header.Del("Content-Length")
	out.ContentLength = int64(len(body))

	resp, err := s.transport.RoundTrip(out)
	if err != nil {
		s.writeFailure(w, a, err)
		return
	}
	s.writeResponse(w, r, resp)
}

// writeResponse copies resp to the client: its status and headers, then its
// body as it reads, flushing each read of a stream at once.
func (s *Server) writeResponse(w http.ResponseWriter, r *http.Request, resp *http.Response) {
	defer resp.Body.Close()
	streamed := httpx.IsStreamed(resp.Header)
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = append([]string(nil), vs...)
	}
	removeHop(h)
	h.Del("Content-Length")
	if !streamed && resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	flusher, _ := w.(http.Flusher)
	if streamed && flusher != nil {
		flusher.Flush() // the headers, before the first event
		// A client gone mid-stream unblocks the read: the stream is then
		// recorded as cut where it was (closed early by the client).
		stop := context.AfterFunc(r.Context(), func() { resp.Body.Close() })
		defer stop()
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away; Close records the cut
			}
			if streamed && flusher != nil {
				flusher.Flush()
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			// The upstream body failed (cut mid-way) and was recorded so:
			// the client gets the same cut.
			panic(http.ErrAbortHandler)
		}
	}
}

// Error types of the proxy's own answers (the "type" of the API's error
// body), also sent as the X-Agentrr-Error header.
const (
	errTypeUpstream   = "agentrr_upstream_error"
	errTypeDivergence = "agentrr_replay_divergence"
	errTypeStopped    = "agentrr_replay_stopped"
	errTypeInternal   = "agentrr_error"
)

// writeFailure answers a request whose exchange failed.
//
//   - A divergence on replay (or a replay stopped on request): 502 with
//     x-should-retry: false, so that SDKs give up at once instead of
//     retrying what will fail the same way, and the divergence's text.
//   - A failed exchange with the upstream (unreachable, reset, timed out),
//     recorded as such: 502 with the error's text, on replay the recorded
//     text. SDKs retry it as they would the connection error.
//   - Anything else (a run that cannot be stored, the proxy shutting
//     down): the status it carries, or 500, with x-should-retry: false.
func (s *Server) writeFailure(w http.ResponseWriter, a api, err error) {
	var div *replayer.DivergenceError
	var rec *otelrr.RecordedError
	var req *requestError
	switch {
	case errors.As(err, &div):
		writeError(w, a, http.StatusBadGateway, errTypeDivergence, err.Error(), false)
	case errors.Is(err, replayer.ErrStopped):
		writeError(w, a, http.StatusBadGateway, errTypeStopped, err.Error(), false)
	case errors.As(err, &rec):
		writeError(w, a, http.StatusBadGateway, errTypeUpstream, "agentrr proxy: upstream request failed: "+rec.Error(), true)
	case errors.As(err, &req):
		writeError(w, a, req.status, errTypeInternal, "agentrr proxy: "+req.msg, false)
	default:
		writeError(w, a, http.StatusInternalServerError, errTypeInternal, "agentrr proxy: "+err.Error(), false)
	}
}

// writeError writes an error in the API's own shape, so that its SDK
// raises its usual error type with the message.
func writeError(w http.ResponseWriter, a api, status int, typ, msg string, retry bool) {
	var body any
	if a == apiAnthropic {
		body = map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}}
	} else {
		body = map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": typ}}
	}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Agentrr-Error", typ)
	if !retry {
		h.Set("X-Should-Retry", "false")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
