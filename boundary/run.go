package boundary

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
)

// The run root span.
//
// A run is one root span (AttrRun: its name) and the boundaries made under
// it. The attributes below are set on the root span, by otelrr when the
// run starts and ends; the recorder stores the run header (RunMeta) when
// the root span starts and the end record (RunEnd) when it ends, and
// readers of OTLP (Jaeger, files, agentrr collect) rebuild both from it.
// RunStartAttributes, RunEndAttributes, PutRootSpan and ParseRootSpan are
// the one codec for all of them.
const (
	// AttrRun marks the run root span; its value is the run name.
	AttrRun = "agentrr.run"
	// AttrRunID is the run id when it is not the trace id: on the root span
	// and every boundary of a run that shares its trace with another run
	// (see RunID).
	AttrRunID = "agentrr.run.id"
	// AttrReplayOf is set on the root span of a replayed run: the run id of
	// the recording it replays.
	AttrReplayOf = "agentrr.replay_of"
	// AttrReplayMode is strict or observe, on the root span of a replayed run.
	AttrReplayMode = "agentrr.replay.mode"
	// AttrReplayVerdict is faithful or diverged, on the root span of a
	// replayed run when it ends.
	AttrReplayVerdict = "agentrr.replay.verdict"
	// AttrReplayDivergences is the number of divergences, with the verdict.
	AttrReplayDivergences = "agentrr.replay.divergences"
	// AttrReplayChaos describes the chaos perturbation of a replay ("seed 42").
	AttrReplayChaos = "agentrr.replay.chaos"
	// AttrDivergence is set on a replayed boundary span that diverged: the reason.
	AttrDivergence = "agentrr.divergence"
	// AttrBoundaries is the number of boundaries of the run, set on the root
	// span when the run ends: a root span without it did not end.
	AttrBoundaries = "agentrr.boundaries"
	// AttrRunError is the error the agent's run ended with.
	AttrRunError = "agentrr.run.error"
	// AttrForkSeq is, on the root span of a fork when it ends, the seq in
	// the original where it left the recording and went on live; AttrLive
	// counts the boundaries it ran live. AttrLiveBoundary marks each of
	// those boundaries.
	AttrForkSeq      = "agentrr.fork.seq"
	AttrLive         = "agentrr.fork.live"
	AttrLiveBoundary = "agentrr.live"
	// AttrOverridden marks a boundary of a fork that was answered with an
	// override (replayer.WithOverride, `agentrr fork --override`) instead
	// of its recorded answer.
	AttrOverridden = "agentrr.overridden"
	// AttrRefused marks a boundary of a fork that was not allowed to run
	// live (a tool after the fork point): it failed with the refusal, and
	// nothing was called.
	AttrRefused = "agentrr.refused"
	// AttrCommandArgs, AttrWorkingDir and AttrExecutable carry the run's
	// Command on its root span (the OpenTelemetry process conventions'
	// names); AttrCommandRedacted counts its redacted arguments.
	AttrCommandArgs     = "process.command_args"
	AttrWorkingDir      = "process.working_directory"
	AttrExecutable      = "process.executable.path"
	AttrCommandRedacted = "agentrr.process.command_args.redacted"
)

// Resource attributes naming the agent's build, so that a replay can tell
// whether the code changed since the recording.
const (
	AttrBuildModule   = "agentrr.build.module"
	AttrBuildVersion  = "agentrr.build.version"
	AttrBuildRevision = "agentrr.build.vcs.revision"
	AttrBuildModified = "agentrr.build.vcs.modified"
	AttrBuildGo       = "agentrr.build.go"
	// AttrBuildExeSHA256 is the hex SHA-256 of the agent's executable file.
	// It tells builds apart when there is no VCS revision (go test binaries,
	// builds outside a repository) or the tree was modified. Go builds are
	// reproducible, so `go run` of the same source gives the same hash even
	// though it builds a new temporary binary each time.
	AttrBuildExeSHA256 = "agentrr.build.exe.sha256"
)

