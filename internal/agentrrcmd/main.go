// Package agentrrcmd runs the agentrr CLI and decides its exit code: the one
// place where errors become exit statuses and messages.
package agentrrcmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"

	"github.com/agentrr/agentrr/internal/cmd/root"
	"github.com/agentrr/agentrr/internal/cmdutil"
)

// Main runs the CLI with the process's arguments and streams and returns the
// exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return Run(ctx, cmdutil.System(), os.Args[1:])
}

// Run runs the CLI with args and returns the exit code.
func Run(ctx context.Context, io *cmdutil.IOStreams, args []string) int {
	f := &cmdutil.Factory{IO: io}
	cmd := root.NewCmdRoot(f, version())
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return cmdutil.ExitOK
	}
	code := cmdutil.Code(err)
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Err != nil {
		fmt.Fprintf(io.ErrOut, "agentrr: %s\n", err)
	}
	return code
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
