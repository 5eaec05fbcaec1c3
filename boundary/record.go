package boundary

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Record is one boundary as read back from a stored or fetched span.
type Record struct {
	TraceID      pcommon.TraceID
	SpanID       pcommon.SpanID
	ParentSpanID pcommon.SpanID
	SpanName     string
	Start, End   time.Time

	Seq int64
	// Branch and Index are the boundary's identity for replay: its branch
	// path ("" for the root) and its position in that branch.
	Branch string
	Index  int64
	// Group is the index, in its branch, of the first boundary of the
	// boundary's concurrency group: of the boundaries of its branch that
	// were in flight together with it. It is Index itself for a boundary
	// that was in flight alone (and for the first of a group).
	Group int64

	Kind     Kind
	Name     string
	Request  []byte // canonical JSON
	Response []byte // canonical JSON; nil when the call failed
	Failed   bool   // the call returned an error, whose text is Error
	Error    string
	// ErrorIs names the sentinels the error matched, ErrorTimeout says it
	// was a timeout; ErrorClassified is false for a failure recorded
	// before errors were classified (no AttrErrorIs).
	ErrorIs         []string
	ErrorTimeout    bool
	ErrorClassified bool
	Signature       string

	PayloadHash    string
	RequestLength  int64 // -1 when the span does not carry it
	ResponseLength int64 // -1 when the span does not carry it
	Damage         string

	// Divergence is set on boundaries of a replayed run that diverged.
	Divergence string

	// Attributes holds every attribute of the span, agentrr's and others
	// (GenAI conventions, the agent's own), for display.
	Attributes map[string]any
}

// TraceIDString is the run id: the 32 hex digit trace id.
func (r *Record) TraceIDString() string { return hex.EncodeToString(r.TraceID[:]) }

// IsBoundarySpan reports whether span carries the agentrr boundary attributes.
func IsBoundarySpan(span ptrace.Span) bool {
	_, ok := span.Attributes().Get(AttrKind)
	return ok
}

// ErrNotBoundary is returned by FromSpan for a span that is not a boundary span.
var ErrNotBoundary = errors.New("not a boundary span (no " + AttrKind + " attribute)")

