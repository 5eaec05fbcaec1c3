package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/spanlog"
)

// The store at scale: what a run costs on disk, how fast thousands of runs
// list and verify, and what one synced boundary write costs in spanlog
// itself. Every measurement here works on both store layouts (a Pebble
// database per run, and writer slots with sealed runs), so that the same
// harness measures before and after.

// spanlogAppend is S1: spanlog's own synced write of a boundary (the 2649
// bytes a 1 KB boundary is stored as), through RunWriter.Append, one
// goroutine: the store's sync cost without the rest of the stack.
func spanlogAppend(dir string, value []byte) contender {
	return contender{"S1", fmt.Sprintf("spanlog RunWriter.Append, synced, of the %d B a 1 KB boundary is stored as", len(value)), func(int) (func(int) error, func() error, error) {
		os.RemoveAll(dir)
		s, err := spanlog.Open(dir)
		if err != nil {
			return nil, nil, err
		}
		w, err := s.CreateRun(spanlog.RunMeta{TraceID: benchTraceID(1), Name: "s1", Start: time.Now().UTC()})
		if err != nil {
			return nil, nil, err
		}
		return func(int) error {
				_, err := w.Append(func(int64) ([]byte, error) { return value, nil })
				return err
			}, func() error {
				err := w.Close()
				os.RemoveAll(dir)
				return err
			}, nil
	}}
}

// benchTraceID is a run id that is unique within a bench run.
func benchTraceID(n uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixNano()))
	binary.BigEndian.PutUint64(b[8:], n)
	return fmt.Sprintf("%x", b)
}

// du is the allocated bytes and the lengths of the files under (or at) path.
func du(path string) (alloc, apparent int64) {
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		apparent += info.Size()
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			alloc += st.Blocks * 512
		}
		return nil
	})
	return alloc, apparent
}

// runFilesOf measures the files of run id in the store at dir, in either
// layout: its database directory runs/<id>/ (one database per run), or its
// sealed file runs/<id>.run (and a marker, if the run is still in a slot).
func runFilesOf(dir, id string) (runFiles, error) {
	if st, err := os.Stat(filepath.Join(dir, "runs", id)); err == nil && st.IsDir() {
		return dirSize(filepath.Join(dir, "runs", id))
	}
	var rf runFiles
	for _, name := range []string{id + ".run", id + ".live"} {
		alloc, apparent := du(filepath.Join(dir, "runs", name))
		rf.allocated += alloc
		rf.apparent += apparent
		if name == id+".run" {
			rf.sst += apparent
		}
	}
	if rf.apparent == 0 {
		return rf, fmt.Errorf("run %s: no files in store %s", id, dir)
	}
	return rf, nil
}