// RunMeta describes a run when it starts. It is stored as the run header.
type RunMeta struct {
	// TraceID is the run id: 32 hex digits, the trace id of the run's spans
	// unless Trace says otherwise.
	TraceID string `json:"trace_id"`
	// Trace is the trace id of the run's spans when it is not the run id
	// (a run started inside a trace that already had a run: see RunID).
	Trace string `json:"trace,omitempty"`
	// RootSpan is the span id of the run's root span, and ParentSpan the
	// span it was started under (empty for a run that started its trace).
	RootSpan   string            `json:"root_span,omitempty"`
	ParentSpan string            `json:"parent_span,omitempty"`
	Name       string            `json:"name"`
	Service    string            `json:"service,omitempty"`
	Start      time.Time         `json:"start"`
	PID        int               `json:"pid"`
	ReplayOf   string            `json:"replay_of,omitempty"`
	ReplayMode string            `json:"replay_mode,omitempty"`
	Resource   map[string]string `json:"resource,omitempty"`
	// Command is how the process that recorded the run was started, so
	// that the run can be replayed by its id alone; nil when not known
	// (runs recorded before it was kept, runs received over OTLP).
	Command *Command `json:"command,omitempty"`
}

// Command is the command line of the process that recorded a run, with
// secrets redacted: what `agentrr replay <id>` runs again. The environment
// is not part of it: it is never stored.
type Command struct {
	// Args is the argument vector, Args[0] the program as it was invoked.
	// An argument that held a secret reads "[redacted]" (or keeps only
	// its flag name: "--api-key=[redacted]").
	Args []string `json:"args"`
	// Dir is the working directory the process started in.
	Dir string `json:"dir,omitempty"`
	// Executable is the absolute path of the executable that ran.
	Executable string `json:"executable,omitempty"`
	// Redacted counts the arguments that were redacted.
	Redacted int `json:"redacted,omitempty"`
}

// SpanTrace is the trace id the run's spans carry.
func (m *RunMeta) SpanTrace() string {
	if m.Trace != "" {
		return m.Trace
	}
	return m.TraceID
}

// RunEnd describes how a run ended. It is stored when the run ends; a run
// without it was cut short.
type RunEnd struct {
	End        time.Time `json:"end"`
	Boundaries int64     `json:"boundaries"`
	// Error is the error the agent's run ended with, if any.
	Error string `json:"error,omitempty"`
	// Verdict is "faithful" or "diverged" for a replayed run.
	Verdict     string `json:"verdict,omitempty"`
	Divergences int    `json:"divergences,omitempty"`
	// ForkSeq is, for a fork that left its recording, the seq in the
	// original where it went on live (-1: past the end of the recording);
	// Live counts the boundaries it ran live.
	ForkSeq *int64 `json:"fork_seq,omitempty"`
	Live    int    `json:"live,omitempty"`
}

// RunID is the id of a run whose root span has trace id trace and span id
// root. A run that starts its own trace (the usual case) has the trace id;
// taken says the trace id already names a run (the trace is shared, e.g.
// two agents run within one request): the run id is then the trace id's
// first 8 bytes followed by the root span id, so that it still starts like
// its trace and a trace id prefix finds both.
func RunID(trace [16]byte, root [8]byte, taken bool) string {
	if !taken {
		return hex.EncodeToString(trace[:])
	}
	var id [16]byte
	copy(id[:8], trace[:8])
	copy(id[8:], root[:])
	return hex.EncodeToString(id[:])
}

// RunStartAttributes are the attributes of a run's root span when it starts.
// replayOf and mode are empty for a recorded run.
func RunStartAttributes(name, replayOf, mode string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String(AttrRun, name)}
	if replayOf != "" {
		attrs = append(attrs, attribute.String(AttrReplayOf, replayOf), attribute.String(AttrReplayMode, mode))
	}
	return attrs
}

// RunEndAttributes are the attributes set on a run's root span when it
// ends (the end time and status are the span's own).
func RunEndAttributes(end RunEnd) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.Int64(AttrBoundaries, end.Boundaries)}
	if end.Error != "" {
		attrs = append(attrs, attribute.String(AttrRunError, end.Error))
	}
	if end.Verdict != "" {
		attrs = append(attrs, attribute.String(AttrReplayVerdict, end.Verdict), attribute.Int(AttrReplayDivergences, end.Divergences))
	}
	if end.ForkSeq != nil {
		attrs = append(attrs, attribute.Int64(AttrForkSeq, *end.ForkSeq), attribute.Int(AttrLive, end.Live))
	}
	return attrs
}

