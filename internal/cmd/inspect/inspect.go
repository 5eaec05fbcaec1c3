// Package inspect implements `agentrr inspect`.
package inspect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr inspect`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)

	TraceID string
	Seq     int64
	JSON    bool
}

// NewCmdInspect returns the inspect command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdInspect(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "inspect <trace-id> --seq N",
		Short: "Show one boundary of a run in full",
		Long: `Show boundary N of a run in full: its request, its response (or the error the
call returned) as indented JSON, then its span: name, span id, parent span
id, start and end, and every attribute except the payloads shown above.

agentrr show <trace-id> lists a run's boundaries and their seqs.`,
		Example: `  agentrr inspect 4bf92f35 --seq 2
  agentrr inspect 4bf92f35 --seq 2 --json | jq .request.messages`,
		Args:              cmdutil.ExactRunArgs(1),
		ValidArgsFunction: cmdutil.CompleteRunIDs(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.TraceID = args[0]
			if err := cmdutil.RequireSeq(cmd, opts.Seq, "the boundary to inspect", opts.TraceID); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runInspect(opts)
		},
	}
	cmd.Flags().Int64Var(&opts.Seq, "seq", 0, "the boundary's `seq` (0 is the first)")
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Output is the JSON document `agentrr inspect --json` writes.
type Output struct {
	TraceID       string        `json:"trace_id"`
	Seq           int64         `json:"seq"`
	Kind          boundary.Kind `json:"kind"`
	Name          string        `json:"name"`
	Status        string        `json:"status"`
	SpanName      string        `json:"span_name"`
	SpanID        string        `json:"span_id"`
	ParentSpanID  string        `json:"parent_span_id"`
	Start         time.Time     `json:"start"`
	End           time.Time     `json:"end"`
	DurationNS    int64         `json:"duration_ns"`
	Signature     string        `json:"signature"`
	PayloadSHA256 string        `json:"payload_sha256"`
	// Request and Response are the payloads as JSON values (a JSON string
	// holding the stored text if that is not JSON); Response is absent when
	// the call failed.
	Request    json.RawMessage `json:"request"`
	Response   json.RawMessage `json:"response,omitempty"`
	Error      string          `json:"error,omitempty"`
	Divergence string          `json:"divergence,omitempty"`
	// Attributes are the span's attributes except agentrr.request,
	// agentrr.response and agentrr.error.
	Attributes map[string]any `json:"attributes"`
}

// payloadAttrs are shown as payloads, not among the attributes.
var payloadAttrs = map[string]bool{boundary.AttrRequest: true, boundary.AttrResponse: true, boundary.AttrError: true}

// NewOutput builds the inspect document of one boundary.
func NewOutput(r *boundary.Record) *Output {
	o := &Output{
		TraceID: r.TraceIDString(), Seq: r.Seq, Kind: r.Kind, Name: r.Name, Status: cmdutil.BoundaryStatus(r),
		SpanName: r.SpanName, SpanID: r.SpanID.String(), ParentSpanID: r.ParentSpanID.String(),
		Start: r.Start, End: r.End, DurationNS: int64(r.End.Sub(r.Start)),
		Signature: r.Signature, PayloadSHA256: r.PayloadHash,
		Request: rawJSON(r.Request), Error: r.Error, Divergence: r.Divergence,
		Attributes: make(map[string]any, len(r.Attributes)),
	}
	if !r.Failed {
		o.Response = rawJSON(r.Response)
	}
	for k, v := range r.Attributes {
		if !payloadAttrs[k] {
			o.Attributes[k] = v
		}
	}
	return o
}

// rawJSON is b when it is one JSON value, else b as a JSON string.
func rawJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

func runInspect(opts *Options) error {
	run, err := cmdutil.ReadRun(opts.Store, opts.TraceID)
	if err != nil {
		return err
	}
	info, n := run.Info, int64(len(run.Records))
	if opts.Seq >= n {
		if info.Status == spanlog.StatusDamaged {
			readable := "none of its boundaries can be read"
			if n > 0 {
				readable = fmt.Sprintf("boundaries 0-%d can be read", n-1)
			}
			return cmdutil.Exit(cmdutil.ExitDamaged, "seq %d of run %s cannot be read: the run is damaged (%s); %s", opts.Seq, info.TraceID, info.Reason, readable)
		}
		return cmdutil.SeqOutOfRange(info.TraceID, n, opts.Seq)
	}
	out := NewOutput(&run.Records[opts.Seq])
	return cmdutil.WriteOutput(opts.IO.Out, opts.JSON, out)
}

// WriteText writes the boundary for a person: a header, the request, the
// response or error, then the span and its attributes.
func (o *Output) WriteText(w io.Writer) error {
	var buf bytes.Buffer
	cmdutil.WriteFields(&buf, []cmdutil.Field{
		{Label: "run", Value: o.TraceID},
		{Label: "seq", Value: fmt.Sprint(o.Seq)},
		{Label: "kind", Value: string(o.Kind)},
		{Label: "name", Value: o.Name},
		{Label: "status", Value: o.Status},
		{Label: "divergence", Value: o.Divergence},
		{Label: "signature", Value: o.Signature},
	})
	section(&buf, "request")
	writePretty(&buf, o.Request)
	if o.Response != nil {
		section(&buf, "response")
		writePretty(&buf, o.Response)
	}
	if o.Error != "" {
		section(&buf, "error")
		buf.WriteString(o.Error)
		buf.WriteByte('\n')
	}
	section(&buf, "span")
	parent := o.ParentSpanID
	if parent == "" || strings.Trim(parent, "0") == "" {
		parent = "-"
	}
	cmdutil.WriteFields(&buf, []cmdutil.Field{
		{Label: "name", Value: o.SpanName},
		{Label: "span id", Value: o.SpanID},
		{Label: "parent", Value: parent},
		{Label: "start", Value: o.Start.UTC().Format(time.RFC3339Nano)},
		{Label: "end", Value: o.End.UTC().Format(time.RFC3339Nano)},
		{Label: "duration", Value: cmdutil.Duration(time.Duration(o.DurationNS))},
	})
	section(&buf, "attributes")
	keys := make([]string, 0, len(o.Attributes))
	width := 0
	for k := range o.Attributes {
		keys = append(keys, k)
		width = max(width, len(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&buf, "%-*s  %s\n", width, k, attrText(o.Attributes[k]))
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func section(buf *bytes.Buffer, name string) {
	buf.WriteByte('\n')
	buf.WriteString(name)
	buf.WriteString(":\n")
}

// writePretty writes a JSON value indented by two spaces a level, without
// HTML escaping.
func writePretty(buf *bytes.Buffer, v json.RawMessage) {
	if err := json.Indent(buf, v, "", "  "); err != nil {
		buf.Write(v)
	}
	buf.WriteByte('\n')
}

// attrText is an attribute value on one line: strings as they are (quoted
// when they hold a line break or other control character), numbers and
// booleans as Go prints them, slices and maps as compact JSON.
func attrText(v any) string {
	switch x := v.(type) {
	case string:
		if strings.ContainsFunc(x, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return strconv.Quote(x)
		}
		return x
	case []any, map[string]any:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err == nil {
			return strings.TrimSuffix(b.String(), "\n")
		}
	}
	return fmt.Sprint(v)
}
