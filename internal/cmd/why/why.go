// Package why implements `agentrr why`: where the text of a boundary's
// request came from.
package why

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/tableprinter"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr why`.
type Options struct {
	IO    *cmdutil.IOStreams
	Store func() (*spanlog.Store, error)

	TraceID   string
	Seq       int64
	Path      string
	MinLength int
	JSON      bool
}

// NewCmdWhy returns the why command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdWhy(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "why <trace-id> --seq N [--path JSONPATH]",
		Short: "Show which earlier boundaries put the text of a request there",
		Long: `Trace the text of boundary N's request back to the earlier boundaries it
came from: for each string of the request (or of the part --path selects),
the responses of earlier boundaries that hold it, exactly or as a run of at
least --min-length characters, and the chain it travelled (the tool result
that was sent in the next prompt, and in every prompt after it).

Only exact substrings count, byte for byte; nothing is guessed. Earlier
means the boundary had ended before boundary N started. A response's
strings and numbers count, strings inside strings that hold JSON (a tool
call's arguments), the error text of a failed call, and the model's
messages the HTTP transport read from its response (gen_ai.output.messages,
streams included). Text the agent had already sent in an earlier request
before a response arrived is not credited to that response (a model
echoing its prompt), and text found in no response is reported as not
found: the agent's own, or from outside the recorded boundaries (a file, a
direct time.Now), with the first request that already held it.

--path is written as agentrr diff writes paths: messages[3].content,
body.messages[3] (every string under it), ["key with space"]; a path under
the request's "body" (LLM calls through the HTTP transport) may leave
"body." out. A string shorter than --min-length is found only where a
whole value equals it.

Exit status: 0 when some text was found, 1 when none was (like grep), 2
for an unknown run, a bad seq or a path the request does not have.`,
		Example: `  agentrr why 4bf92f35 --seq 4
  agentrr why 4bf92f35 --seq 4 --path messages[3].content
  agentrr why 4bf92f35 --seq 4 --json | jq '.strings[] | select(.found > 0)'`,
		Args:              cmdutil.ExactRunArgs(1),
		ValidArgsFunction: cmdutil.CompleteRunIDs(f, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.TraceID = args[0]
			if err := cmdutil.RequireSeq(cmd, opts.Seq, "the boundary whose request to trace", opts.TraceID); err != nil {
				return err
			}
			if opts.MinLength < 1 {
				return cmdutil.FlagError("--min-length must be 1 or more, not %d", opts.MinLength)
			}
			if runF != nil {
				return runF(opts)
			}
			return runWhy(opts)
		},
	}
	cmd.Flags().Int64Var(&opts.Seq, "seq", 0, "the boundary's `seq` (0 is the first)")
	cmd.Flags().StringVar(&opts.Path, "path", "", "trace only the string at this `path` of the request, or the strings under it")
	cmd.Flags().IntVar(&opts.MinLength, "min-length", analyze.DefaultMinLength, "shortest run of `characters` found inside a longer text")
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Output is the JSON document `agentrr why --json` writes: the run id,
// then the fields of analyze.Provenance.
type Output struct {
	TraceID string `json:"trace_id"`
	*analyze.Provenance
}

func runWhy(opts *Options) error {
	run, err := cmdutil.ReadRun(opts.Store, opts.TraceID)
	if err != nil {
		return err
	}
	info, n := run.Info, int64(len(run.Records))
	if opts.Seq >= n {
		if info.Status == spanlog.StatusDamaged {
			return cmdutil.Exit(cmdutil.ExitDamaged, "seq %d of run %s cannot be read: the run is damaged (%s)", opts.Seq, info.TraceID, info.Reason)
		}
		return cmdutil.SeqOutOfRange(info.TraceID, n, opts.Seq)
	}
	p, err := analyze.Why(run.Records, opts.Seq, analyze.ProvenanceOptions{Path: opts.Path, MinLength: opts.MinLength})
	if err != nil {
		return cmdutil.FlagError("%v (agentrr inspect %.8s --seq %d shows the request)", err, info.TraceID, opts.Seq)
	}
	out := &Output{TraceID: info.TraceID, Provenance: p}
	if err := cmdutil.WriteOutput(opts.IO.Out, opts.JSON, out); err != nil {
		return err
	}
	if err := cmdutil.DamagedRun(info); err != nil {
		return err
	}
	if p.Found == 0 {
		return cmdutil.SilentExit(cmdutil.ExitDiverged)
	}
	return nil
}

