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
	"sync/atomic"

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

// proxyRun is one run the proxy records (or replays) and the contexts of
// its branches.
type proxyRun struct {
	ctx  context.Context
	run  *otelrr.Run
	name string

	mu       sync.Mutex
	branches map[string]context.Context // by branch path given in HeaderBranch
	// spans and reqs choose the branches of requests with a traceparent
	// (by parent span) and without one (one by one).
	spans, reqs *resolver
	requests    atomic.Int64 // numbers the requests without a traceparent
}

// startRun starts a run named name in the trace of the span in ctx, if any.
func (s *Server) startRun(ctx context.Context, name string) (*proxyRun, error) {
	rctx, run, err := s.tp.StartRun(ctx, name)
	if err != nil {
		return nil, err
	}
	pr := &proxyRun{ctx: rctx, run: run, name: name, branches: map[string]context.Context{}, spans: newResolver(spanPrefix), reqs: newResolver(requestPrefix)}
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
//     one with a traceparent is on the branch of its parent span, and one
//     without on a branch of its own (see resolver).
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

	if branchPath != nil {
		return pr.branch(branchPath), pr, nil
	}
	var branch string
	var div *analyze.Divergence
	if sc.IsValid() {
		branch, div = pr.spans.assign(sc.SpanID().String(), key)
	} else {
		branch, div = pr.reqs.assign(strconv.FormatInt(pr.requests.Add(1), 10), key)
	}
	if div != nil {
		// Observe mode goes on with the first of the candidates.
		if err := s.ambiguous(*div); s.strict {
			return nil, pr, err
		}
	}
	return pr.branch([]string{branch}), pr, nil
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

// resolver gives requests branches of their own whose names do not depend
// on the ids or the timing of one execution, so that parallel requests
// replay exactly in any order.
//
// Each identity — the parent span of a request's traceparent, or, for a
// request without one, the request itself — gets a branch of the run,
// named prefix1, prefix2, … in the order the proxy first saw each identity
// (span1, span2, … and req1, req2, …). A span's later requests go on its
// branch, where they are matched in order as on any branch.
//
// Span ids are random and arrival order is the scheduler's (two requests a
// client sends at once may reach the proxy, and end, one after the other),
// so replay maps each new identity to a recorded branch by its first
// request: to the earliest recorded branch not yet taken whose first
// request is exactly this one (the transport then validates the signature,
// as always). When none is, it takes the earliest branch not yet taken,
// where the transport reports the difference (a prompt edited: the diff
// names the field); past the recorded branches, a branch the recording does
// not have (an extra boundary); branches never taken are missing. When
// another untaken branch has this same first request, was in flight
// together with the earliest, and got a different answer, which request got
// which answer is not known: that is an ambiguous-concurrency divergence,
// never a guess. As between Go branches, the order of requests on different
// branches is not compared: the same requests sent in another order replay
// faithfully, each with its own recorded answer.
type resolver struct {
	prefix string

	mu       sync.Mutex
	byID     map[string]string // identity → branch name
	started  int               // recording: branches started so far
	replay   bool
	recorded []recordedBranch // replaying: the recording's branches of prefix, in order
	taken    map[string]bool
	extra    int
}

type recordedBranch struct {
	name  string
	first *boundary.Record
}

// Branch name prefixes of the resolvers: requests with a traceparent by
// parent span, the others one by one.
const (
	spanPrefix    = "span"
	requestPrefix = "req"
)

var resolvedBranchRE = regexp.MustCompile(`^(` + spanPrefix + `|` + requestPrefix + `)([1-9][0-9]*)$`)

func newResolver(prefix string) *resolver {
	return &resolver{prefix: prefix, byID: map[string]string{}}
}

// newReplayResolver returns the resolver of prefix for replaying rec.
func newReplayResolver(prefix string, rec *replayer.Recording) *resolver {
	rs := &resolver{prefix: prefix, byID: map[string]string{}, replay: true, taken: map[string]bool{}}
	firsts := map[string]*boundary.Record{}
	nums := map[string]int{}
	for i := range rec.Records {
		r := &rec.Records[i]
		m := resolvedBranchRE.FindStringSubmatch(r.Branch)
		if m == nil || m[1] != prefix {
			continue
		}
		if f, ok := firsts[r.Branch]; !ok || r.Index < f.Index {
			firsts[r.Branch] = r
		}
		nums[r.Branch], _ = strconv.Atoi(m[2])
	}
	for name, first := range firsts {
		rs.recorded = append(rs.recorded, recordedBranch{name: name, first: first})
	}
	sort.Slice(rs.recorded, func(i, j int) bool { return nums[rs.recorded[i].name] < nums[rs.recorded[j].name] })
	return rs
}

// assign returns the branch of identity id, whose first request is key,
// and, when the choice is ambiguous, the divergence saying so.
func (rs *resolver) assign(id string, key requestKey) (string, *analyze.Divergence) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if name, ok := rs.byID[id]; ok {
		return name, nil
	}
	if !rs.replay {
		rs.started++
		name := rs.prefix + strconv.Itoa(rs.started)
		rs.byID[id] = name
		return name, nil
	}
	var untaken, exact []recordedBranch
	for _, rb := range rs.recorded {
		if rs.taken[rb.name] {
			continue
		}
		untaken = append(untaken, rb)
		if key.matches(rb.first.Request) {
			exact = append(exact, rb)
		}
	}
	var name string
	var div *analyze.Divergence
	switch {
	case len(exact) > 0:
		pick := exact[0]
		name = pick.name
		var rivals []string
		for _, o := range exact[1:] {
			a, b := pick.first, o.first
			together := a.Start.Before(b.End) && b.Start.Before(a.End)
			if together && (!bytes.Equal(a.Response, b.Response) || a.Error != b.Error) {
				rivals = append(rivals, o.name)
			}
		}
		if len(rivals) > 0 {
			div = &analyze.Divergence{
				Seq: pick.first.Seq, Branch: pick.name, Index: pick.first.Index,
				Reason:       analyze.ReasonAmbiguous,
				ExpectedKind: pick.first.Kind, ExpectedName: pick.first.Name, ExpectedSignature: pick.first.Signature,
				Note: fmt.Sprintf("parallel requests (branches %s, %s) were this same request, in flight together, and got different answers: which of them got which is not known",
					pick.name, strings.Join(rivals, ", ")),
			}
		}
	case len(untaken) > 0:
		name = untaken[0].name
	default:
		rs.extra++
		name = rs.prefix + strconv.Itoa(len(rs.recorded)+rs.extra)
	}
	rs.taken[name] = true
	rs.byID[id] = name
	return name, div
}
