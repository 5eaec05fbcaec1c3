// Package record implements `agentrr record`.
package record

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agentrr/agentrr/internal/cmd/internal/agentrun"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/internal/tableprinter"
	"github.com/agentrr/agentrr/spanlog"
)

// AttrSession is the resource attribute `agentrr record` gives the agent
// (through OTEL_RESOURCE_ATTRIBUTES): a random id per invocation, by which
// it finds the runs the agent recorded among those other processes record
// into the same store meanwhile.
const AttrSession = "agentrr.record.session"

// Options are the inputs of `agentrr record`.
type Options struct {
	IO        *cmdutil.IOStreams
	StorePath string

	Command []string
	JSON    bool
}

// NewCmdRecord returns the record command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdRecord(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "record [--json] -- <agent command> [args...]",
		Short: "Run an agent, recording its runs, and print their run ids",
		Long: `Run the agent command with its runs recorded into the store (the agent gets
AGENTRR_STORE, as an absolute path, in its environment), pass its standard
streams through, and when it exits print the runs it recorded: run id,
name, number of boundaries and status.

The agent must build its tracer provider with otelrr.NewTracerProvider
(with otelrr.FromEnv() so that the same binary also replays) and start its
runs with StartRun. Runs are told apart from those other processes record
into the same store meanwhile by a resource attribute the agent gets
through OTEL_RESOURCE_ATTRIBUTES (agentrr.record.session=<random id>).

Exit status: 0 when the agent exited 0 and recorded a run; 4 when it exited
non-zero (the runs it recorded are still listed: a recorded failure is what
replay is for) or recorded no run.`,
		Example: `  agentrr record -- go run ./examples/deterministic_support
  agentrr record --json -- ./bin/my-agent --task 17 | jq -r '.[0].trace_id'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() < 0 || len(args) == 0 {
				return cmdutil.FlagError("give the agent command after --, e.g. agentrr record -- go run ./examples/deterministic_support")
			}
			if cmd.ArgsLenAtDash() > 0 {
				return cmdutil.FlagError("unexpected arguments before --: %q", args[:cmd.ArgsLenAtDash()])
			}
			opts.Command = args
			opts.StorePath = f.StorePath()
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Run runs the agent and prints the runs it recorded.
func Run(ctx context.Context, opts *Options) error {
	storeAbs, err := filepath.Abs(opts.StorePath)
	if err != nil {
		return err
	}
	store, err := spanlog.Open(storeAbs)
	if err != nil {
		return err
	}
	before, err := store.TraceIDs()
	if err != nil {
		return err
	}
	session, err := newSessionID()
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	child := agentrun.AgentCommand(ctx, opts.Command)
	child.Env = append(agentrun.WithoutAgentrrEnv(os.Environ()),
		handshake.EnvStore+"="+storeAbs,
		"OTEL_RESOURCE_ATTRIBUTES="+resourceAttributes(os.Getenv("OTEL_RESOURCE_ATTRIBUTES"), session),
	)
	child.Stdin, child.Stdout, child.Stderr = opts.IO.ChildStreams(opts.JSON)
	runErr, err := agentrun.RunAgent(child)
	if err != nil {
		return err
	}
	pid := child.Process.Pid

	runs, err := recorded(store, before, session, pid)
	if err != nil {
		return err
	}
	if opts.JSON {
		if runs == nil {
			runs = []spanlog.RunInfo{}
		}
		if err := cmdutil.WriteJSON(opts.IO.Out, runs); err != nil {
			return err
		}
	} else if len(runs) > 0 {
		if err := writeRuns(opts.IO.Out, runs, opts.Command); err != nil {
			return err
		}
	}
	switch {
	case len(runs) == 0 && runErr != nil:
		return cmdutil.Exit(cmdutil.ExitAgent, "the agent failed (%s) and recorded no run in %s", agentrun.ExitStatus(runErr), storeAbs)
	case len(runs) == 0:
		return cmdutil.Exit(cmdutil.ExitAgent, "the agent recorded no run in %s: it must build its tracer provider with otelrr.NewTracerProvider(ctx, otelrr.FromEnv()) and start a run with StartRun (and end it with Run.End)", storeAbs)
	case runErr != nil:
		return cmdutil.Exit(cmdutil.ExitAgent, "the agent failed (%s); what it did is recorded above", agentrun.ExitStatus(runErr))
	}
	return nil
}

// recorded returns the runs created since before that the agent recorded:
// those carrying its session attribute, or, for an agent that replaced its
// resource, written by its process. Oldest first.
func recorded(store *spanlog.Store, before []string, session string, pid int) ([]spanlog.RunInfo, error) {
	after, err := store.TraceIDs()
	if err != nil {
		return nil, err
	}
	old := make(map[string]bool, len(before))
	for _, id := range before {
		old[id] = true
	}
	var runs []spanlog.RunInfo
	for _, id := range after {
		if old[id] {
			continue
		}
		info, err := store.Info(id)
		if err != nil {
			var rec *spanlog.RecordingError
			if !errors.As(err, &rec) {
				return nil, err
			}
			// A descendant of the agent still records (the agent left it
			// running); list it if it is ours.
			info = spanlog.RunInfo{RunMeta: spanlog.RunMeta{TraceID: id, PID: rec.PID}, Status: spanlog.StatusRecording}
			if rec.PID != pid {
				continue
			}
		}
		s, tagged := info.Resource[AttrSession]
		if (tagged && s == session) || (!tagged && info.PID == pid) {
			runs = append(runs, info)
		}
	}
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Start.Before(runs[j].Start) })
	return runs, nil
}

func writeRuns(w io.Writer, runs []spanlog.RunInfo, command []string) error {
	if len(runs) == 1 {
		fmt.Fprintln(w, "\nrecorded 1 run:")
	} else {
		fmt.Fprintf(w, "\nrecorded %d runs:\n", len(runs))
	}
	rows := make([][]string, 0, len(runs))
	for _, r := range runs {
		status := string(r.Status)
		if r.Status == spanlog.StatusComplete && r.Ended != nil && r.Ended.Error != "" {
			status = "complete (agent error)"
		}
		rows = append(rows, []string{r.TraceID, tableprinter.Cut(r.Name, 24), fmt.Sprint(r.Boundaries), status})
	}
	if err := tableprinter.Render(w, []string{"TRACE ID", "NAME", "BOUNDARIES", "STATUS"}, rows); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "replay with: agentrr replay --from-trace %.8s -- %s\n", runs[len(runs)-1].TraceID, strings.Join(command, " "))
	return err
}

// resourceAttributes adds the session attribute to an
// OTEL_RESOURCE_ATTRIBUTES value.
func resourceAttributes(existing, session string) string {
	kv := AttrSession + "=" + session
	if strings.TrimSpace(existing) == "" {
		return kv
	}
	return existing + "," + kv
}

func newSessionID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("record: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
