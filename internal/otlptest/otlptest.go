// Package otlptest holds an OTLP/HTTP receiver for tests that check what
// is forwarded on the wire.
package otlptest

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Sink is a local OTLP/HTTP receiver that keeps every request body as sent
// (gzip undone) and answers each with an empty success.
type Sink struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

// NewSink starts a Sink, closed when the test ends.
func NewSink(t testing.TB) *Sink {
	s := &Sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.bodies = append(s.bodies, b)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

// Bodies returns the request bodies received so far, in the order they
// came.
func (s *Sink) Bodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}
