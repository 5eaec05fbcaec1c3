// Package show implements `agentrr show`.
package show

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/tableprinter"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr show`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)

	TraceID string
	JSON    bool
}

// NewCmdShow returns the show command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdShow(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "show <trace-id>",
		Short: "Show a run's timeline of boundaries",
		Long: `Show one run: a header (run id, name, service, start, status, the run it
replays and the replay's verdict, the agent's build identity) and its
timeline, one row per boundary in the order they completed: seq, kind, name
(model, tool, operation), duration, short signature, status (ok, error,
diverged) and token usage (input/output) where the model reported it.

A fork (agentrr fork, agentrr replay --continue-live) names the run it was
forked from and the seq where it went live; its boundaries run live have
"live" in their status, those answered with an override "overridden", and
those it was not allowed to run live "refused".

A run with branches (otelrr.Branch, otelrr.Go: parallel tool calls and the
like) shows a BRANCH column: the branch's path and the boundary's index in
its branch ("search[0]", "search/fetch[1]"; the run's root branch is
"(root)"), and TOKENS for the token usage. Replay matches boundaries by branch and index; seq is the order
they completed in. Boundaries of one branch that were in flight at once
(goroutines sharing a context) have "concurrent (group from [N])" in their
status, N the index of the group's first boundary.

Long names are cut with "…"; agentrr inspect <trace-id> --seq N shows one
boundary in full. A truncated run shows the prefix that was stored; a
damaged run shows the boundaries before the damage. A run being recorded
cannot be read until its recorder ends it (exit status 6).`,
		Example: `  agentrr show 4bf92f35
  agentrr show 4bf92f35 --json | jq '.boundaries[] | select(.kind == "llm")'`,
		Args:              cmdutil.ExactRunArgs(1),
		ValidArgsFunction: cmdutil.CompleteRunIDs(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.TraceID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return runShow(opts)
		},
	}
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Output is the JSON document `agentrr show --json` writes.
type Output struct {
	// Run is the run as `agentrr runs --json` lists it.
	Run cmdutil.RunJSON `json:"run"`
	// Build is the agent's build identity, from the run's resource; null
	// when the recorder did not set it.
	Build *Build `json:"build"`
	// Boundaries are the run's readable boundaries in seq order.
	Boundaries []Boundary `json:"boundaries"`
}

// Build is the identity of the agent binary that made a run.
type Build struct {
	Module      string `json:"module,omitempty"`
	Version     string `json:"version,omitempty"`
	VCSRevision string `json:"vcs_revision,omitempty"`
	VCSModified *bool  `json:"vcs_modified,omitempty"`
	Go          string `json:"go,omitempty"`
	ExeSHA256   string `json:"exe_sha256,omitempty"`
}

// Boundary is one row of the timeline.
type Boundary struct {
	Seq int64 `json:"seq"`
	// Branch is the path of the boundary's branch ("" for the root), Index
	// its position in the branch.
	Branch string `json:"branch,omitempty"`
	Index  int64  `json:"index"`
	// ConcurrencyGroup is set for boundaries that were in flight at once
	// with others of their branch: the index of the group's first boundary
	// in the branch (absent for a boundary made alone).
	ConcurrencyGroup *int64        `json:"concurrency_group,omitempty"`
	Kind             boundary.Kind `json:"kind"`
	Name             string        `json:"name"`
	SpanName         string        `json:"span_name"`
	SpanID           string        `json:"span_id"`
	Start            time.Time     `json:"start"`
	End              time.Time     `json:"end"`
	DurationNS       int64         `json:"duration_ns"`
	Signature        string        `json:"signature"`
	Status           string        `json:"status"`
	Error            string        `json:"error,omitempty"`
	Divergence       string        `json:"divergence,omitempty"`
	InputTokens      *int64        `json:"input_tokens,omitempty"`
	OutputTokens     *int64        `json:"output_tokens,omitempty"`
	// Live marks, in a fork, a boundary run live (after the fork point);
	// Overridden one answered with an override instead of its recording.
	// Refused one not allowed to run live (it failed with the refusal).
	Live       bool `json:"live,omitempty"`
	Overridden bool `json:"overridden,omitempty"`
	Refused    bool `json:"refused,omitempty"`
}

