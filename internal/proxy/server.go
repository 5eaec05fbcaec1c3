package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
)

// The upstreams a recording proxy forwards to unless told otherwise.
const (
	DefaultOpenAIUpstream    = "https://api.openai.com"
	DefaultAnthropicUpstream = "https://api.anthropic.com"
)

// DefaultListen is the address the proxy listens on by default: a free port
// on the loopback interface, so that only programs on this machine reach it.
const DefaultListen = "127.0.0.1:0"

// DefaultRunName names the runs the proxy records unless told otherwise.
const DefaultRunName = "proxy"

// Config configures a proxy. The zero Config records into the default
// store on a free loopback port, forwarding to the real APIs.
type Config struct {
	// Listen is the host:port to listen on (DefaultListen when empty).
	Listen string
	// Store is the store directory ("": $AGENTRR_STORE, else .agentrr).
	Store string
	// OpenAIUpstream and AnthropicUpstream are the base URLs requests of
	// each API are forwarded to when recording (DefaultOpenAIUpstream,
	// DefaultAnthropicUpstream when empty), without the /v1 the SDKs add:
	// a request for /openai/v1/chat/completions goes to
	// OpenAIUpstream + /v1/chat/completions.
	OpenAIUpstream, AnthropicUpstream string
	// Upstream sends requests to the upstreams when recording (a transport
	// like http.DefaultTransport when nil). It is never called on replay.
	Upstream http.RoundTripper
	// RunName is the name of the runs the proxy starts (DefaultRunName
	// when empty); a request's X-Agentrr-Run names its run instead.
	RunName string
	// Replay, when set, puts the proxy in replay mode: every request is
	// answered from this recording, with ReplayOptions (mode, chaos…),
	// and none reaches an upstream.
	Replay     *replayer.Recording
	ReplayMode replayer.Mode // Strict when empty
	// ReplayOptions are further replay options (chaos, a report file).
	ReplayOptions []replayer.Option
	// Options are added to the tracer provider's options, after
	// otelrr.FromEnv (redaction rules, forwarding, a store).
	Options []otelrr.Option
}

// CheckUpstream says what is wrong with an upstream base URL, if anything:
// it must be an absolute http:// or https:// URL.
func CheckUpstream(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL", raw)
	}
	return nil
}

// ListenError is returned by New when the proxy cannot listen on its
// address (a port in use, an address not of this machine).
type ListenError struct {
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	msg := fmt.Sprintf("cannot listen on %s: %v", e.Addr, e.Err)
	if errors.Is(e.Err, errAddrInUse) || strings.Contains(e.Err.Error(), "address already in use") {
		msg += " (another program holds that port: give another one with --port, or --port 0 for a free one)"
	}
	return msg
}

func (e *ListenError) Unwrap() error { return e.Err }

var errAddrInUse = errors.New("address already in use")

// Server is a running proxy. Close it to stop it and end its runs.
type Server struct {
	cfg       Config
	ln        net.Listener
	srv       *http.Server
	served    chan error
	tp        *otelrr.TracerProvider
	transport http.RoundTripper
	upstreams map[api]*url.URL
	url       string
	loopback  bool
	strict    bool

	mu     sync.Mutex
	runs   map[string]*proxyRun // by key: "" the session run, "trace:<id>", "name:<name>"
	order  []*proxyRun
	replay *proxyRun // the replayed run, in replay mode
	// extra holds the divergences the proxy itself found (ambiguous
	// parallel spans), halt the error every later request gets in strict
	// mode once one was found.
	extra  []analyze.Divergence
	halt   error
	closed bool
}

// New starts a proxy: it listens, then serves in the background until
// Close. In replay mode the replayed run starts now.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.RunName == "" {
		cfg.RunName = DefaultRunName
	}
	s := &Server{cfg: cfg, runs: map[string]*proxyRun{}, upstreams: map[api]*url.URL{}, strict: true}
	for a, raw := range map[api]string{apiOpenAI: cfg.OpenAIUpstream, apiAnthropic: cfg.AnthropicUpstream} {
		if raw == "" {
			raw = map[api]string{apiOpenAI: DefaultOpenAIUpstream, apiAnthropic: DefaultAnthropicUpstream}[a]
		}
		if err := CheckUpstream(raw); err != nil {
			return nil, fmt.Errorf("%s upstream: %w", a, err)
		}
		u, _ := url.Parse(raw)
		u.RawQuery, u.Fragment = "", ""
		s.upstreams[a] = u
	}

	network := "tcp"
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, &ListenError{Addr: cfg.Listen, Err: err}
	}
	ip := net.ParseIP(host)
	if ip != nil && ip.To4() != nil {
		network = "tcp4" // 0.0.0.0 means IPv4, not every address
	}
	ln, err := net.Listen(network, cfg.Listen)
	if err != nil {
		return nil, &ListenError{Addr: cfg.Listen, Err: err}
	}
	s.ln = ln
	s.loopback = ip != nil && ip.IsLoopback() || host == "localhost"
	// Clients on this machine reach an unspecified address on loopback.
	connect := ln.Addr().(*net.TCPAddr)
	if connect.IP.IsUnspecified() {
		connect = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: connect.Port}
	}
	s.url = "http://" + connect.String()

	opts := []otelrr.Option{otelrr.FromEnv()}
	if os.Getenv("OTEL_SERVICE_NAME") == "" {
		opts = append(opts, otelrr.WithServiceName("agentrr-proxy"))
	}
	if cfg.Store != "" {
		opts = append(opts, otelrr.WithStore(cfg.Store))
	}
	if cfg.Replay != nil {
		if cfg.ReplayMode == "" {
			cfg.ReplayMode = replayer.Strict
		}
		s.strict = cfg.ReplayMode == replayer.Strict
		ropts := append([]replayer.Option{replayer.WithMode(cfg.ReplayMode)}, cfg.ReplayOptions...)
		opts = append(opts, otelrr.WithReplay(cfg.Replay, ropts...))
	}
	opts = append(opts, cfg.Options...)
	tp, err := otelrr.NewTracerProvider(ctx, opts...)
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.tp = tp
	base := cfg.Upstream
	if base == nil {
		base = defaultUpstream()
	}
	s.transport = otelrr.Transport(base)

	if cfg.Replay != nil {
		name := cfg.Replay.Info.Name
		if name == "" {
			name = cfg.RunName
		}
		pr, err := s.startRun(context.WithoutCancel(ctx), name)
		if err != nil {
			_ = tp.Shutdown(context.WithoutCancel(ctx))
			ln.Close()
			return nil, err
		}
		pr.spans = newReplayResolver(spanPrefix, cfg.Replay)
		pr.reqs = newReplayResolver(requestPrefix, cfg.Replay)
		s.replay = pr
	}

	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
	}
	s.served = make(chan error, 1)
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

