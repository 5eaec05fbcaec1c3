package main

import (
	"fmt"
	"math"
	"os"
	"runtime"

	"github.com/agentrr/agentrr/bench/internal/payload"
)

// heavyReps is the repetitions for the long measurements.
func heavyReps(c *config) int { return min(c.reps, 3) }

func replaySection(c *config, t *table) error {
	agentrr, agent, err := buildBinaries(c.repo, c.data, c.agentrr)
	if err != nil {
		return err
	}
	if c.on("p3") {
		sizes := []int{1000, 10000, 100000}
		if c.quick {
			sizes = []int{1000, 10000}
		}
		traces := map[int]recorded{}
		for _, n := range sizes {
			progress("recording a %d-boundary run to replay", n)
			tr, err := prepareTrace(c.data, n)
			if err != nil {
				return err
			}
			traces[n] = tr
		}
		for rep := range heavyReps(c) {
			progress("replay repetition %d/%d", rep+1, heavyReps(c))
			for _, n := range sizes {
				rec, us, err := load(traces[n])
				if err != nil {
					return err
				}
				t.add(fmt.Sprintf("P3-load-%dk", n/1000), fmt.Sprintf("load + check a %s-boundary run (replayer.Load), per boundary", thousands(float64(n))), "µs", us)
				if n == 10000 {
					ps, err := sessionOnly(rec, false)
					if err != nil {
						return err
					}
					t.add("P3a", "the replay session's Next alone, 10k-boundary run", "/s", ps)
					ps, err = sessionOnly(rec, true)
					if err != nil {
						return err
					}
					t.add("P3b", "Session.Next + decode the 1 KB response (json.Unmarshal)", "/s", ps)
				}
				us, err = replayInProcess(c.data, rec)
				if err != nil {
					return err
				}
				t.add(fmt.Sprintf("P3c-%dk", n/1000), fmt.Sprintf("otelrr.Tool replay in-process, N = %s (incl. recording the replay), per boundary", thousands(float64(n))), "µs", us)
				t.add(fmt.Sprintf("P3c-%dk-total", n/1000), fmt.Sprintf("in-process replay of N = %s: Load + Replay, total", thousands(float64(n))), "s",
					(t.byID[fmt.Sprintf("P3-load-%dk", n/1000)].vals[rep]+us)*float64(n)/1e6)
				rec = nil
				runtime.GC()
			}
			s, err := cliReplay(agentrr, agent, traces[10000])
			if err != nil {
				return err
			}
			t.add("P3d", "`agentrr replay` of a 10k-boundary run, process starts included", "s", s)
		}
		t.target("P3a", "≥ 500,000/s", func(v float64) bool { return v >= 500000 })
		t.target("P3b", "≥ 500,000/s", func(v float64) bool { return v >= 500000 })
		t.target("P3d", "< 0.5 s", func(v float64) bool { return v < 0.5 })
		if _, ok := traces[100000]; ok {
			perBoundaryGrowth(t, "P3c-scale", "P3c-100k", "P3c-1k", "in-process replay cost per boundary, N = 100k ÷ N = 1k")
		}
		for _, tr := range traces {
			os.RemoveAll(tr.store)
		}
	}
	if c.on("p5") {
		if !hasCollect(agentrr) {
			progress("P5 skipped: %s has no collect command", agentrr)
		} else {
			for rep := range heavyReps(c) {
				progress("ingest repetition %d/%d", rep+1, heavyReps(c))
				ps, err := ingest(agentrr, c.data, 4, 10, 100)
				if err != nil {
					t.add("P5", "OTLP ingest via `agentrr collect` (4 senders, 100 spans/request)", "/s", math.NaN())
					t.note("P5", "failed: "+err.Error())
					break
				}
				t.add("P5", "OTLP ingest via `agentrr collect`, 1 KB spans durably acked (4 senders × 100 spans/request)", "/s", ps)
			}
			t.target("P5", "≥ 20,000/s", func(v float64) bool { return v >= 20000 })
		}
	}
	return nil
}

// perBoundaryGrowth adds the ratio of two per-boundary costs, per repetition.
func perBoundaryGrowth(t *table, id, big, small, what string) {
	t.ratio(id, what, big, small)
	t.target(id, "≤ 1.25× (flat)", func(v float64) bool { return v <= 1.25 })
}

func sizeSection(c *config, t *table) error {
	n := 10000
	if c.quick {
		n = 1000
	}
	for _, k := range []struct {
		id, name string
		mk       func(int, uint64) payload.Doc
	}{{"P4-text", "JSON text", payload.Text}, {"P4-random", "random (base64)", payload.Random}} {
		progress("recording %d %s boundaries to measure their size", n, k.name)
		run, empty, rawPer, end, err := storedSize(c.data, k.id, n, k.mk)
		if err != nil {
			return err
		}
		raw := rawPer * float64(n)
		t.add(k.id, fmt.Sprintf("bytes per boundary ÷ raw payload bytes, %s, %s boundaries of %.0f B, run ended (its files, minus an empty run's)", k.name, thousands(float64(n)), rawPer), "×", float64(run.kept()-empty.kept())/raw)
		t.add(k.id+"-total", "  same, the whole run (its files, lengths) ÷ raw payload bytes", "×", float64(run.apparent)/raw)
		t.add(k.id+"-alloc", "  same, allocated blocks (du)", "×", float64(run.allocated)/raw)
		if run.oldWAL > 0 {
			t.add(k.id+"-recycle", "  of which old WAL files kept for recycling (lengths)", "B", float64(run.oldWAL))
		}
		t.add(k.id+"-end", "  Run.End of that run", "s", end.Seconds())
		if k.id == "P4-text" {
			t.add("P4-empty", "an ended run with no boundary: file lengths", "B", float64(empty.apparent))
			t.add("P4-empty-alloc", "  same, allocated blocks (du)", "B", float64(empty.allocated))
		}
	}
	t.target("P4-text", "≤ 1.1×", func(v float64) bool { return v <= 1.1 })
	t.target("P4-text-total", "≤ 1.1×", func(v float64) bool { return v <= 1.1 })
	t.note("P4-text", "Snappy-compressed sstable blocks")
	return nil
}