// FromSpan reads a boundary span. It returns an error when a required
// attribute is missing or of the wrong type; it does not check payload
// integrity (see Record.Check).
func FromSpan(span ptrace.Span) (Record, error) {
	attrs := span.Attributes()
	r := Record{
		TraceID:        span.TraceID(),
		SpanID:         span.SpanID(),
		ParentSpanID:   span.ParentSpanID(),
		SpanName:       span.Name(),
		Start:          span.StartTimestamp().AsTime(),
		End:            span.EndTimestamp().AsTime(),
		RequestLength:  -1,
		ResponseLength: -1,
		Attributes:     attrs.AsRaw(),
	}
	kind, ok := attrs.Get(AttrKind)
	if !ok {
		return r, ErrNotBoundary
	}
	k, err := ParseKind(kind.AsString())
	if err != nil {
		return r, err
	}
	r.Kind = k
	seq, ok := attrs.Get(AttrSeq)
	if !ok {
		return r, fmt.Errorf("boundary span %s has no %s attribute", span.SpanID(), AttrSeq)
	}
	switch seq.Type() {
	case pcommon.ValueTypeInt:
		r.Seq = seq.Int()
	default:
		return r, fmt.Errorf("boundary span %s: %s is %s, want an integer", span.SpanID(), AttrSeq, seq.Type())
	}
	if r.Seq < 0 {
		return r, fmt.Errorf("boundary span %s: negative %s %d", span.SpanID(), AttrSeq, r.Seq)
	}
	r.Branch = str(attrs, AttrBranch)
	r.Index = r.Seq // recordings made before branches: one branch, index = seq
	if v, ok := attrs.Get(AttrBranchIndex); ok {
		if v.Type() != pcommon.ValueTypeInt || v.Int() < 0 {
			return r, fmt.Errorf("boundary span %s: %s is %s, want a non-negative integer", span.SpanID(), AttrBranchIndex, v.AsString())
		}
		r.Index = v.Int()
	} else if r.Branch != RootBranch {
		return r, fmt.Errorf("boundary span %s: %s %q without %s", span.SpanID(), AttrBranch, r.Branch, AttrBranchIndex)
	}
	r.Group = r.Index
	if v, ok := attrs.Get(AttrConcurrent); ok {
		if v.Type() != pcommon.ValueTypeInt || v.Int() < 0 || v.Int() >= r.Index {
			return r, fmt.Errorf("boundary span %s: %s is %s, want the index of an earlier boundary of its branch (below %d)", span.SpanID(), AttrConcurrent, v.AsString(), r.Index)
		}
		r.Group = v.Int()
	}
	r.Name = str(attrs, AttrName)
	r.Request = []byte(str(attrs, AttrRequest))
	if v, ok := attrs.Get(AttrResponse); ok {
		r.Response = []byte(v.AsString())
	}
	if v, ok := attrs.Get(AttrError); ok {
		r.Failed = true
		r.Error = v.AsString()
	}
	if v, ok := attrs.Get(AttrErrorIs); ok {
		r.ErrorClassified = true
		if v.Type() == pcommon.ValueTypeSlice {
			for _, n := range v.Slice().All() {
				r.ErrorIs = append(r.ErrorIs, n.AsString())
			}
		}
	}
	if v, ok := attrs.Get(AttrErrorTimeout); ok && v.Type() == pcommon.ValueTypeBool {
		r.ErrorTimeout = v.Bool()
	}
	r.Signature = str(attrs, AttrSignature)
	r.PayloadHash = str(attrs, AttrPayloadHash)
	r.Damage = str(attrs, AttrDamage)
	r.Divergence = str(attrs, AttrDivergence)
	if v, ok := attrs.Get(AttrRequestLength); ok && v.Type() == pcommon.ValueTypeInt {
		r.RequestLength = v.Int()
	}
	if v, ok := attrs.Get(AttrResponseLength); ok && v.Type() == pcommon.ValueTypeInt {
		r.ResponseLength = v.Int()
	}
	return r, nil
}

func str(m pcommon.Map, key string) string {
	if v, ok := m.Get(key); ok {
		return v.AsString()
	}
	return ""
}

// DamageError says why a boundary cannot be trusted. Replay refuses damaged
// boundaries; verify reports them.
type DamageError struct {
	Seq    int64
	Reason string
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("boundary seq %d is damaged: %s", e.Seq, e.Reason)
}

// Check verifies that the record is whole: it was not marked damaged at
// capture, its payloads have the recorded lengths and hash, and its signature
// matches its kind, name and request. It returns a *DamageError otherwise.
func (r *Record) Check() error {
	damaged := func(format string, args ...any) error {
		return &DamageError{Seq: r.Seq, Reason: fmt.Sprintf(format, args...)}
	}
	if r.Damage != "" {
		return damaged("%s", r.Damage)
	}
	if r.RequestLength >= 0 && int64(len(r.Request)) != r.RequestLength {
		return damaged("request is %d bytes, recorded as %d (cut by an attribute length limit?)", len(r.Request), r.RequestLength)
	}
	if r.ResponseLength >= 0 && int64(len(r.Response)) != r.ResponseLength {
		return damaged("response is %d bytes, recorded as %d (cut by an attribute length limit?)", len(r.Response), r.ResponseLength)
	}
	if r.PayloadHash == "" {
		return damaged("no %s attribute: payload integrity cannot be checked", AttrPayloadHash)
	}
	if got := PayloadHash(r.Request, r.Response, r.Error); got != r.PayloadHash {
		return damaged("payload hash mismatch (stored %s, computed %s)", ShortSignature(r.PayloadHash), ShortSignature(got))
	}
	if got := Signature(r.Kind, r.Name, r.Request); got != r.Signature {
		return damaged("signature mismatch (stored %s, computed %s)", ShortSignature(r.Signature), ShortSignature(got))
	}
	return nil
}