// NewOutput builds the show document of run.
func NewOutput(run *spanlog.Run) *Output {
	out := &Output{Run: cmdutil.NewRunJSON(run.Info), Build: BuildOf(run.Info.Resource), Boundaries: make([]Boundary, len(run.Records))}
	type group struct {
		branch string
		first  int64
	}
	size := map[group]int{}
	for _, r := range run.Records {
		size[group{r.Branch, r.Group}]++
	}
	for i := range run.Records {
		r := &run.Records[i]
		b := Boundary{
			Seq: r.Seq, Branch: r.Branch, Index: r.Index,
			Kind: r.Kind, Name: r.Name, SpanName: r.SpanName, SpanID: r.SpanID.String(),
			Start: r.Start, End: r.End, DurationNS: int64(r.End.Sub(r.Start)),
			Signature: r.Signature, Status: cmdutil.BoundaryStatus(r), Error: r.Error, Divergence: r.Divergence,
		}
		if size[group{r.Branch, r.Group}] > 1 {
			first := r.Group
			b.ConcurrencyGroup = &first
		}
		b.Live, _ = r.Attributes[boundary.AttrLiveBoundary].(bool)
		b.Overridden, _ = r.Attributes[boundary.AttrOverridden].(bool)
		b.Refused, _ = r.Attributes[boundary.AttrRefused].(bool)
		if n, ok := cmdutil.IntAttribute(r.Attributes, boundary.GenAIInputTokens); ok {
			b.InputTokens = &n
		}
		if n, ok := cmdutil.IntAttribute(r.Attributes, boundary.GenAIOutputTokens); ok {
			b.OutputTokens = &n
		}
		out.Boundaries[i] = b
	}
	return out
}

// BuildOf reads the build identity from a run's resource attributes; nil
// when there is none.
func BuildOf(res map[string]string) *Build {
	b := &Build{
		Module:      res[boundary.AttrBuildModule],
		Version:     res[boundary.AttrBuildVersion],
		VCSRevision: res[boundary.AttrBuildRevision],
		Go:          res[boundary.AttrBuildGo],
		ExeSHA256:   res[boundary.AttrBuildExeSHA256],
	}
	if m, ok := res[boundary.AttrBuildModified]; ok {
		modified := m == "true"
		b.VCSModified = &modified
	}
	if *b == (Build{}) {
		return nil
	}
	return b
}

func runShow(opts *Options) error {
	run, err := cmdutil.ReadRun(opts.Store, opts.TraceID)
	if err != nil {
		return err
	}
	out := NewOutput(run)
	if err := cmdutil.WriteOutput(opts.IO.Out, opts.JSON, out); err != nil {
		return err
	}
	return cmdutil.DamagedRun(run.Info)
}

