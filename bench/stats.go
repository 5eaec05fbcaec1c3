package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// row is one line of the results table: a measurement repeated over the
// repetitions of the run, summarised by its median.
type row struct {
	id, what string
	unit     string
	vals     []float64
	target   string
	// met reports whether the median meets the target (nil: no target).
	met  func(median float64) bool
	note string
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// table collects rows in the order they are measured, grouped by section.
type table struct {
	rows []*row
	byID map[string]*row
}

func newTable() *table { return &table{byID: map[string]*row{}} }

// add appends v to the row id, creating it on first use.
func (t *table) add(id, what, unit string, v float64) *row {
	r := t.byID[id]
	if r == nil {
		r = &row{id: id, what: what, unit: unit}
		t.byID[id] = r
		t.rows = append(t.rows, r)
	}
	r.vals = append(r.vals, v)
	return r
}

// med returns the median of row id (NaN when it was not measured).
func (t *table) med(id string) float64 {
	if r := t.byID[id]; r != nil {
		return median(r.vals)
	}
	return math.NaN()
}

// ratio adds, for each repetition measured in both, num[i]/den[i] to row id:
// ratios are taken within one repetition, so both sides saw the same load.
func (t *table) ratio(id, what, num, den string) *row {
	n, d := t.byID[num], t.byID[den]
	if n == nil || d == nil {
		return nil
	}
	var r *row
	for i := range min(len(n.vals), len(d.vals)) {
		r = t.add(id, what, "×", n.vals[i]/d.vals[i])
	}
	return r
}

func (t *table) target(id, target string, met func(float64) bool) {
	if r := t.byID[id]; r != nil {
		r.target, r.met = target, met
	}
}

func (t *table) note(id, note string) {
	if r := t.byID[id]; r != nil {
		r.note = note
	}
}

func formatValue(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case unit == "×":
		return fmt.Sprintf("%.2f×", v)
	case unit == "/s":
		return fmt.Sprintf("%s/s", thousands(v))
	case unit == "s":
		return fmt.Sprintf("%.3f s", v)
	case unit == "µs" && v >= 10000:
		return fmt.Sprintf("%.1f ms", v/1000)
	case unit == "µs" && v < 10:
		return fmt.Sprintf("%.2f µs", v)
	case unit == "µs":
		return fmt.Sprintf("%.0f µs", v)
	case unit == "ns":
		return fmt.Sprintf("%.0f ns", v)
	case unit == "B":
		return thousands(v) + " B"
	}
	return fmt.Sprintf("%.3g %s", v, unit)
}

func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func spread(r *row) string {
	if len(r.vals) < 2 {
		return ""
	}
	lo, hi := slices.Min(r.vals), slices.Max(r.vals)
	return fmt.Sprintf("%s … %s", formatValue(lo, r.unit), formatValue(hi, r.unit))
}

func verdict(r *row) string {
	if r.met == nil {
		return ""
	}
	if r.met(median(r.vals)) {
		return "met"
	}
	return "NOT MET"
}

// write prints the table: plain text aligned in columns, or Markdown.
func (t *table) write(w io.Writer, markdown bool) {
	head := []string{"id", "measurement", "median", "n", "min … max", "target", "", "note"}
	lines := [][]string{}
	for _, r := range t.rows {
		lines = append(lines, []string{r.id, r.what, formatValue(median(r.vals), r.unit), fmt.Sprint(len(r.vals)), spread(r), r.target, verdict(r), r.note})
	}
	if markdown {
		fmt.Fprintln(w, "| "+strings.Join(head, " | ")+" |")
		fmt.Fprintln(w, "|"+strings.Repeat("---|", len(head)))
		for _, l := range lines {
			fmt.Fprintln(w, "| "+strings.Join(l, " | ")+" |")
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, l := range lines {
		fmt.Fprintln(tw, strings.Join(l, "\t"))
	}
	tw.Flush()
}

// perOp times n calls of f and returns the mean time per call in µs.
func perOp(n int, f func(i int) error) (float64, error) {
	start := time.Now()
	for i := range n {
		if err := f(i); err != nil {
			return 0, err
		}
	}
	return float64(time.Since(start).Nanoseconds()) / 1e3 / float64(n), nil
}

// inParallel runs work(0), …, work(conc-1), each on a goroutine of its own,
// and waits for them all. It returns the error of the last one to fail,
// nil when none did.
func inParallel(conc int, work func(g int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		werr error
	)
	for g := range conc {
		wg.Go(func() {
			if err := work(g); err != nil {
				mu.Lock()
				werr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return werr
}