func peersSection(c *config, t *table) error {
	vcrNs := []int{100, 1000}
	if c.full {
		vcrNs = append(vcrNs, 10000)
	}
	tempNs := []int{1000, 10000}
	for rep := range heavyReps(c) {
		progress("peers repetition %d/%d", rep+1, heavyReps(c))
		for _, n := range vcrNs {
			if n == 10000 && rep > 0 {
				continue // minutes each: once is enough
			}
			r, err := vcrRun(c.data, n)
			if err != nil {
				return fmt.Errorf("go-vcr N=%d: %w", n, err)
			}
			k := fmt.Sprintf("%d", n)
			t.add("V-rec-"+k, fmt.Sprintf("go-vcr record, N = %s, per interaction (nothing on disk until Stop)", thousands(float64(n))), "µs", r.recordUs)
			t.add("V-stop-"+k, fmt.Sprintf("go-vcr Stop (writes the cassette), N = %s", thousands(float64(n))), "s", r.stopS)
			t.add("V-rep-"+k, fmt.Sprintf("go-vcr replay, N = %s, per interaction", thousands(float64(n))), "µs", r.replayUs)
			t.add("V-rep-"+k+"-total", fmt.Sprintf("go-vcr replay, N = %s, total (cassette load included)", thousands(float64(n))), "s", r.replayS)
			t.add("V-size-"+k, fmt.Sprintf("go-vcr cassette bytes ÷ raw body bytes, N = %s", thousands(float64(n))), "×", r.sizeRatio)
		}
		for _, n := range tempNs {
			r, err := temporalRun(c.data, n)
			if err != nil {
				return err
			}
			k := fmt.Sprintf("%dk", n/1000)
			t.add("T-mem-"+k, fmt.Sprintf("Temporal WorkflowReplayer, N = %s activities, history in memory", thousands(float64(n))), "s", r.memS)
			t.add("T-file-"+k, fmt.Sprintf("Temporal WorkflowReplayer, N = %s, from a JSON history file", thousands(float64(n))), "s", r.fileS)
			t.add("T-size-"+k, fmt.Sprintf("Temporal history (protobuf) ÷ raw payload bytes, N = %s", thousands(float64(n))), "×", r.sizeRatio)
		}
	}
	return nil
}

// comparisons adds the rows that set agentrr against its peers: ratios of
// medians measured in this run.
func comparisons(c *config, t *table) {
	one := func(id, what string, v float64, target string, met func(float64) bool, note string) {
		if math.IsNaN(v) {
			return
		}
		t.add(id, what, "×", v)
		t.target(id, target, met)
		t.note(id, note)
	}
	if vr := t.med("V-rec-1000"); !math.IsNaN(vr) {
		one("C-record", "agentrr durable record (P1) ÷ go-vcr non-durable record, per boundary", t.med("P1")/vr, "≤ 1×", func(v float64) bool { return v <= 1 }, "ratio of medians")
	}
	cli, inproc := t.med("P3d"), t.med("P3c-10k-total")
	for _, p := range []struct{ id, name, peer string }{
		{"mem", "Temporal in memory", "T-mem-10k"},
		{"file", "Temporal from a JSON file", "T-file-10k"},
	} {
		peer := t.med(p.peer)
		one("C-replay-cli-"+p.id, "10k replay speed-up, `agentrr replay` (CLI) vs "+p.name, peer/cli, "≥ 10×", func(v float64) bool { return v >= 10 }, "ratio of medians")
		one("C-replay-lib-"+p.id, "10k replay speed-up, agentrr in-process (Load + Replay) vs "+p.name, peer/inproc, "≥ 10×", func(v float64) bool { return v >= 10 }, "ratio of medians")
	}
	vcr10k, note := t.med("V-rep-10000-total"), "ratio of medians; go-vcr measured at N = 10,000 (-full)"
	if math.IsNaN(vcr10k) {
		vcr10k = t.med("V-rep-1000-total") * 100
		note = "go-vcr N = 10,000 EXTRAPOLATED from N = 1,000 × 100 (its replay is quadratic; measured earlier: 254 s); run with -full to measure"
	}
	one("C-replay-cli-vcr", "10k replay speed-up, `agentrr replay` (CLI) vs go-vcr", vcr10k/cli, "≥ 10×", func(v float64) bool { return v >= 10 }, note)
	one("C-replay-lib-vcr", "10k replay speed-up, agentrr in-process vs go-vcr", vcr10k/inproc, "≥ 10×", func(v float64) bool { return v >= 10 }, note)
}
