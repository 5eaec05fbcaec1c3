// Package step implements `agentrr step`: a replay that stops before each
// boundary and waits for the user.
package step

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/agentrr/agentrr/internal/cmd/internal/agentrun"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr step`.
type Options struct {
	IO        *cmdutil.IOStreams
	Store     func() (*spanlog.Store, error)
	StorePath string

	TraceID string
	Observe bool
	Command []string
	// Script is true when the commands come from a script rather than a
	// person at a terminal: each command read is echoed after the prompt.
	Script bool
}

// NewCmdStep returns the step command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdStep(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: f.Store}
	cmd := &cobra.Command{
		Use:   "step --from-trace <trace-id> [--observe] -- <agent command> [args...]",
		Short: "Replay a recorded run one boundary at a time",
		Long: `Replay a recorded run like agentrr replay, but stop before each boundary:
show its seq, kind and name, the agent's request, the recorded response
(indented JSON, cut to a screenful: agentrr inspect <trace-id> --seq N shows
a boundary whole) and whether the request matches the recording, then ask:

  n, next (or Enter)  serve this boundary and stop at the next one
  c, continue         serve this and every later boundary without stopping
  q, quit             stop the agent here, as replay --until-seq does

Commands are read from standard input, one per line, so a session can be
scripted: from a pipe or a file each command read is echoed, and the end of
the input means continue. The agent's own standard input is the null device.

The agent must build its tracer provider with otelrr.FromEnv(): before each
boundary it sends the step to this command over a unix socket named in
AGENTRR_REPLAY_STEP and waits for the answer. When the agent exits, the
replay report is printed.

Exit status: as agentrr replay (0 faithful so far, quit included, 1 diverged,
2 usage or unknown run, 3 damaged run, 4 the agent failed without diverging).`,
		Example: `  agentrr step --from-trace 4bf92f35 -- go run ./examples/deterministic_support
  printf 'n\nn\nq\n' | agentrr step --from-trace 4bf92f35 -- ./bin/my-agent`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := agentrun.CheckCommand(cmd, args, opts.TraceID); err != nil {
				return err
			}
			opts.Command = args
			opts.StorePath = f.StorePath()
			opts.Script = !isTerminal(opts.IO.In)
			if runF != nil {
				return runF(opts)
			}
			return Run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.TraceID, "from-trace", "", "trace id (or unique prefix) of the recorded run to replay")
	cmd.Flags().BoolVar(&opts.Observe, "observe", false, "never halt: collect every divergence, serving recorded answers where kind and name agree")
	return cmd
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// Run steps through the replay of the run by the agent command.
func Run(ctx context.Context, opts *Options) error {
	_, rec, err := cmdutil.LoadRecording(opts.Store, opts.TraceID)
	if err != nil {
		return err
	}
	mode := replayer.Strict
	if opts.Observe {
		mode = replayer.Observe
	}
	dir, err := socketDir()
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "step.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("step: listen on %s: %w", sock, err)
	}

	// The agent's output and the steps share the terminal: one writer each
	// for stdout and stderr, so that neither is written concurrently.
	out, errOut := shared(opts.IO.Out), shared(opts.IO.ErrOut)
	ctl := &controller{out: out, in: newLines(opts.IO.In), script: opts.Script}
	served := make(chan struct{})
	go func() {
		defer close(served)
		ctl.serve(ln)
	}()

	report, runErr, err := agentrun.RunChild(ctx, &agentrun.Child{
		Recording: rec,
		StorePath: opts.StorePath,
		Mode:      mode,
		Command:   opts.Command,
		Env:       []string{handshake.EnvReplayStep + "=" + sock},
		Stdout:    out,
		Stderr:    errOut,
	})
	ln.Close()
	ctl.stop()
	<-served
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.Out)
	return agentrun.Conclude(opts.IO, report, runErr, false)
}

