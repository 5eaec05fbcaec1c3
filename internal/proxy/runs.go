package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
)

// Request headers that choose a request's run and branch. The proxy reads
// them and does not forward them.
const (
	// HeaderRun names the request's run: requests with the same value go
	// to one run of that name, whatever their trace.
	HeaderRun = "X-Agentrr-Run"
	// HeaderBranch puts the request on the branch of that path ("a/b" is
	// the branch b started from a), as otelrr.Branch does in Go.
	HeaderBranch = "X-Agentrr-Branch"
)

// spanBranchPrefix names the branches of a trace's run that hold the
// requests of one parent span each: span1, span2, … in the order the proxy
// first saw each span.
const spanBranchPrefix = "span"

var spanBranchRE = regexp.MustCompile(`^` + spanBranchPrefix + `([1-9][0-9]*)$`)

// proxyRun is one run the proxy records (or replays) and the contexts of
// its branches.
type proxyRun struct {
	ctx  context.Context
	run  *otelrr.Run
	name string

	mu       sync.Mutex
	branches map[string]context.Context // by branch path given in HeaderBranch
	spans    *spanBranches
}

// startRun starts a run named name in the trace of the span in ctx, if any.
func (s *Server) startRun(ctx context.Context, name string) (*proxyRun, error) {
	rctx, run, err := s.tp.StartRun(ctx, name)
	if err != nil {
		return nil, err
	}
	pr := &proxyRun{ctx: rctx, run: run, name: name, branches: map[string]context.Context{}, spans: &spanBranches{byParent: map[string]string{}}}
	s.order = append(s.order, pr)
	return pr, nil
}

// requestError is a request the proxy refuses before sending it: a bad
// control header, or a run that could not be started.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// boundaryContext returns the context the request is sent with: the
// context of its run and branch. The rules (docs/proxy.md):
//
//   - Replaying, every request belongs to the replayed run.
//   - Recording, a request with X-Agentrr-Run belongs to the run of that
//     name; else one with a valid W3C traceparent to the run of its trace
//     (started as a child of the span it names, so its run id is the trace
//     id); else to the proxy's session run. Runs start with their first
//     request and end when the proxy closes.
//   - In its run, a request with X-Agentrr-Branch is on that branch; else
//     one with a traceparent is on the branch of its parent span (see
//     spanBranches); else on the run's root branch, where requests in
//     flight together are a concurrency group matched among themselves by
//     exact request.
func (s *Server) boundaryContext(r *http.Request, key requestKey) (context.Context, *proxyRun, error) {
	remote := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(r.Header))
	sc := trace.SpanContextFromContext(remote)
	name := strings.TrimSpace(r.Header.Get(HeaderRun))
	if len(name) > 200 {
		return nil, nil, &requestError{http.StatusBadRequest, HeaderRun + " is longer than 200 bytes"}
	}
	var branchPath []string
	if b := r.Header.Get(HeaderBranch); b != "" {
		branchPath = strings.Split(b, "/")
		for _, seg := range branchPath {
			if strings.TrimSpace(seg) == "" {
				return nil, nil, &requestError{http.StatusBadRequest, fmt.Sprintf("%s %q has an empty branch name: give a path of names joined by /", HeaderBranch, b)}
			}
		}
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, &requestError{http.StatusServiceUnavailable, "the proxy is shutting down"}
	}
	pr := s.replay
	if pr == nil {
		var key, runName string
		parent := context.Background()
		switch {
		case name != "":
			key, runName = "name:"+name, name
			if sc.IsValid() {
				parent = remote
			}
		case sc.IsValid():
			key, runName, parent = "trace:"+sc.TraceID().String(), s.cfg.RunName, remote
		default:
			key, runName = "", s.cfg.RunName
		}
		pr = s.runs[key]
		if pr == nil {
			var err error
			// The run outlives the request that started it.
			if pr, err = s.startRun(parent, runName); err != nil {
				s.mu.Unlock()
				return nil, nil, &requestError{http.StatusInternalServerError, "cannot start a run: " + err.Error()}
			}
			s.runs[key] = pr
		}
	}
	halt := s.halt
	s.mu.Unlock()
	if halt != nil {
		return nil, pr, halt
	}

	switch {
	case branchPath != nil:
		return pr.branch(branchPath), pr, nil
	case sc.IsValid():
		name, div := pr.spans.assign(sc.SpanID().String(), key)
		if div != nil {
			// Observe mode goes on with the first of the candidates.
			if err := s.ambiguous(*div); s.strict {
				return nil, pr, err
			}
		}
		return pr.branch([]string{name}), pr, nil
	}
	return pr.ctx, pr, nil
}

// branch returns the context of the branch path, started the first time it
// is asked for (so that its name is the one given, never "name#1").
func (pr *proxyRun) branch(path []string) context.Context {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	ctx := pr.ctx
	for i := range path {
		p := strings.Join(path[:i+1], "\x00")
		c, ok := pr.branches[p]
		if !ok {
			c = otelrr.Branch(ctx, path[i])
			pr.branches[p] = c
		}
		ctx = c
	}
	return ctx
}

// ambiguous records a divergence the proxy found itself and returns the
// error the request gets; in strict mode every later request gets it too.
func (s *Server) ambiguous(d analyze.Divergence) error {
	err := &replayer.DivergenceError{Divergence: d}
	s.mu.Lock()
	s.extra = append(s.extra, d)
	if s.strict && s.halt == nil {
		s.halt = err
	}
	s.mu.Unlock()
	return err
}