// WriteText writes the run for a person: the header, then the timeline
// table, fitted to cmdutil.TermWidth columns.
func (o *Output) WriteText(w io.Writer) error {
	var buf strings.Builder
	if err := cmdutil.WriteFields(&buf, o.header()); err != nil {
		return err
	}
	buf.WriteByte('\n')
	if len(o.Boundaries) == 0 {
		buf.WriteString("no boundaries\n")
	} else if err := o.writeTable(&buf); err != nil {
		return err
	}
	var note string
	switch n := len(o.Boundaries); o.Run.Status {
	case spanlog.StatusTruncated:
		if n > 0 {
			note = fmt.Sprintf("the run is truncated: a whole prefix of it, safe to replay up to seq %d", n-1)
			if o.branched() {
				note += "; each branch holds a whole prefix of itself"
			}
		}
	case spanlog.StatusDamaged:
		note = fmt.Sprintf("the run is damaged at seq %d: that boundary and later ones cannot be read", n)
	}
	if note != "" {
		buf.WriteByte('\n')
		for _, line := range cmdutil.Wrap(note, cmdutil.TermWidth) {
			buf.WriteString(line)
			buf.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, buf.String())
	return err
}

func (o *Output) header() []cmdutil.Field {
	info := o.Run
	started := cmdutil.Time(info.Start)
	if info.Ended != nil && !info.Start.IsZero() {
		started += ", took " + cmdutil.Duration(info.Ended.End.Sub(info.Start))
	}
	status := string(info.Status)
	if info.Reason != "" {
		status += ": " + info.Reason
	}
	fields := []cmdutil.Field{
		{Label: "run", Value: info.TraceID},
		{Label: "name", Value: info.Name},
		{Label: "service", Value: info.Service},
		{Label: "started", Value: started},
		{Label: "status", Value: status},
	}
	if info.Ended != nil {
		fields = append(fields, cmdutil.Field{Label: "agent error", Value: info.Ended.Error})
	}
	if f := info.ForkedFrom; f != nil {
		fields = append(fields, cmdutil.Field{Label: "forked from", Value: f.TraceID + ": " + o.forkDescription()})
	} else if info.ReplayOf != "" {
		verdict := "unfinished"
		if info.Ended != nil && info.Ended.Verdict != "" {
			verdict = info.Ended.Verdict
			if info.Ended.Divergences > 0 {
				verdict += ", " + cmdutil.Plural(info.Ended.Divergences, "divergence", "divergences")
			}
		}
		mode := ""
		if info.ReplayMode != "" {
			mode = " (" + info.ReplayMode + ")"
		}
		fields = append(fields, cmdutil.Field{Label: "replay of", Value: info.ReplayOf + mode + ": " + verdict})
	}
	if b := o.Build; b != nil {
		rev := b.VCSRevision
		if rev != "" && b.VCSModified != nil && *b.VCSModified {
			rev += " (modified)"
		}
		fields = append(fields,
			cmdutil.Field{Label: "module", Value: strings.TrimSpace(b.Module + " " + b.Version)},
			cmdutil.Field{Label: "revision", Value: rev},
			cmdutil.Field{Label: "go", Value: b.Go},
			cmdutil.Field{Label: "exe sha256", Value: b.ExeSHA256},
		)
	}
	count := cmdutil.Plural(len(o.Boundaries), "boundary", "boundaries")
	if o.branched() {
		seen := map[string]bool{}
		for _, b := range o.Boundaries {
			seen[b.Branch] = true
		}
		count += " on " + cmdutil.Plural(len(seen), "branch", "branches")
	}
	var in, out int64
	var seen bool
	for _, b := range o.Boundaries {
		if b.InputTokens != nil {
			in, seen = in+*b.InputTokens, true
		}
		if b.OutputTokens != nil {
			out, seen = out+*b.OutputTokens, true
		}
	}
	if seen {
		count += fmt.Sprintf(", %d input + %d output tokens", in, out)
	}
	return append(fields, cmdutil.Field{Label: "boundaries", Value: count})
}

var tableHeader = []string{"SEQ", "KIND", "NAME", "DURATION", "SIGNATURE", "STATUS", "TOKENS IN/OUT"}

// branchHeader is the header of a run with branches.
var branchHeader = []string{"SEQ", "BRANCH", "KIND", "NAME", "DURATION", "SIGNATURE", "STATUS", "TOKENS"}

// minBranchWidth is the least width of the BRANCH column.
const minBranchWidth = 12

// minNameWidth is the least width of the NAME column.
const minNameWidth = 8

// branched reports whether the run has boundaries off its root branch.
func (o *Output) branched() bool {
	for _, b := range o.Boundaries {
		if b.Branch != boundary.RootBranch {
			return true
		}
	}
	return false
}

func (o *Output) writeTable(w io.Writer) error {
	header, nameColumn := tableHeader, 2
	branched := o.branched()
	if branched {
		header, nameColumn = branchHeader, 3
	}
	rows := make([][]string, len(o.Boundaries))
	for i, b := range o.Boundaries {
		status := b.Status
		for _, mark := range []struct {
			set  bool
			name string
		}{{b.Live, "live"}, {b.Overridden, "overridden"}, {b.Refused, "refused"}} {
			switch {
			case !mark.set:
			case status == cmdutil.BoundaryOK, mark.name == "refused":
				status = mark.name
			default:
				status = mark.name + ", " + status
			}
		}
		if b.ConcurrencyGroup != nil {
			status += fmt.Sprintf(", concurrent (group from [%d])", *b.ConcurrencyGroup)
		}
		row := []string{fmt.Sprint(b.Seq)}
		if branched {
			row = append(row, branchCell(b.Branch, b.Index))
		}
		rows[i] = append(row,
			string(b.Kind),
			b.Name,
			cmdutil.Duration(time.Duration(b.DurationNS)),
			boundary.ShortSignature(b.Signature),
			status,
			tokens(b),
		)
	}
	cmdutil.FitColumn(header, rows, nameColumn, minNameWidth)
	if branched {
		cmdutil.FitColumn(header, rows, 1, minBranchWidth)
	}
	return tableprinter.Render(w, header, rows)
}

// branchCell is a boundary's branch and index for the timeline:
// "search[0]", "search/fetch[1]", "(root)[2]".
func branchCell(branch string, index int64) string {
	return boundary.Position(boundary.BranchLabel(branch), index)
}

func tokens(b Boundary) string {
	if b.InputTokens == nil && b.OutputTokens == nil {
		return "-"
	}
	f := func(n *int64) string {
		if n == nil {
			return "?"
		}
		return fmt.Sprint(*n)
	}
	return f(b.InputTokens) + "/" + f(b.OutputTokens)
}

// forkDescription describes the fork from its end record, or for a fork
// that did not end, from its boundaries marked live.
func (o *Output) forkDescription() string {
	recs := make([]boundary.Record, 0, len(o.Boundaries))
	for _, b := range o.Boundaries {
		if b.Live {
			recs = append(recs, boundary.Record{Seq: b.Seq, Attributes: map[string]any{boundary.AttrLiveBoundary: true}})
		}
	}
	return cmdutil.ForkDescription(o.Run.RunInfo, recs)
}