// defaultUpstream is the transport to the real APIs: http.DefaultTransport's
// settings, with enough idle connections for many concurrent clients.
func defaultUpstream() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return t
}

// URL is the proxy's base URL, http://host:port.
func (s *Server) URL() string { return s.url }

// Addr is the address the proxy listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Loopback reports whether the proxy listens on the loopback interface
// alone, so that only programs on this machine reach it.
func (s *Server) Loopback() bool { return s.loopback }

// Replaying reports whether the proxy answers from a recording.
func (s *Server) Replaying() bool { return s.cfg.Replay != nil }

// OpenAIBaseURL is the base URL to give an OpenAI SDK (OPENAI_BASE_URL).
func (s *Server) OpenAIBaseURL() string { return s.url + "/openai/v1" }

// AnthropicBaseURL is the base URL to give an Anthropic SDK
// (ANTHROPIC_BASE_URL).
func (s *Server) AnthropicBaseURL() string { return s.url + "/anthropic" }

// Upstream returns the upstream base URL of an API ("openai", "anthropic").
func (s *Server) Upstream(apiName string) string {
	if u, ok := s.upstreams[api(apiName)]; ok {
		return u.String()
	}
	return ""
}

// Env returns the environment variables that point a client at the proxy:
// OPENAI_BASE_URL and ANTHROPIC_BASE_URL. In replay mode it adds, where env
// does not set them, placeholder API keys (SDKs refuse to start without
// one; replay needs none) and OPENAI_AGENTS_DISABLE_TRACING=1, since the
// OpenAI Agents SDK exports its traces to api.openai.com directly, not
// through the base URL.
func (s *Server) Env(env []string) []string {
	out := []string{
		"OPENAI_BASE_URL=" + s.OpenAIBaseURL(),
		"ANTHROPIC_BASE_URL=" + s.AnthropicBaseURL(),
	}
	if s.Replaying() {
		has := func(k string) bool {
			for _, kv := range env {
				if v, ok := strings.CutPrefix(kv, k+"="); ok && v != "" {
					return true
				}
			}
			return false
		}
		for _, k := range []string{"OPENAI_API_KEY", "ANTHROPIC_API_KEY"} {
			if !has(k) {
				out = append(out, k+"=agentrr-replay-needs-no-key")
			}
		}
		out = append(out, "OPENAI_AGENTS_DISABLE_TRACING=1")
	}
	return out
}

// RecordedRun is a run the proxy recorded.
type RecordedRun struct {
	ID   string
	Name string
}

// Result is what a proxy did, once closed.
type Result struct {
	// Runs are the runs recorded, in the order they were started (in
	// replay mode: the replayed run, itself recorded).
	Runs []RecordedRun
	// Report is the replay report, in replay mode (nil when recording).
	Report *analyze.Report
}

// Close stops the proxy: it stops listening, waits for the requests in
// flight to finish (until ctx is done, then drops them), ends every run
// (each run's end record is written synced) and shuts the tracer provider
// down. In replay mode the result holds the replay report.
func (s *Server) Close(ctx context.Context) (*Result, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("proxy already closed")
	}
	s.closed = true
	s.mu.Unlock()

	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	res := &Result{}
	s.mu.Lock()
	runs := s.order
	s.mu.Unlock()
	for _, pr := range runs {
		if eerr := pr.run.End(nil); eerr != nil {
			err = errors.Join(err, eerr)
		}
		res.Runs = append(res.Runs, RecordedRun{ID: pr.run.TraceID(), Name: pr.name})
	}
	if s.replay != nil {
		if rep := s.replay.run.Report(); rep != nil {
			cp := *rep
			s.mu.Lock()
			cp.Divergences = append(append([]analyze.Divergence(nil), rep.Divergences...), s.extra...)
			s.mu.Unlock()
			// The code that replays is the agent behind the proxy, which
			// agentrr does not see: the proxy's own build says nothing.
			cp.CodeChange, cp.CodeChanged = "", false
			res.Report = &cp
		}
	}
	if serr := s.tp.Shutdown(context.WithoutCancel(ctx)); serr != nil {
		err = errors.Join(err, serr)
	}
	return res, err
}
