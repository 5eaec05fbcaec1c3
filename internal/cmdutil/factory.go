package cmdutil

import (
	"encoding/json"
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/agentrr/agentrr/spanlog"
)

// IOStreams are a command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// IsTerminal reports whether Out is a terminal.
func (s *IOStreams) IsTerminal() bool {
	f, ok := s.Out.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// IsStderrTerminal reports whether ErrOut is a terminal. Progress output
// is written only then, so piped or redirected stderr stays clean.
func (s *IOStreams) IsStderrTerminal() bool {
	f, ok := s.ErrOut.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// ChildStreams are the standard streams of a child process whose output
// passes through (an agent, a client command): these, except that with
// --json its stdout goes to ErrOut, so that Out stays one JSON document.
func (s *IOStreams) ChildStreams(asJSON bool) (in io.Reader, out, errOut io.Writer) {
	if asJSON {
		return s.In, s.ErrOut, s.ErrOut
	}
	return s.In, s.Out, s.ErrOut
}

// System returns the process's streams.
func System() *IOStreams { return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr} }

// Factory gives commands their dependencies, so tests can run a command's
// logic with their own streams and store.
type Factory struct {
	IO *IOStreams
	// StoreDir is the --store flag (empty: $AGENTRR_STORE, else .agentrr).
	StoreDir string
}

// StorePath returns the store directory in effect.
func (f *Factory) StorePath() string { return spanlog.Dir(f.StoreDir) }

// Store opens the existing store for reading.
func (f *Factory) Store() (*spanlog.Store, error) { return spanlog.OpenExisting(f.StorePath()) }

// AddStoreFlag adds the persistent --store flag to cmd.
func AddStoreFlag(cmd *cobra.Command, f *Factory) {
	cmd.PersistentFlags().StringVar(&f.StoreDir, "store", "", "store `directory` (default $AGENTRR_STORE, else .agentrr)")
}

// AddJSONFlag adds --json to cmd: output is then one JSON document whose
// shape is documented in docs/cli.md.
func AddJSONFlag(cmd *cobra.Command, target *bool) {
	cmd.Flags().BoolVar(target, "json", false, "print JSON instead of a table")
}

// WriteJSON writes v as indented JSON followed by a newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
