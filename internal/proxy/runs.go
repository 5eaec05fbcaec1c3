package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	"github.com/agentrr/agentrr/internal/recording"
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
}

// startRun starts a run named name in the trace of the span in ctx, if any.
func (s *Server) startRun(ctx context.Context, name string) (*proxyRun, error) {
	// A proxy's run is replayed by pointing its client at a replaying
	// proxy, not by running agentrr proxy again: it records no command.
	ctx = recording.WithCommand(ctx, &boundary.Command{Args: []string{}})
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
	if sc.IsValid() {
		branch, div := pr.spans.assign(sc.SpanID().String(), key)
		if err := s.check(div); err != nil {
			return nil, pr, err
		}
		return pr.branch([]string{branch}), pr, nil
	}
	// A branch for this request alone: its name is never asked for again,
	// so nothing about it is kept.
	branch, div := pr.reqs.assign("", key)
	if err := s.check(div); err != nil {
		return nil, pr, err
	}
	return otelrr.Branch(pr.ctx, branch), pr, nil
}

// check records an ambiguity the resolver found, if any, and returns the
// error the request gets: in strict mode; observe mode goes on with the
// first of the candidates.
func (s *Server) check(div *analyze.Divergence) error {
	if div == nil {
		return nil
	}
	if err := s.ambiguous(*div); s.strict {
		return err
	}
	return nil
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
// replay: method, upstream path and body, as the transport records them
// (a JSON body in canonical form, any other as its bytes), hashed.
type requestKey [sha256.Size]byte

func newRequestKey(method, path string, body []byte) requestKey {
	if canon, err := boundary.CanonicalizeJSON(body); err == nil && len(body) > 0 {
		return keyOf(method, path, 'j', canon)
	}
	return keyOf(method, path, 'b', body)
}

func keyOf(method, path string, form byte, body []byte) requestKey {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0, form})
	h.Write(body)
	var k requestKey
	h.Sum(k[:0])
	return k
}

// recordedKey is the key of a request as otelrr.Transport stored it:
// canonical JSON of its method, path, and body (JSON), body_text or
// body_base64.
func recordedKey(recorded []byte) (requestKey, bool) {
	var r struct {
		Method     string          `json:"method"`
		Path       string          `json:"path"`
		Body       json.RawMessage `json:"body"`
		BodyText   *string         `json:"body_text"`
		BodyBase64 []byte          `json:"body_base64"`
	}
	if json.Unmarshal(recorded, &r) != nil {
		return requestKey{}, false
	}
	switch {
	case len(r.Body) > 0:
		canon, err := boundary.CanonicalizeJSON(r.Body)
		if err != nil {
			return requestKey{}, false
		}
		return keyOf(r.Method, r.Path, 'j', canon), true
	case r.BodyText != nil:
		return keyOf(r.Method, r.Path, 'b', []byte(*r.BodyText)), true
	}
	return keyOf(r.Method, r.Path, 'b', r.BodyBase64), true
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

	mu      sync.Mutex
	byID    map[string]string // identity → branch name
	started int               // recording: branches started so far
	// Replaying: the recording's branches of prefix in order, the indexes
	// of those with each first request, the first not yet taken, and the
	// number of branches made past them.
	replay    bool
	recorded  []recordedBranch
	byKey     map[requestKey][]int
	firstFree int
	extra     int
}

type recordedBranch struct {
	name  string
	first *boundary.Record
	taken bool
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
	rs := &resolver{prefix: prefix, byID: map[string]string{}, replay: true, byKey: map[requestKey][]int{}}
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
	for i, rb := range rs.recorded {
		if k, ok := recordedKey(rb.first.Request); ok {
			rs.byKey[k] = append(rs.byKey[k], i)
		}
	}
	return rs
}

// assign returns the branch of identity id, whose first request is key,
// and, when the choice is ambiguous, the divergence saying so. An empty id
// is an identity of one request: a new branch, not remembered.
func (rs *resolver) assign(id string, key requestKey) (string, *analyze.Divergence) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if name, ok := rs.byID[id]; ok && id != "" {
		return name, nil
	}
	remember := func(name string) {
		if id != "" {
			rs.byID[id] = name
		}
	}
	if !rs.replay {
		rs.started++
		name := rs.prefix + strconv.Itoa(rs.started)
		remember(name)
		return name, nil
	}
	var exact []int
	for _, i := range rs.byKey[key] {
		if !rs.recorded[i].taken {
			exact = append(exact, i)
		}
	}
	for rs.firstFree < len(rs.recorded) && rs.recorded[rs.firstFree].taken {
		rs.firstFree++
	}
	pick := -1
	var div *analyze.Divergence
	switch {
	case len(exact) > 0:
		pick = exact[0]
		first := rs.recorded[pick].first
		var rivals []string
		for _, o := range exact[1:] {
			b := rs.recorded[o].first
			together := first.Start.Before(b.End) && b.Start.Before(first.End)
			if together && (!bytes.Equal(first.Response, b.Response) || first.Error != b.Error) {
				rivals = append(rivals, rs.recorded[o].name)
			}
		}
		if len(rivals) > 0 {
			div = &analyze.Divergence{
				Seq: first.Seq, Branch: rs.recorded[pick].name, Index: first.Index,
				Reason:       analyze.ReasonAmbiguous,
				ExpectedKind: first.Kind, ExpectedName: first.Name, ExpectedSignature: first.Signature,
				Note: fmt.Sprintf("parallel requests (branches %s, %s) were this same request, in flight together, and got different answers: which of them got which is not known",
					rs.recorded[pick].name, strings.Join(rivals, ", ")),
			}
		}
	case rs.firstFree < len(rs.recorded):
		pick = rs.firstFree
	}
	if pick < 0 {
		rs.extra++
		name := rs.prefix + strconv.Itoa(len(rs.recorded)+rs.extra)
		remember(name)
		return name, div
	}
	rs.recorded[pick].taken = true
	remember(rs.recorded[pick].name)
	return rs.recorded[pick].name, div
}
