// Package fakeapi is a local stand-in for the OpenAI Chat Completions and
// Responses APIs and the Anthropic Messages API: an httptest server speaking both wire formats,
// JSON and server-sent-event streams included, with a scripted,
// deterministic model that calls tools. Agents built on the real SDKs
// (github.com/openai/openai-go/v3, github.com/anthropics/anthropic-sdk-go/v2)
// run against it with no key and no network; tests queue failures (429 with
// Retry-After, 500, a stream cut off mid-way) to see how the agent and
// agentrr cope.
//
// The model: while the request declares tools the conversation has not yet
// called since the last user message, it calls the next one (in declaration
// order, one call per turn), filling each string parameter with the first
// word of the user's message that contains a digit (an id such as A-1001),
// else with the whole message. An OpenAI request with parallel_tool_calls
// true gets a call of every tool not yet called at once: one assistant
// message with several tool_calls (ids call_fake_<n>_0, _1, …), streamed
// one call after the other. Once every tool has answered, it replies
// "Here is what I found: " followed by the tool results. The Responses API
// follows the same script, with function_call output items (ids
// call_fake_<n>, several at once with parallel_tool_calls true) and
// function_call_output input items. Without tools it
// replies "You said: " and the user's message. Server.AnswerEarly makes it
// vary from call to call, as a real model does: on the calls it picks, it
// answers with what it has instead of calling the next tool. Streamed text comes in
// pieces of three words, tool arguments in three pieces.
package fakeapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Fault is a failure the server answers one request with instead of the
// model's reply. Zero fields are not applied.
type Fault struct {
	// Status, when not 0, answers with this HTTP status and the API's error
	// body (429 is a rate_limit_error, ≥ 500 a server error, others an
	// invalid_request_error).
	Status int
	// RetryAfter and RetryAfterMs set the Retry-After and Retry-After-Ms
	// headers of a Status answer.
	RetryAfter, RetryAfterMs string
	// CutAfter, when not 0, answers normally but drops the connection after
	// CutAfter server-sent events of a streamed reply (or after half the
	// body of a JSON reply): the client reads a truncated body and then an
	// error.
	CutAfter int
}

// Request is a request the server answered, as tests see it.
type Request struct {
	// API is "openai" or "anthropic".
	API    string
	Path   string
	Model  string
	Stream bool
	// Header holds the request's headers as received, Body its body.
	Header http.Header
	Body   []byte
	// Fault is the fault the request was answered with, if any.
	Fault *Fault
}

// Server is a running fake API server. Close it when done.
type Server struct {
	*httptest.Server

	// APIKey, when not empty, is the key every request must carry
	// (Authorization: Bearer <key>, or X-Api-Key: <key>); others get a 401
	// whose message quotes the key they sent, as real APIs partly do.
	APIKey string
	// EventDelay, when not 0, is how long the server pauses after each
	// server-sent event, so that a client reads a stream in several pieces
	// as it would from a real API.
	EventDelay time.Duration
	// AnswerEarly, when set, is asked each time the model is about to call
	// a tool, with the number of that decision (1, 2, …, counted over the
	// server's life): when it returns true the model answers with the tool
	// results it has instead ("Here is what I found: …").
	AnswerEarly func(decision int) bool
	// Hold, when set, is called with each request once it is noted, before
	// it is answered: a test can block there to catch its client mid-call.
	Hold func(Request)

	mu        sync.Mutex
	faults    []Fault
	requests  []Request
	ids       int
	decisions int
}

// New starts a server. Its OpenAI base URL is OpenAIBaseURL(), its
// Anthropic base URL AnthropicBaseURL().
func New() *Server { return NewWith(nil) }

// NewWith starts a server after configure has set its fields (APIKey,
// EventDelay, AnswerEarly, Hold): the way to configure a server whose
// clients run in other processes, where nothing orders a field set after
// New before the server's handlers read it.
func NewWith(configure func(*Server)) *Server {
	s := &Server{}
	if configure != nil {
		configure(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.openAIChat)
	mux.HandleFunc("POST /v1/responses", s.openAIResponses)
	mux.HandleFunc("POST /v1/messages", s.anthropicMessages)
	s.Server = httptest.NewServer(mux)
	return s
}

// OpenAIBaseURL is the base URL to give openai-go (option.WithBaseURL).
func (s *Server) OpenAIBaseURL() string { return s.URL + "/v1/" }

// AnthropicBaseURL is the base URL to give anthropic-sdk-go (option.WithBaseURL).
func (s *Server) AnthropicBaseURL() string { return s.URL + "/" }

// Configure sets APIKey and EventDelay while the server runs. Set the
// fields directly only before the first request, or from a goroutine
// that talks to the server itself: a client in another process gives the
// race detector no order between the assignment and the server's read.
func (s *Server) Configure(apiKey string, eventDelay time.Duration) {
	s.mu.Lock()
	s.APIKey, s.EventDelay = apiKey, eventDelay
	s.mu.Unlock()
}

// Fail queues faults: each answers one of the next requests, in order.
func (s *Server) Fail(faults ...Fault) {
	s.mu.Lock()
	s.faults = append(s.faults, faults...)
	s.mu.Unlock()
}

// Requests returns the requests answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// accept takes a request of api: it reads the body, notes the request
// (begin), answers a queued status fault, and decodes the body into req.
// ok is false when the request was answered already.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, api string, req any) (fault *Fault, id int, ok bool) {
	body, ok := readBody(w, r)
	if !ok {
		return nil, 0, false
	}
	fault, id, ok = s.begin(w, r, api, body)
	if !ok || applyStatusFault(w, api, fault) {
		return nil, 0, false
	}
	if err := json.Unmarshal(body, req); err != nil {
		writeError(w, api, http.StatusBadRequest, "request body is not JSON: "+err.Error())
		return nil, 0, false
	}
	return fault, id, true
}