// IsRootSpan reports whether span is a run root span.
func IsRootSpan(span ptrace.Span) bool {
	_, ok := span.Attributes().Get(AttrRun)
	return ok && !IsBoundarySpan(span)
}

// ParseRootSpan reads a run root span, with the resource of the process that
// made it: the run header, and the end record when the span says the run
// ended (nil otherwise). It fails when an attribute has the wrong type.
func ParseRootSpan(span ptrace.Span, res pcommon.Resource) (RunMeta, *RunEnd, error) {
	attrs := span.Attributes()
	tid, sid := span.TraceID(), span.SpanID()
	meta := RunMeta{
		TraceID:  hex.EncodeToString(tid[:]),
		Name:     str(attrs, AttrRun),
		Start:    span.StartTimestamp().AsTime().UTC(),
		RootSpan: hex.EncodeToString(sid[:]),
	}
	if p := span.ParentSpanID(); !p.IsEmpty() {
		meta.ParentSpan = hex.EncodeToString(p[:])
	}
	if id := str(attrs, AttrRunID); id != "" && id != meta.TraceID {
		meta.Trace, meta.TraceID = meta.TraceID, id
	}
	meta.ReplayOf = str(attrs, AttrReplayOf)
	meta.ReplayMode = str(attrs, AttrReplayMode)
	if v, ok := attrs.Get(AttrCommandArgs); ok {
		if v.Type() != pcommon.ValueTypeSlice {
			return meta, nil, fmt.Errorf("run root span %s: %s is %s, want a list of strings", sid, AttrCommandArgs, v.Type())
		}
		cmd := &Command{Args: []string{}, Dir: str(attrs, AttrWorkingDir), Executable: str(attrs, AttrExecutable)}
		for _, a := range v.Slice().All() {
			cmd.Args = append(cmd.Args, a.AsString())
		}
		if r, ok := attrs.Get(AttrCommandRedacted); ok && r.Type() == pcommon.ValueTypeInt && r.Int() > 0 {
			cmd.Redacted = int(r.Int())
		}
		meta.Command = cmd
	}
	if n := res.Attributes().Len(); n > 0 {
		meta.Resource = make(map[string]string, n)
		for k, v := range res.Attributes().All() {
			meta.Resource[k] = v.AsString()
		}
		meta.Service = meta.Resource["service.name"]
		meta.PID, _ = strconv.Atoi(meta.Resource["process.pid"])
	}
	v, ok := attrs.Get(AttrBoundaries)
	if !ok {
		return meta, nil, nil
	}
	if v.Type() != pcommon.ValueTypeInt || v.Int() < 0 {
		return meta, nil, fmt.Errorf("run root span %s: %s is %s %q, want a count", sid, AttrBoundaries, v.Type(), v.AsString())
	}
	end := &RunEnd{
		End:        span.EndTimestamp().AsTime().UTC(),
		Boundaries: v.Int(),
		Error:      str(attrs, AttrRunError),
		Verdict:    str(attrs, AttrReplayVerdict),
	}
	if d, ok := attrs.Get(AttrReplayDivergences); ok {
		if d.Type() != pcommon.ValueTypeInt {
			return meta, nil, fmt.Errorf("run root span %s: %s is %s, want a count", sid, AttrReplayDivergences, d.Type())
		}
		end.Divergences = int(d.Int())
	}
	if f, ok := attrs.Get(AttrForkSeq); ok {
		if f.Type() != pcommon.ValueTypeInt {
			return meta, nil, fmt.Errorf("run root span %s: %s is %s, want a seq", sid, AttrForkSeq, f.Type())
		}
		seq := f.Int()
		end.ForkSeq = &seq
		if l, ok := attrs.Get(AttrLive); ok && l.Type() == pcommon.ValueTypeInt {
			end.Live = int(l.Int())
		}
	}
	if st := span.Status(); end.Error == "" && end.Verdict == "" && st.Code() == ptrace.StatusCodeError {
		// Written before agentrr.run.error existed.
		end.Error = st.Message()
	}
	return meta, end, nil
}