// WriteText writes the provenance for a person: a header, each string
// found with its fragments and their chains, then the strings not found.
func (o *Output) WriteText(w io.Writer) error {
	var b strings.Builder
	p := o.Provenance
	what := "the whole request"
	if p.Path != "" {
		what = "request " + p.Path
	}
	fields := []cmdutil.Field{
		{Label: "run", Value: o.TraceID},
		{Label: "boundary", Value: fmt.Sprintf("seq %d%s %s %s", p.Seq, branchNote(p.Branch, p.Index), p.Kind, p.Name)},
		{Label: "traced", Value: what},
		{Label: "searched", Value: fmt.Sprintf("the responses of %s that had ended before it started, for runs of %d characters or more",
			cmdutil.Plural(p.Searched, "earlier boundary", "earlier boundaries"), p.MinLength)},
	}
	if p.Partial != "" {
		fields = append(fields, cmdutil.Field{Label: "note", Value: p.Partial})
	}
	if err := cmdutil.WriteFields(&b, fields); err != nil {
		return err
	}
	var notFound []analyze.StringProvenance
	for _, s := range p.Strings {
		if s.Found == 0 {
			notFound = append(notFound, s)
			continue
		}
		b.WriteByte('\n')
		writeFound(&b, s)
	}
	// One string asked for by its path: say in full why nothing was found.
	if len(p.Strings) == 1 && len(notFound) == 1 {
		s := notFound[0]
		b.WriteByte('\n')
		para(&b, "", fmt.Sprintf("%s (%s): not found", displayPath(s.Path), cmdutil.Plural(s.Length, "character", "characters")))
		b.WriteString("  " + quote(s.Value, cmdutil.TermWidth-2) + "\n")
		para(&b, "  ", notFoundText(p.MinLength, s))
	} else if len(notFound) > 0 {
		b.WriteByte('\n')
		para(&b, "", fmt.Sprintf("not found in any earlier response (the agent's own text, or from outside the recorded boundaries): %s",
			cmdutil.Plural(len(notFound), "string", "strings")))
		for _, s := range notFound {
			line := fmt.Sprintf("%s (%s)", displayPath(s.Path), cmdutil.Plural(s.Length, "character", "characters"))
			if s.SentBefore != nil && s.SentBefore.Seq < p.Seq {
				line += fmt.Sprintf(", sent first in seq %d", s.SentBefore.Seq)
			}
			para(&b, "  ", line)
		}
	}
	if p.Found == 0 {
		b.WriteByte('\n')
		para(&b, "", "nothing in this request came from an earlier boundary's response")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFound(b *strings.Builder, s analyze.StringProvenance) {
	head := fmt.Sprintf("%s (%s): %d found", displayPath(s.Path), cmdutil.Plural(s.Length, "character", "characters"), s.Found)
	if s.Found == s.Length {
		head = fmt.Sprintf("%s (%s): all found", displayPath(s.Path), cmdutil.Plural(s.Length, "character", "characters"))
	}
	para(b, "", head)
	for _, f := range s.Fragments {
		where := fmt.Sprintf("characters %d-%d", f.Start, f.End)
		if f.Whole {
			where = "the whole string"
		}
		head := fmt.Sprintf("  %s, %s: ", where, cmdutil.Plural(f.Length, "character", "characters"))
		b.WriteString(head + quote(f.Text, cmdutil.TermWidth-len(head)) + "\n")
		for i, src := range f.Sources {
			verb := "from"
			if i > 0 {
				verb = "also in"
			}
			para(b, "    ", verb+" "+placeText(src))
		}
		if f.MoreSources > 0 {
			para(b, "    ", fmt.Sprintf("and in %s more", cmdutil.Plural(f.MoreSources, "response", "responses")))
		}
		if len(f.Sources) > 0 {
			chain := fmt.Sprintf("seq %d %s", f.Sources[0].Seq, f.Sources[0].Part)
			if f.Via != nil {
				chain += fmt.Sprintf(" → seq %d request %s", f.Via.Seq, displayPath(f.Via.Path))
				if f.ViaCount > 1 {
					chain += " → " + cmdutil.Plural(f.ViaCount-1, "more request", "more requests")
				}
			}
			chain += " → here"
			para(b, "    ", "chain: "+chain)
		}
	}
	if s.MoreFragments > 0 {
		para(b, "  ", fmt.Sprintf("and %s more (agentrr why --json lists %d)", cmdutil.Plural(s.MoreFragments, "fragment", "fragments"), len(s.Fragments)))
	}
}

func notFoundText(minLength int, s analyze.StringProvenance) string {
	t := fmt.Sprintf("No earlier boundary's response holds it, or a run of %d characters or more of it, that the agent had not sent before the response arrived: it is the agent's own text, or came from outside the recorded boundaries.", minLength)
	if s.Length < minLength {
		t = fmt.Sprintf("No value of an earlier boundary's response equals it (it is shorter than %d characters, so only whole values count): it is the agent's own text, or came from outside the recorded boundaries.", minLength)
	}
	if p := s.SentBefore; p != nil {
		t += fmt.Sprintf(" The agent sent it first in seq %d%s %s %s's request at %s.", p.Seq, branchNote(p.Branch, p.Index), p.Kind, p.Name, displayPath(p.Path))
	}
	return t
}

// placeText names a place: "seq 1 tool lookup_order's response at
// status_note".
func placeText(p analyze.Place) string {
	s := fmt.Sprintf("seq %d%s %s %s's %s", p.Seq, branchNote(p.Branch, p.Index), p.Kind, p.Name, p.Part)
	if p.Path != "" {
		s += " at " + p.Path
	}
	if p.Decoded != "" {
		s += ", decoded as JSON: " + p.Decoded
	}
	if p.Whole {
		s += " (the whole value)"
	}
	return s
}

func branchNote(branch string, index int64) string {
	if branch == boundary.RootBranch {
		return ""
	}
	return " (branch " + boundary.Position(boundary.BranchLabel(branch), index) + ")"
}

func displayPath(path string) string {
	if path == "" {
		return "request"
	}
	return path
}

// quote is s quoted on one line, cut to width columns.
func quote(s string, width int) string {
	return tableprinter.Cut(strconv.Quote(s), width)
}

// para writes text wrapped to the terminal width, each line prefixed.
func para(b *strings.Builder, prefix, text string) {
	for _, line := range cmdutil.Wrap(text, cmdutil.TermWidth-len(prefix)) {
		b.WriteString(prefix)
		b.WriteString(line)
		b.WriteByte('\n')
	}
}
