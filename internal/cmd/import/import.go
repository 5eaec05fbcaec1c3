// Package importcmd implements `agentrr import`.
package importcmd

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/spanlog"
)

// Options are the inputs of `agentrr import`.
type Options struct {
	IO *cmdutil.IOStreams
	// Store opens the store to import into, creating it if need be.
	Store func() (*spanlog.Store, error)

	Paths []string
	JSON  bool
}

// NewCmdImport returns the import command. runF, if not nil, replaces the
// command's logic (for tests).
func NewCmdImport(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Store: func() (*spanlog.Store, error) { return spanlog.Open(f.StorePath()) }}
	cmd := &cobra.Command{
		Use:   "import <bundle-file>...",
		Short: "Put runs exported as bundles into the store",
		Long: `Read each bundle (a file written by agentrr export --file, gzip or not)
and store its run, sealed, as it was recorded: same run id, same spans,
same bytes (export it again and you get the file back).

Every bundle is checked first, as agentrr verify checks it. A damaged
bundle (cut short, garbled, a boundary missing or not whole) is refused and
nothing of it is stored (exit status 3); a truncated run (one that did not
end) is imported as truncated. A run the store already has is not touched:
importing the same run again does nothing (exit status 0, "already in the
store"), and a bundle holding another run with that id is refused (exit
status 2: remove the stored run first with agentrr rm).

The store is created if it does not exist.`,
		Example: `  agentrr import run.otlp.json
  agentrr --store ./regressions import bug-1234.otlp.json.gz`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Paths = args
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	cmdutil.AddJSONFlag(cmd, &opts.JSON)
	return cmd
}

// Result is one line of import's --json output.
type Result struct {
	File       string `json:"file"`
	TraceID    string `json:"trace_id,omitempty"`
	Status     string `json:"status,omitempty"`
	Boundaries int64  `json:"boundaries"`
	// Outcome is imported, existed (the store had the same run), or
	// refused (with Error).
	Outcome string `json:"outcome"`
	Error   string `json:"error,omitempty"`
}

// Run imports the bundles; every one is tried, and the exit status is the
// worst outcome's.
func Run(opts *Options) error {
	store, err := opts.Store()
	if err != nil {
		return err
	}
	var results []Result
	code := cmdutil.ExitOK
	for _, path := range opts.Paths {
		res, err := importOne(store, path)
		if err != nil {
			res.Outcome, res.Error = "refused", err.Error()
			c := cmdutil.Code(err)
			if errors.Is(err, spanlog.ErrRunExists) || errors.Is(err, spanlog.ErrBundle) || errors.Is(err, os.ErrNotExist) {
				c = cmdutil.ExitUsage
			}
			code = max(code, c)
			if !opts.JSON {
				fmt.Fprintf(opts.IO.ErrOut, "agentrr: %s: %v\n", path, err)
			}
		} else if !opts.JSON {
			switch res.Outcome {
			case "existed":
				fmt.Fprintf(opts.IO.Out, "run %s is already in the store (the same run): nothing imported from %s\n", res.TraceID, path)
			default:
				fmt.Fprintf(opts.IO.Out, "imported run %s (%s, %d boundaries) from %s\n", res.TraceID, res.Status, res.Boundaries, path)
			}
		}
		results = append(results, res)
	}
	if opts.JSON {
		if err := cmdutil.WriteJSON(opts.IO.Out, results); err != nil {
			return err
		}
	}
	if code != cmdutil.ExitOK {
		return cmdutil.SilentExit(code)
	}
	return nil
}

func importOne(store *spanlog.Store, path string) (Result, error) {
	res := Result{File: path}
	f, err := os.Open(path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	b, err := spanlog.ReadBundle(f)
	if err != nil {
		return res, err
	}
	res.TraceID, res.Status, res.Boundaries = b.Info.TraceID, string(b.Info.Status), b.Info.Boundaries
	ir, err := store.Import(b)
	if err != nil {
		return res, err
	}
	res.Outcome = "imported"
	if ir.Existed {
		res.Outcome = "existed"
	}
	return res, nil
}
