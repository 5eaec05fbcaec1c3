package cmdutil

import "io"

// TextWriter is a command's output that can write itself for people.
type TextWriter interface {
	WriteText(w io.Writer) error
}

// WriteOutput writes out to w: as JSON (WriteJSON) with --json, else as
// text for people.
func WriteOutput(w io.Writer, asJSON bool, out TextWriter) error {
	if asJSON {
		return WriteJSON(w, out)
	}
	return out.WriteText(w)
}

// Report is the report of a replay or a fork, which writes itself as a
// table or as JSON (analyze.Report, analyze.Repeats).
type Report interface {
	WriteJSON(w io.Writer) error
	WriteTable(w io.Writer) error
}

// WriteReport writes r to w: as JSON with --json, else as a table.
func WriteReport(w io.Writer, asJSON bool, r Report) error {
	if asJSON {
		return r.WriteJSON(w)
	}
	return r.WriteTable(w)
}