// begin reads a request: it checks the key, takes the next fault and
// notes the request. ok is false when it already answered (401).
func (s *Server) begin(w http.ResponseWriter, r *http.Request, api string, body []byte) (fault *Fault, id int, ok bool) {
	var head struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	_ = json.Unmarshal(body, &head)
	s.mu.Lock()
	defer s.mu.Unlock()
	req := Request{API: api, Path: r.URL.Path, Model: head.Model, Stream: head.Stream, Header: r.Header.Clone(), Body: body}
	if s.APIKey != "" {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if got == "" {
			got = r.Header.Get("X-Api-Key")
		}
		if got != s.APIKey {
			s.requests = append(s.requests, req)
			writeError(w, api, http.StatusUnauthorized, fmt.Sprintf("Incorrect API key provided: %s.", got))
			return nil, 0, false
		}
	}
	if len(s.faults) > 0 {
		f := s.faults[0]
		s.faults = s.faults[1:]
		fault, req.Fault = &f, &f
	}
	s.requests = append(s.requests, req)
	s.ids++
	if s.Hold != nil {
		s.mu.Unlock()
		s.Hold(req)
		s.mu.Lock()
	}
	return fault, s.ids, true
}

// vary applies AnswerEarly to the model's reply rep to conv.
func (s *Server) vary(conv conversation, rep reply) reply {
	if s.AnswerEarly == nil || len(rep.calls) == 0 {
		return rep
	}
	s.mu.Lock()
	s.decisions++
	n := s.decisions
	s.mu.Unlock()
	if s.AnswerEarly(n) {
		return reply{text: "Here is what I found: " + strings.Join(conv.results, " ")}
	}
	return rep
}

// applyStatusFault answers with f's status, if it has one.
func applyStatusFault(w http.ResponseWriter, api string, f *Fault) bool {
	if f == nil || f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.RetryAfterMs != "" {
		w.Header().Set("Retry-After-Ms", f.RetryAfterMs)
	}
	msg := fmt.Sprintf("fake %d: %s", f.Status, http.StatusText(f.Status))
	writeError(w, api, f.Status, msg)
	return true
}

func writeError(w http.ResponseWriter, api string, status int, msg string) {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusUnauthorized:
		typ = "authentication_error"
	case status == http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case status >= 500:
		typ = "api_error"
		if api == "openai" {
			typ = "server_error"
		}
	}
	var body any
	if api == "anthropic" {
		body = map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}}
	} else {
		body = map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeJSON writes v as the reply, cut in half when f says so.
func writeJSON(w http.ResponseWriter, f *Fault, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	if f != nil && f.CutAfter != 0 {
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:len(b)/2])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	_, _ = w.Write(b)
}

// sse writes server-sent events, flushing each, and drops the connection
// after the fault's CutAfter events.
type sse struct {
	w     http.ResponseWriter
	cut   int
	sent  int
	delay time.Duration
}

func (s *Server) newSSE(w http.ResponseWriter, f *Fault) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	s.mu.Lock()
	delay := s.EventDelay
	s.mu.Unlock()
	out := &sse{w: w, delay: delay}
	if f != nil {
		out.cut = f.CutAfter
	}
	return out
}

// event writes one event; typ is the "event:" field, left out when empty.
func (s *sse) event(typ string, data any) {
	if s.cut > 0 && s.sent == s.cut {
		panic(http.ErrAbortHandler) // drop the connection mid-stream
	}
	var payload []byte
	switch d := data.(type) {
	case string:
		payload = []byte(d)
	default:
		payload, _ = json.Marshal(d)
	}
	if typ != "" {
		fmt.Fprintf(s.w, "event: %s\n", typ)
	}
	fmt.Fprintf(s.w, "data: %s\n\n", payload)
	s.w.(http.Flusher).Flush()
	s.sent++
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return b, true
}
