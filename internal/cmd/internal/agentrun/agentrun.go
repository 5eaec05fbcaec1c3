// Package agentrun runs an agent command as a child process for the
// commands that drive one (replay, step, fork, record, test): in replay
// mode with the settings otelrr.FromEnv reads, collecting the report its
// replay session writes, and concluding with agentrr's exit statuses.
package agentrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/internal/tableprinter"
	"github.com/agentrr/agentrr/replayer"
)

// CheckCommand checks the arguments of a command that runs an agent given
// after --, with the recording named by --from-trace (traceID).
func CheckCommand(cmd *cobra.Command, args []string, traceID string) error {
	if traceID == "" {
		return cmdutil.FlagError("--from-trace is required: the trace id (or a unique prefix) of the run to replay; list runs with: agentrr runs")
	}
	if cmd.ArgsLenAtDash() < 0 || len(args) == 0 {
		return cmdutil.FlagError("give the agent command after --, e.g. %s --from-trace %s -- go run ./examples/deterministic_support", cmd.CommandPath(), traceID)
	}
	if cmd.ArgsLenAtDash() > 0 {
		return cmdutil.FlagError("unexpected arguments before --: %q", args[:cmd.ArgsLenAtDash()])
	}
	return nil
}

// Child is one replay of a recording by an agent process.
type Child struct {
	// Recording is the run to replay; StorePath the store holding it.
	Recording *replayer.Recording
	StorePath string
	Mode      replayer.Mode
	// Command is the agent command and its arguments; Dir, when not empty,
	// the directory it runs in.
	Command []string
	Dir     string
	// Env holds environment variables added to the replay settings.
	Env []string
	// The agent's standard streams; a nil Stdin is the null device.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// RunChild runs the agent command in replay mode and returns the report
// the agent's replay session wrote, and runErr, the agent's exit error
// (nil when it exited 0). The error is set when no replay took place: the
// agent could not be started, or it never started a run in replay mode.
func RunChild(ctx context.Context, c *Child) (report *analyze.Report, runErr error, err error) {
	tmp, err := os.MkdirTemp("", "agentrr-replay-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	reportPath := filepath.Join(tmp, "report.json")
	storeAbs, err := filepath.Abs(c.StorePath)
	if err != nil {
		return nil, nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	cmd := AgentCommand(ctx, c.Command)
	cmd.Dir = c.Dir
	cmd.Env = append(WithoutAgentrrEnv(os.Environ()),
		handshake.EnvStore+"="+storeAbs,
		handshake.EnvReplay+"="+c.Recording.TraceID,
		handshake.EnvReplayMode+"="+string(c.Mode),
		handshake.EnvReplayReport+"="+reportPath,
	)
	cmd.Env = append(cmd.Env, c.Env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	if runErr, err = RunAgent(cmd); err != nil {
		return nil, nil, err
	}
	report, err = readReport(reportPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, cmdutil.Exit(cmdutil.ExitAgent, "the agent (%s) did not replay run %s: it never started a run in replay mode. Build its tracer provider with otelrr.NewTracerProvider(ctx, otelrr.FromEnv()) and start the run with StartRun", ExitStatus(runErr), c.Recording.TraceID)
	}
	if err != nil {
		return nil, nil, err
	}
	return report, runErr, nil
}

// Conclude prints the report of a replay, as a table or as JSON, and
// returns the command's outcome: nil when the replay was faithful and the
// agent ended its run (or was stopped on request), an exit status
// otherwise. runErr is the agent's exit error.
func Conclude(out *cmdutil.IOStreams, report *analyze.Report, runErr error, asJSON bool) error {
	if err := cmdutil.WriteReport(out.Out, asJSON, report); err != nil {
		return err
	}
	switch {
	case !report.Faithful():
		return cmdutil.SilentExit(cmdutil.ExitDiverged)
	case report.Stopped != nil:
		// The agent was stopped on request; how it exited is its affair.
		return nil
	case len(report.Refused) > 0:
		l := report.Refused[0]
		return cmdutil.Exit(cmdutil.ExitRefused, "fork: %s %s was not allowed to run live after the fork point, and was not called (allow it with --live-tool %q, or every tool with --live-tools)", l.Kind, l.Name, l.Name)
	case runErr != nil:
		return cmdutil.Exit(cmdutil.ExitAgent, "the agent failed (%s) without diverging from the recording", ExitStatus(runErr))
	case !report.Finished:
		return cmdutil.Exit(cmdutil.ExitAgent, "the agent exited without ending its run (Run.End was not called)")
	}
	return nil
}

// WriteReplayed writes the boundaries 0..before-1 of rec, the ones a
// stopped replay served, as a table: seq, kind, name and recorded answer.
func WriteReplayed(w io.Writer, rec *replayer.Recording, before int64) error {
	n := min(before, int64(len(rec.Records)))
	if n <= 0 {
		_, err := fmt.Fprintf(w, "no boundaries of run %s were replayed\n", rec.TraceID)
		return err
	}
	if _, err := fmt.Fprintf(w, "replayed boundaries 0..%d of run %s:\n", n-1, rec.TraceID); err != nil {
		return err
	}
	rows := make([][]string, 0, n)
	for _, r := range rec.Records[:n] {
		answer := string(r.Response)
		if r.Failed {
			answer = "error: " + r.Error
		}
		rows = append(rows, []string{
			strconv.FormatInt(r.Seq, 10),
			string(r.Kind),
			tableprinter.Cut(r.Name, 20),
			tableprinter.Cut(answer, 46),
		})
	}
	return tableprinter.Render(w, []string{"SEQ", "KIND", "NAME", "RECORDED ANSWER"}, rows)
}

// RecordedCommand returns the command run id was recorded with, and the
// directory to run it in, from its header: the executable that ran, with
// the recorded arguments. It is an error, showing the recorded command,
// when the run has none or its executable or directory is gone. A note on
// w says so when arguments were redacted.
func RecordedCommand(id string, c *boundary.Command, w io.Writer) ([]string, string, error) {
	if c == nil || len(c.Args) == 0 {
		return nil, "", cmdutil.FlagError("run %s does not record the command it was recorded with (recorded before agentrr kept it, received over OTLP, or recorded through agentrr proxy): give the agent command after --, e.g. agentrr replay %.8s -- ./bin/my-agent", id, id)
	}
	shown := ShellQuote(c.Args)
	exe := c.Executable
	if exe == "" {
		exe = c.Args[0]
		if !strings.Contains(exe, "/") {
			if p, err := exec.LookPath(exe); err == nil {
				exe = p
			}
		} else if c.Dir != "" && !filepath.IsAbs(exe) {
			exe = filepath.Join(c.Dir, exe)
		}
	}
	if fi, err := os.Stat(exe); err != nil || fi.IsDir() {
		hint := ""
		if strings.Contains(exe, "go-build") {
			hint = " (it was built by go run, which deletes its binary when the agent exits)"
		}
		return nil, "", cmdutil.FlagError("run %s was recorded by the command\n  %s\nin %s, and its executable %s is gone%s: give the agent command after --: agentrr replay %.8s -- %s",
			id, shown, orDash(c.Dir), exe, hint, id, strings.TrimSpace("<agent> "+ShellQuote(c.Args[1:])))
	}
	if c.Dir != "" {
		if fi, err := os.Stat(c.Dir); err != nil || !fi.IsDir() {
			return nil, "", cmdutil.FlagError("run %s was recorded by the command\n  %s\nin %s, and that directory is gone: give the agent command after -- (it runs here)", id, shown, c.Dir)
		}
	}
	if c.Redacted > 0 {
		fmt.Fprintf(w, "agentrr: note: %s of the recorded command were redacted when it was recorded and are passed as [redacted] (a replay makes no network call); give the command after -- to pass others\n", cmdutil.Plural(c.Redacted, "argument", "arguments"))
	}
	argv := append([]string{exe}, c.Args[1:]...)
	return argv, c.Dir, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ShellQuote shows argv as a shell would take it back.
func ShellQuote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r == '/' || r == '=' || r == ':' || r == ',' || r == '+' || r == '@' ||
				('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9'))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}

// AgentCommand returns the command running the agent. When ctx is
// cancelled (Ctrl-C) the agent gets an interrupt, so it can end its run,
// and is killed if it has not exited 10 seconds later.
func AgentCommand(ctx context.Context, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// RunAgent runs the agent command cmd (see AgentCommand) and returns its
// exit error, runErr (nil when it exited 0); err, with exit status
// ExitAgent, says that it could not be started.
func RunAgent(cmd *exec.Cmd) (runErr, err error) {
	runErr = cmd.Run()
	var exitErr *exec.ExitError
	if runErr != nil && !errors.As(runErr, &exitErr) {
		return nil, cmdutil.Exit(cmdutil.ExitAgent, "could not start the agent %q: %v", cmd.Args[0], runErr)
	}
	return runErr, nil
}

// WithoutAgentrrEnv returns env without the replay settings otelrr.FromEnv
// reads, so an agent started by agentrr gets only the ones agentrr sets.
func WithoutAgentrrEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, handshake.EnvReplay) { // AGENTRR_REPLAY and AGENTRR_REPLAY_*
			continue
		}
		out = append(out, kv)
	}
	return out
}

func readReport(path string) (*analyze.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return analyze.ReadReport(f)
}

// ExitStatus describes how the agent exited, from its exit error.
func ExitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
