package cmdutil

import (
	"io"
	"strings"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/agentrr/agentrr/internal/tableprinter"
)

// TermWidth is the width, in terminal columns, that human output is fitted
// to: tables and wrapped text stay readable on an 80-column terminal.
const TermWidth = 80

// Field is one "label  value" line of a header block (see WriteFields).
type Field struct {
	Label string
	Value string
}

// WriteFields writes fields as a block of "label  value" lines: labels are
// padded to a common width, and values are word-wrapped to fit TermWidth
// with their continuation lines indented under the value. Fields with an
// empty value are skipped. It returns the first write error.
func WriteFields(w io.Writer, fields []Field) error {
	labelWidth := 0
	for _, f := range fields {
		if f.Value != "" {
			labelWidth = max(labelWidth, twwidth.Width(f.Label))
		}
	}
	indent := strings.Repeat(" ", labelWidth+2)
	var b strings.Builder
	for _, f := range fields {
		if f.Value == "" {
			continue
		}
		for i, line := range Wrap(f.Value, TermWidth-len(indent)) {
			if i == 0 {
				b.WriteString(f.Label)
				b.WriteString(strings.Repeat(" ", len(indent)-twwidth.Width(f.Label)))
			} else {
				b.WriteString(indent)
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Wrap breaks s into lines of at most width terminal columns at white
// space; a word longer than width is kept whole on a line of its own (ids
// and hashes must stay copyable). Runs of white space, newlines included,
// become one space. A width below 1 means no limit. Wrap of an empty or
// blank s is one empty line.
func Wrap(s string, width int) []string {
	words := strings.Fields(s)
	if len(words) == 0 {
		return []string{""}
	}
	var lines []string
	line := words[0]
	for _, word := range words[1:] {
		if width > 0 && twwidth.Width(line)+1+twwidth.Width(word) > width {
			lines = append(lines, line)
			line = word
			continue
		}
		line += " " + word
	}
	return append(lines, line)
}

// FitColumn cuts the cells of column col (with "…") so that the table of
// header and rows fits TermWidth columns, keeping that column at
// least minWidth wide; cells are folded onto one line first.
func FitColumn(header []string, rows [][]string, col, minWidth int) {
	other := tableprinter.ColumnGap * (len(header) - 1)
	for i, h := range header {
		if i == col {
			continue
		}
		wd := twwidth.Width(h)
		for _, row := range rows {
			wd = max(wd, twwidth.Width(row[i]))
		}
		other += wd
	}
	room := max(TermWidth-other, minWidth, twwidth.Width(header[col]))
	for _, row := range rows {
		row[col] = tableprinter.Cut(row[col], room)
	}
}