// socketDir makes a private directory for the control socket. Unix socket
// paths are short (about 100 bytes), so a long $TMPDIR falls back to /tmp.
func socketDir() (string, error) {
	dir, err := os.MkdirTemp("", "agentrr-step-")
	if err == nil && len(dir) > 80 {
		os.RemoveAll(dir)
		dir, err = os.MkdirTemp("/tmp", "agentrr-step-")
	}
	if err != nil {
		return "", fmt.Errorf("step: make a directory for the control socket: %w", err)
	}
	return dir, nil
}

// controller answers the agent's steps with the user's commands.
type controller struct {
	out    io.Writer
	in     *lines
	script bool

	mu        sync.Mutex
	conns     []net.Conn
	stopped   bool
	continued bool // the user said continue, or the input ended
}

// serve accepts the agent's connections (one per replaying process) until
// the listener is closed, answering their steps one at a time.
func (c *controller) serve(ln net.Listener) {
	var wg sync.WaitGroup
	var turn sync.Mutex // one step on screen at a time
	for {
		conn, err := ln.Accept()
		if err != nil {
			break
		}
		c.mu.Lock()
		if c.stopped {
			c.mu.Unlock()
			conn.Close()
			break
		}
		c.conns = append(c.conns, conn)
		c.mu.Unlock()
		wg.Go(func() {
			defer conn.Close()
			r := bufio.NewReader(conn)
			for {
				line, err := r.ReadBytes('\n')
				if err != nil {
					return
				}
				turn.Lock()
				reply := c.answer(line)
				turn.Unlock()
				b, _ := json.Marshal(reply)
				if _, err := conn.Write(append(b, '\n')); err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

// stop ends the session: open connections are closed and a pending prompt
// is abandoned.
func (c *controller) stop() {
	c.mu.Lock()
	c.stopped = true
	conns := c.conns
	c.mu.Unlock()
	for _, conn := range conns {
		conn.Close()
	}
	c.in.abandon()
}

// answer shows one step and returns the user's decision.
func (c *controller) answer(line []byte) handshake.StepReply {
	var st replayer.Step
	if err := json.Unmarshal(line, &st); err != nil {
		return handshake.StepReply{Error: fmt.Sprintf("agentrr step could not read the step message: %v", err)}
	}
	c.mu.Lock()
	continued := c.continued
	c.mu.Unlock()
	if continued {
		return handshake.StepReply{Action: string(replayer.Continue)}
	}
	var b bytes.Buffer
	writeStep(&b, &st)
	c.out.Write(b.Bytes())
	for {
		fmt.Fprint(c.out, prompt)
		cmd, ok := c.in.next()
		if !ok {
			if c.in.abandoned() {
				return handshake.StepReply{Action: string(replayer.Quit)}
			}
			fmt.Fprintln(c.out, "(end of input: continue)")
			c.mu.Lock()
			c.continued = true
			c.mu.Unlock()
			return handshake.StepReply{Action: string(replayer.Continue)}
		}
		if c.script {
			fmt.Fprintln(c.out, cmd)
		}
		act, err := replayer.ParseAction(strings.ToLower(strings.TrimSpace(cmd)))
		if err != nil {
			fmt.Fprintf(c.out, "%q is not a step command: type n (next), c (continue) or q (quit)\n", cmd)
			continue
		}
		if act == replayer.Continue {
			c.mu.Lock()
			c.continued = true
			c.mu.Unlock()
		}
		return handshake.StepReply{Action: string(act)}
	}
}

const prompt = "next / continue / quit [n/c/q, Enter = next]> "

// payloadLines is how many lines of a request or response a step shows:
// both fit on a screen with the step's header and prompt.
const payloadLines = 12

// writeStep writes a step for a person: a header line with seq, kind, name
// and whether it matches the recording, what differs when it does not,
// then the agent's request and the recorded response.
func writeStep(b *bytes.Buffer, st *replayer.Step) {
	where := fmt.Sprintf("seq %d of 0..%d", st.Seq, st.Total-1)
	if st.Seq < 0 {
		where = fmt.Sprintf("past the end of the recording (0..%d)", st.Total-1)
	}
	if st.Branch != "" {
		where += ", branch " + boundary.Position(st.Branch, st.Index)
	}
	fmt.Fprintf(b, "\n%s  %s %s", where, st.Kind, st.Name)
	switch d := st.Divergence; {
	case d == nil:
		b.WriteString("  (matches the recording)\n")
	case d.Reason == analyze.ReasonExtra || d.Reason == analyze.ReasonTruncated:
		b.WriteString("  (DIVERGES: past the end of the recording)\n")
	case d.Reason == analyze.ReasonConcurrent || d.Reason == analyze.ReasonAmbiguous:
		fmt.Fprintf(b, "  (DIVERGES: %s: %s)\n", d.Reason, d.Note)
	case d.Reason == analyze.ReasonKind:
		fmt.Fprintf(b, "  (DIVERGES: the recording has %s %s here)\n", d.ExpectedKind, d.ExpectedName)
	default:
		fmt.Fprintf(b, "  (DIVERGES: %s)\n", d.Reason)
		for _, ch := range d.Diff {
			switch ch.Op {
			case analyze.OpAdded:
				fmt.Fprintf(b, "  + %s: %s\n", path(ch.Path), ch.Observed)
			case analyze.OpRemoved:
				fmt.Fprintf(b, "  - %s: %s\n", path(ch.Path), ch.Expected)
			default:
				fmt.Fprintf(b, "  %s: %s → %s\n", path(ch.Path), ch.Expected, ch.Observed)
			}
		}
	}
	cut := writePayload(b, "request", st.Request)
	if r := st.Recorded; r != nil {
		if r.Error != "" {
			fmt.Fprintf(b, "recorded error: %s\n", r.Error)
		} else {
			cut = writePayload(b, "recorded response", r.Response) || cut
		}
	}
	if cut && st.Seq >= 0 {
		fmt.Fprintf(b, "(cut to fit: agentrr inspect %s --seq %d shows it whole)\n", st.Recording, st.Seq)
	}
}

// writePayload writes label and the JSON payload indented, cut to
// payloadLines lines; it reports whether it cut.
func writePayload(b *bytes.Buffer, label string, payload json.RawMessage) bool {
	fmt.Fprintf(b, "%s:\n", label)
	text := analyze.IndentJSON(payload, "  ", payloadLines)
	if len(payload) == 0 {
		text = "  null\n"
	}
	b.WriteString(text)
	return strings.Count(text, "\n") > payloadLines
}

func path(p string) string {
	if p == "" {
		return "request"
	}
	return p
}

// lines reads the user's commands, one per line, in the background, so a
// prompt can be abandoned when the agent exits.
type lines struct {
	once  sync.Once
	r     io.Reader
	ch    chan string
	done  chan struct{}
	dOnce sync.Once
}

func newLines(r io.Reader) *lines {
	return &lines{r: r, ch: make(chan string), done: make(chan struct{})}
}

// next returns the next line; ok is false at the end of the input or when
// the prompt was abandoned.
func (l *lines) next() (string, bool) {
	l.once.Do(func() {
		go func() {
			defer close(l.ch)
			if l.r == nil {
				return
			}
			sc := bufio.NewScanner(l.r)
			for sc.Scan() {
				select {
				case l.ch <- sc.Text():
				case <-l.done:
					return
				}
			}
		}()
	})
	select {
	case s, ok := <-l.ch:
		return s, ok
	case <-l.done:
		return "", false
	}
}

func (l *lines) abandon() { l.dOnce.Do(func() { close(l.done) }) }

func (l *lines) abandoned() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// shared returns w for the agent and this command to write to: w itself
// when it is a file, which the agent then writes to directly, so what each
// prints appears in the order printed; otherwise w behind a lock, since the
// agent's output is then copied to it by another goroutine.
func shared(w io.Writer) io.Writer {
	if _, ok := w.(*os.File); ok {
		return w
	}
	return &lockedWriter{w: w}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lockedWriter) Write(p []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(p)
}

var _ io.Writer = (*lockedWriter)(nil)