// requestKey is what a request's first boundary is recognised by on
// replay: method, upstream path and body, as the transport records them.
type requestKey struct {
	method, path string
	json         []byte // canonical JSON body, or nil
	text         []byte // the body when it is not JSON
}

func newRequestKey(method, path string, body []byte) requestKey {
	k := requestKey{method: method, path: path}
	if canon, err := boundary.CanonicalizeJSON(body); err == nil && len(body) > 0 {
		k.json = canon
	} else {
		k.text = body
	}
	return k
}

// matches reports whether a recorded request (canonical JSON, as
// otelrr.Transport stores it) is this request.
func (k requestKey) matches(recorded []byte) bool {
	var r struct {
		Method   string          `json:"method"`
		Path     string          `json:"path"`
		Body     json.RawMessage `json:"body"`
		BodyText *string         `json:"body_text"`
	}
	if json.Unmarshal(recorded, &r) != nil || r.Method != k.method || r.Path != k.path {
		return false
	}
	if k.json != nil {
		canon, err := boundary.CanonicalizeJSON(r.Body)
		return err == nil && bytes.Equal(canon, k.json)
	}
	if r.BodyText != nil {
		return *r.BodyText == string(k.text)
	}
	return len(k.text) == 0 && len(r.Body) == 0
}

// spanBranches gives the requests of each parent span (the span id of a
// request's traceparent) a branch of their own in the trace's run, so that
// parallel requests from different spans replay exactly in any order.
//
// Span ids are random: a replayed agent's spans have other ids than the
// recorded ones. So recording names the branches by the order the proxy
// first saw each span (span1, span2, …), and replay maps each new span to
// a recorded branch by its first request: to the first branch not yet taken
// whose first recorded request is exactly this one. When none is, it takes
// the first branch not yet taken, where the transport's matching reports the
// difference (a prompt edited: the diff names the field); past the recorded
// branches, a branch the recording does not have (an extra boundary). When
// two untaken branches start with this same request, were in flight at once
// when recorded, and got different answers, which span got which is not
// known: that is an ambiguous-concurrency divergence, never a guess.
type spanBranches struct {
	mu       sync.Mutex
	byParent map[string]string // parent span id → branch name
	started  int               // recording: span branches started so far
	// Replaying: the recording's span branches in order, and which of them
	// a span has taken.
	recorded []recordedSpan
	taken    map[string]bool
	extra    int
}

type recordedSpan struct {
	name  string
	first *boundary.Record
}

// newReplaySpans returns the span branches of a recording to replay.
func newReplaySpans(rec *replayer.Recording) *spanBranches {
	sb := &spanBranches{byParent: map[string]string{}, taken: map[string]bool{}, recorded: []recordedSpan{}}
	firsts := map[string]*boundary.Record{}
	for i := range rec.Records {
		r := &rec.Records[i]
		if !spanBranchRE.MatchString(r.Branch) {
			continue
		}
		if f, ok := firsts[r.Branch]; !ok || r.Index < f.Index {
			firsts[r.Branch] = r
		}
	}
	for name, first := range firsts {
		sb.recorded = append(sb.recorded, recordedSpan{name: name, first: first})
	}
	num := func(name string) int {
		n, _ := strconv.Atoi(spanBranchRE.FindStringSubmatch(name)[1])
		return n
	}
	sort.Slice(sb.recorded, func(i, j int) bool { return num(sb.recorded[i].name) < num(sb.recorded[j].name) })
	return sb
}

// assign returns the branch of the requests of span parent, whose first
// request is key, or the divergence that makes it ambiguous.
func (sb *spanBranches) assign(parent string, key requestKey) (string, *analyze.Divergence) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if name, ok := sb.byParent[parent]; ok {
		return name, nil
	}
	if sb.taken == nil { // recording
		sb.started++
		name := spanBranchPrefix + strconv.Itoa(sb.started)
		sb.byParent[parent] = name
		return name, nil
	}
	var free, exact []recordedSpan
	for _, rs := range sb.recorded {
		if sb.taken[rs.name] {
			continue
		}
		free = append(free, rs)
		if key.matches(rs.first.Request) {
			exact = append(exact, rs)
		}
	}
	var name string
	var div *analyze.Divergence
	switch {
	case len(exact) > 0:
		pick := exact[0]
		var rivals []string
		for _, o := range exact[1:] {
			a, b := pick.first, o.first
			overlap := a.Start.Before(b.End) && b.Start.Before(a.End)
			same := bytes.Equal(a.Response, b.Response) && a.Error == b.Error
			if overlap && !same {
				rivals = append(rivals, o.name)
			}
		}
		name = pick.name
		if len(rivals) > 0 {
			div = &analyze.Divergence{
				Seq: pick.first.Seq, Branch: pick.name, Index: pick.first.Index,
				Reason:       analyze.ReasonAmbiguous,
				ExpectedKind: pick.first.Kind, ExpectedName: pick.first.Name, ExpectedSignature: pick.first.Signature,
				Note: fmt.Sprintf("requests from parallel spans (branches %s, %s) sent this same first request and got different answers: which span got which is not known",
					pick.name, strings.Join(rivals, ", ")),
			}
		}
	case len(free) > 0:
		name = free[0].name
	default:
		sb.extra++
		name = spanBranchPrefix + strconv.Itoa(len(sb.recorded)+sb.extra)
	}
	sb.taken[name] = true
	sb.byParent[parent] = name
	return name, div
}
