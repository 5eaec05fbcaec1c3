// Package proxyrun runs agentrr's recording proxy for a command: `agentrr
// proxy` (recording or replaying, with or without a client command) and
// `agentrr replay --proxy` share it. It starts the proxy, tells the user
// where it listens and what to set, runs the client command (or waits for
// an interrupt), stops the proxy and prints what it recorded, or the replay
// report.
package proxyrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/agentrr/agentrr/internal/cmd/internal/agentrun"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/proxy"
	"github.com/agentrr/agentrr/internal/tableprinter"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of one proxy session.
type Options struct {
	IO     *cmdutil.IOStreams
	Config proxy.Config
	// Command is the client command to run with the proxy's environment;
	// when empty the proxy serves until it is interrupted.
	Command []string
	// JSON prints the replay report (or the recorded runs) as JSON, and
	// sends the client's stdout to stderr.
	JSON bool
	// StopGrace is how long requests in flight get to finish when the
	// proxy stops (10 s when 0).
	StopGrace time.Duration
}

// Run runs one proxy session. The error carries the command's exit status:
// 2 when the proxy cannot listen (a port in use), 1 when a replay diverged,
// 4 when the client command failed otherwise.
func Run(ctx context.Context, opts *Options) error {
	if ctx == nil {
		ctx = context.Background()
	}
	srv, err := proxy.New(ctx, opts.Config)
	if err != nil {
		var le *proxy.ListenError
		if errors.As(err, &le) {
			return cmdutil.Exit(cmdutil.ExitUsage, "agentrr proxy %s", le.Error())
		}
		return err
	}
	announce(opts, srv)

	var runErr error
	if len(opts.Command) > 0 {
		runErr = runClient(ctx, opts, srv)
	} else {
		wait, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		<-wait.Done()
		stop()
		fmt.Fprintln(opts.IO.ErrOut, "agentrr proxy: stopping")
	}
	grace := opts.StopGrace
	if grace == 0 {
		grace = 10 * time.Second
	}
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	res, closeErr := srv.Close(closeCtx)
	if res == nil {
		return closeErr
	}
	if srv.Replaying() {
		return errors.Join(conclude(opts, res, runErr), closeErr)
	}
	return errors.Join(listRuns(opts, res, runErr), closeErr)
}

// announce says where the proxy listens and what to point clients at, on
// stderr (stdout stays the client's, or the report's).
func announce(opts *Options, srv *proxy.Server) {
	w := opts.IO.ErrOut
	mode := "recording into " + spanlog.Dir(opts.Config.Store)
	if srv.Replaying() {
		mode = fmt.Sprintf("replaying run %s (no upstream is contacted)", opts.Config.Replay.TraceID)
	}
	fmt.Fprintf(w, "agentrr proxy: listening on %s, %s\n", srv.URL(), mode)
	if !srv.Loopback() {
		fmt.Fprintf(w, "agentrr proxy: WARNING: listening on %s, beyond loopback, as --listen asked: any host that reaches it can send requests through it (with the API keys of the clients that use it, upstream) and make it record into this store\n", srv.Addr())
	}
	if !srv.Replaying() {
		fmt.Fprintf(w, "agentrr proxy: upstreams: openai %s, anthropic %s\n", srv.Upstream("openai"), srv.Upstream("anthropic"))
	}
	if len(opts.Command) == 0 {
		fmt.Fprintln(w, "agentrr proxy: point clients at it with:")
		for _, kv := range srv.Env(os.Environ()) {
			fmt.Fprintf(w, "  export %s\n", kv)
		}
		fmt.Fprintln(w, "agentrr proxy: stop it with Ctrl-C (or SIGTERM); it then ends its runs")
	}
}

// runClient runs the client command with the proxy's environment and
// returns its exit error.
func runClient(ctx context.Context, opts *Options, srv *proxy.Server) error {
	cmd := agentrun.AgentCommand(ctx, opts.Command)
	// A Go agent built with otelrr.FromEnv must not go into replay mode of
	// its own: behind the proxy, the proxy replays.
	env := agentrun.WithoutAgentrrEnv(os.Environ())
	cmd.Env = append(env, srv.Env(env)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.IO.ChildStreams(opts.JSON)
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return cmdutil.Exit(cmdutil.ExitAgent, "could not start %q: %v", opts.Command[0], err)
	}
	return err
}

// conclude prints the replay report and returns the exit status.
func conclude(opts *Options, res *proxy.Result, runErr error) error {
	var ee *cmdutil.ExitError
	if errors.As(runErr, &ee) {
		return runErr
	}
	rep := res.Report
	if rep == nil {
		return errors.New("the replay left no report")
	}
	if err := cmdutil.WriteReport(opts.IO.Out, opts.JSON, rep); err != nil {
		return err
	}
	switch {
	case !rep.Faithful():
		return cmdutil.SilentExit(cmdutil.ExitDiverged)
	case rep.Stopped != nil:
		// Stopped on request (--until-seq): how the client took it is its
		// affair.
		return nil
	case runErr != nil:
		return cmdutil.Exit(cmdutil.ExitAgent, "the client command failed (%v) without diverging from the recording", runErr)
	}
	return nil
}

// listRuns prints the runs recorded, and returns the exit status.
func listRuns(opts *Options, res *proxy.Result, runErr error) error {
	var ee *cmdutil.ExitError
	if errors.As(runErr, &ee) {
		return runErr
	}
	store, err := spanlog.OpenExisting(spanlog.Dir(opts.Config.Store))
	var infos []spanlog.RunInfo
	for _, r := range res.Runs {
		info := spanlog.RunInfo{RunMeta: spanlog.RunMeta{TraceID: r.ID, Name: r.Name}}
		if err == nil {
			if got, ierr := store.Info(r.ID); ierr == nil {
				info = got
			}
		}
		infos = append(infos, info)
	}
	if opts.JSON {
		if infos == nil {
			infos = []spanlog.RunInfo{}
		}
		if err := cmdutil.WriteJSON(opts.IO.Out, infos); err != nil {
			return err
		}
	} else if len(infos) > 0 {
		w := opts.IO.Out
		if len(opts.Command) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "recorded %d run%s:\n", len(infos), map[bool]string{true: "", false: "s"}[len(infos) == 1])
		rows := make([][]string, 0, len(infos))
		for _, r := range infos {
			rows = append(rows, []string{r.TraceID, tableprinter.Cut(r.Name, 24), fmt.Sprint(r.Boundaries), string(r.Status)})
		}
		if err := tableprinter.Render(w, []string{"TRACE ID", "NAME", "BOUNDARIES", "STATUS"}, rows); err != nil {
			return err
		}
		client := "<client command>"
		if len(opts.Command) > 0 {
			client = strings.Join(opts.Command, " ")
		}
		fmt.Fprintf(w, "replay with: agentrr replay --from-trace %.8s --proxy -- %s\n", infos[len(infos)-1].TraceID, client)
	} else {
		fmt.Fprintln(opts.IO.ErrOut, "agentrr proxy: no request came through: no run was recorded")
	}
	if runErr != nil {
		return cmdutil.Exit(cmdutil.ExitAgent, "the client command failed (%v); what it did is recorded above", runErr)
	}
	return nil
}
