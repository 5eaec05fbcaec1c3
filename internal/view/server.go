package view

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/spanlog"
)

//go:embed assets
var assets embed.FS

// Handler serves the view of the store open returns: the page at /, its
// assets under /assets/, and the JSON API under /api/ (each answer's
// shape is a *Doc type of this package; errors are {"error": "…"} with a
// 4xx or 5xx status). open is called for every request, so that a store
// created after the server started is found.
//
// Requests whose Host header is not a loopback name or address (localhost,
// 127.0.0.0/8, ::1) get 403: the store holds prompts and tool results, and
// a page on another site must not reach it by rebinding its own name to
// 127.0.0.1.
func Handler(open func() (*spanlog.Store, error)) http.Handler {
	src := &source{open: open}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		page, err := pageHTML(nil)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	})
	mux.Handle("GET /assets/", http.FileServerFS(assets))
	api := func(pattern string, answer func(r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			doc, err := answer(r)
			if err != nil {
				writeError(w, err)
				return
			}
			writeJSON(w, http.StatusOK, doc)
		})
	}
	api("GET /api/runs", func(*http.Request) (any, error) { return src.runs() })
	api("GET /api/runs/{id}", func(r *http.Request) (any, error) { return src.runDoc(r.PathValue("id")) })
	api("GET /api/runs/{id}/status", func(r *http.Request) (any, error) { return src.status(r.PathValue("id")) })
	api("GET /api/runs/{id}/boundaries/{seq}", func(r *http.Request) (any, error) {
		seq, err := parseSeq(r.PathValue("seq"))
		if err != nil {
			return nil, err
		}
		return src.boundaryDoc(r.PathValue("id"), seq)
	})
	api("GET /api/runs/{id}/divergence", func(r *http.Request) (any, error) { return src.divergenceDoc(r.PathValue("id")) })
	api("GET /api/runs/{id}/why", func(r *http.Request) (any, error) {
		q := r.URL.Query()
		seq, err := parseSeq(q.Get("seq"))
		if err != nil {
			return nil, err
		}
		opts := analyze.ProvenanceOptions{Path: q.Get("path")}
		if m := q.Get("min"); m != "" {
			if opts.MinLength, err = strconv.Atoi(m); err != nil || opts.MinLength < 1 {
				return nil, errBadInput{fmt.Errorf("min=%q: want a length of 1 or more", m)}
			}
		}
		return src.whyDoc(r.PathValue("id"), seq, opts)
	})
	api("GET /api/compare", func(r *http.Request) (any, error) {
		a, b := r.URL.Query().Get("a"), r.URL.Query().Get("b")
		if a == "" || b == "" {
			return nil, errBadInput{errors.New("compare needs two runs: /api/compare?a=<trace-id>&b=<trace-id>")}
		}
		return src.compareDoc(a, b)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such API: " + r.Method + " " + r.URL.Path})
	})
	return guard(mux)
}

// guard refuses requests that do not come to a loopback name and sets the
// headers that keep the page to itself.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			http.Error(w, "agentrr view answers only requests to localhost or a loopback address", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether host (a Host header: name or address, with
// or without a port) names this machine's loopback interface.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func parseSeq(s string) (int64, error) {
	seq, err := strconv.ParseInt(s, 10, 64)
	if err != nil || seq < 0 {
		return 0, errBadInput{fmt.Errorf("seq %q: want a boundary's seq, 0 or more", s)}
	}
	return seq, nil
}

// status is the run's line in the run list, read without decoding its
// boundaries: what the page polls while a run is being recorded.
func (s *source) status(id string) (*spanlog.RunInfo, error) {
	store, full, err := s.resolve(id)
	if err != nil {
		return nil, err
	}
	info, err := store.Info(full)
	var rec *spanlog.RecordingError
	if errors.As(err, &rec) {
		info = recordingInfo(full, rec)
		return &info, nil
	}
	if err != nil {
		return &spanlog.RunInfo{RunMeta: spanlog.RunMeta{TraceID: full}, Status: spanlog.StatusDamaged, Reason: err.Error()}, nil
	}
	return &info, nil
}

// writeError answers err with the status its cause calls for.
func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var amb *spanlog.AmbiguousError
	var bad errBadInput
	var rec *spanlog.RecordingError
	switch {
	case errors.Is(err, spanlog.ErrNotFound), errors.Is(err, spanlog.ErrNoStore), errors.Is(err, errNotReplay):
		code = http.StatusNotFound
	case errors.As(err, &amb), errors.Is(err, spanlog.ErrBadTraceID), errors.As(err, &bad):
		code = http.StatusBadRequest
	case errors.As(err, &rec):
		code = http.StatusConflict
	case errors.Is(err, spanlog.ErrDamaged):
		code = http.StatusUnprocessableEntity
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