// makeRuns records n small runs (3 boundaries of 1 KB payload each, ended)
// into the store at dir from 4 goroutines, through spanlog.
func makeRuns(dir string, n int) error {
	s, err := spanlog.Open(dir)
	if err != nil {
		return err
	}
	start := time.Now().Add(-time.Duration(n) * time.Second).UTC()
	const conc = 4
	return inParallel(conc, func(g int) error {
		for i := g; i < n; i += conc {
			err := func() error {
				id := benchTraceID(uint64(i) + 1)
				w, err := s.CreateRun(spanlog.RunMeta{TraceID: id, Name: "run-" + strconv.Itoa(i), Service: "bench", Start: start.Add(time.Duration(i) * time.Second)})
				if err != nil {
					return err
				}
				tid, _ := spanlog.ParseTraceID(id)
				for range 3 {
					if _, err := w.Append(func(seq int64) ([]byte, error) { return storedSpanOf(trace.TraceID(tid), seq) }); err != nil {
						w.Close()
						return err
					}
				}
				return w.Finish(spanlog.RunEnd{End: time.Now().UTC()})
			}()
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// timeCLI runs agentrr with args against the store at dir and returns its
// wall time in seconds, process start included.
func timeCLI(agentrr, dir string, args ...string) (float64, error) {
	return timed(exec.Command(agentrr, append([]string{"--store", dir}, args...)...), fmt.Sprintf("agentrr %v", args))
}

// storeSection is ST: the disk cost of a run of the demo agent, and
// listing and verifying a store of c.listRuns runs.
func storeSection(c *config, t *table) error {
	agentrr, _, err := buildBinaries(c.repo, c.data, c.agentrr)
	if err != nil {
		return err
	}
	demo := filepath.Join(c.data, "deterministic_support")
	if out, err := exec.Command("go", "build", "-C", c.repo, "-o", demo, "./examples/deterministic_support").CombinedOutput(); err != nil {
		return fmt.Errorf("build the demo agent: %v\n%s", err, out)
	}

	// One demo run, then 200 more: the run's own files, and what the
	// store grows by per run (writer slots and index included).
	dir := filepath.Join(c.data, "st-demo")
	os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	demoRun := func() (string, error) {
		cmd := exec.Command(demo)
		cmd.Env = append(os.Environ(), "AGENTRR_STORE="+dir)
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("demo agent: %v", err)
		}
		m := bytes.Index(out, []byte("run_id: "))
		if m < 0 || len(out) < m+8+32 {
			return "", fmt.Errorf("demo agent printed no run id: %s", out)
		}
		return string(out[m+8 : m+8+32]), nil
	}
	progress("recording the demo agent 201 times")
	id, err := demoRun()
	if err != nil {
		return err
	}
	rf, err := runFilesOf(dir, id)
	if err != nil {
		return err
	}
	storeAlloc, _ := du(dir)
	t.add("ST-demo", "an ended run of the demo agent (8 boundaries): its files, allocated (du)", "B", float64(rf.allocated))
	t.add("ST-demo-len", "  same, file lengths", "B", float64(rf.apparent))
	t.add("ST-demo-store", "  the whole store after that one run, allocated (du)", "B", float64(storeAlloc))
	const more = 200
	for range more {
		if _, err := demoRun(); err != nil {
			return err
		}
	}
	after, _ := du(dir)
	t.add("ST-demo-200", fmt.Sprintf("  the store's growth per run over %d more runs, allocated (du)", more), "B", float64(after-storeAlloc)/more)
	t.add("ST-demo-200-total", fmt.Sprintf("  the whole store after %d runs, allocated (du)", more+1), "B", float64(after))
	t.target("ST-demo", "≤ 64 KiB", func(v float64) bool { return v <= 64<<10 })
	t.target("ST-demo-200", "≤ 64 KiB", func(v float64) bool { return v <= 64<<10 })

	// Listing and verifying many runs.
	n := c.listRuns
	big := filepath.Join(c.data, "st-list")
	small := filepath.Join(c.data, "st-list-small")
	os.RemoveAll(big)
	os.RemoveAll(small)
	defer os.RemoveAll(big)
	defer os.RemoveAll(small)
	progress("making a store of %s runs (and one of %s)", thousands(float64(n)), thousands(float64(n/10)))
	made := time.Now()
	if err := makeRuns(big, n); err != nil {
		return err
	}
	t.add("ST-make", fmt.Sprintf("making the %s runs (3 boundaries each, 4 goroutines), per run", thousands(float64(n))), "ms", time.Since(made).Seconds()*1e3/float64(n))
	if err := makeRuns(small, n/10); err != nil {
		return err
	}
	bigAlloc, _ := du(big)
	t.add("ST-size", fmt.Sprintf("the store of %s runs, allocated (du), per run", thousands(float64(n))), "B", float64(bigAlloc)/float64(n))
	for range c.reps {
		s, err := timeCLI(agentrr, big, "runs", "--limit", "20")
		if err != nil {
			return err
		}
		t.add("ST-list-20", fmt.Sprintf("`agentrr runs --limit 20`, %s runs in the store, process start included", thousands(float64(n))), "ms", s*1e3)
	}
	t.target("ST-list-20", "< 200 ms", func(v float64) bool { return v < 200 })
	for range heavyReps(c) {
		s, err := timeCLI(agentrr, big, "runs")
		if err != nil {
			return err
		}
		t.add("ST-list-all", fmt.Sprintf("`agentrr runs` (all %s)", thousands(float64(n))), "ms", s*1e3)
	}
	for range heavyReps(c) {
		sBig, err := timeCLI(agentrr, big, "verify", "--all")
		if err != nil {
			return err
		}
		sSmall, err := timeCLI(agentrr, small, "verify", "--all")
		if err != nil {
			return err
		}
		t.add("ST-verify", fmt.Sprintf("`agentrr verify --all`, %s runs, per run", thousands(float64(n))), "ms", sBig*1e3/float64(n))
		t.add("ST-verify-small", fmt.Sprintf("  same, %s runs, per run", thousands(float64(n/10))), "ms", sSmall*1e3/float64(n/10))
		t.add("ST-verify-scale", fmt.Sprintf("  per run, %s ÷ %s runs", thousands(float64(n)), thousands(float64(n/10))), "×", sBig/sSmall/10)
	}
	t.target("ST-verify-scale", "≤ 1.25× (linear)", func(v float64) bool { return v <= 1.25 })
	return nil
}