// PutRootSpan fills span as the root span of the run meta describes, ended
// as end says (end nil: a run that did not end). Trace and span ids, name,
// kind, start and the attributes are set; the end time only when end is not
// nil.
func PutRootSpan(span ptrace.Span, meta RunMeta, end *RunEnd) {
	var tid pcommon.TraceID
	hex.Decode(tid[:], []byte(meta.SpanTrace()))
	span.SetTraceID(tid)
	var sid, parent pcommon.SpanID
	if hex.Decode(sid[:], []byte(meta.RootSpan)); !sid.IsEmpty() {
		span.SetSpanID(sid)
	}
	if hex.Decode(parent[:], []byte(meta.ParentSpan)); !parent.IsEmpty() {
		span.SetParentSpanID(parent)
	}
	span.SetName(meta.Name)
	span.SetKind(ptrace.SpanKindInternal)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(meta.Start))
	attrs := span.Attributes()
	for _, kv := range RunStartAttributes(meta.Name, meta.ReplayOf, meta.ReplayMode) {
		attrs.PutStr(string(kv.Key), kv.Value.AsString())
	}
	if meta.Trace != "" {
		attrs.PutStr(AttrRunID, meta.TraceID)
	}
	if c := meta.Command; c != nil {
		args := attrs.PutEmptySlice(AttrCommandArgs)
		for _, a := range c.Args {
			args.AppendEmpty().SetStr(a)
		}
		if c.Dir != "" {
			attrs.PutStr(AttrWorkingDir, c.Dir)
		}
		if c.Executable != "" {
			attrs.PutStr(AttrExecutable, c.Executable)
		}
		if c.Redacted > 0 {
			attrs.PutInt(AttrCommandRedacted, int64(c.Redacted))
		}
	}
	if end == nil {
		return
	}
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(end.End))
	for _, kv := range RunEndAttributes(*end) {
		switch kv.Value.Type() {
		case attribute.INT64:
			attrs.PutInt(string(kv.Key), kv.Value.AsInt64())
		default:
			attrs.PutStr(string(kv.Key), kv.Value.AsString())
		}
	}
	switch {
	case end.Error != "":
		span.Status().SetCode(ptrace.StatusCodeError)
		span.Status().SetMessage(end.Error)
	case end.Verdict != "" && end.Verdict != "faithful":
		span.Status().SetCode(ptrace.StatusCodeError)
		span.Status().SetMessage("replay diverged")
	}
}

// RootSpanOf is the span id of a run's root span when its header does not
// keep it (runs recorded before it did, traces received without it): the
// parent most boundaries share (ties to the earliest), else one derived
// from the trace id, so that every export of the run agrees.
func RootSpanOf(trace pcommon.TraceID, records []Record) pcommon.SpanID {
	own := make(map[pcommon.SpanID]bool, len(records))
	for _, r := range records {
		own[r.SpanID] = true
	}
	count := map[pcommon.SpanID]int{}
	var best pcommon.SpanID
	for _, r := range records {
		p := r.ParentSpanID
		if p.IsEmpty() || own[p] {
			continue
		}
		count[p]++
		if count[p] > count[best] {
			best = p
		}
	}
	if !best.IsEmpty() {
		return best
	}
	h := sha256.Sum256(append([]byte("agentrr.run:"), trace[:]...))
	var id pcommon.SpanID
	copy(id[:], h[:8])
	if id.IsEmpty() {
		id[7] = 1
	}
	return id
}

// PutRunRoot fills span as the root span of a run rebuilt from its stored
// header, end record (nil: the run did not end) and boundaries: the root
// span id derived when the header does not keep it (RootSpanOf), the start
// taken from the first boundary when the header has none, and for a run
// that did not end, the end of its last boundary as the span's end.
func PutRunRoot(span ptrace.Span, meta RunMeta, end *RunEnd, records []Record) {
	if meta.RootSpan == "" {
		// Runs recorded before the header kept the root span's id.
		var tid pcommon.TraceID
		if b, err := hex.DecodeString(meta.SpanTrace()); err == nil && len(b) == len(tid) {
			copy(tid[:], b)
		}
		meta.RootSpan = RootSpanOf(tid, records).String()
	}
	if len(records) > 0 && meta.Start.IsZero() {
		meta.Start = records[0].Start
	}
	PutRootSpan(span, meta, end)
	if end == nil {
		last := meta.Start
		if len(records) > 0 {
			last = records[len(records)-1].End
		}
		span.SetEndTimestamp(pcommon.NewTimestampFromTime(last))
	}
}
