// Command bench measures agentrr's cost against the physical limit of the
// disk and against its peers (go-vcr, Temporal's Go SDK replayer), side by
// side in one run, and prints a table of medians and ratios. Ratios are
// taken within each repetition, so both sides of a ratio saw the same load.
//
// Run it with `make bench` from the repository root, or `go run .` here.
// Sections:
//
//	B0  the disk: append + fsync of a 1 KB record (the original Python
//	    tool's JSONL design) and fdatasync on a preallocated file (the floor);
//	B1  bare Pebble synced Set, 1 and 8 goroutines (what spanlog is built on);
//	P0  the CPU parts of a boundary alone: OTel span, canonical JSON, OTLP
//	    encoding, and the whole stack on tmpfs (fsync free);
//	P1  durable recording through the whole stack, one goroutine, 1 KB
//	    (and 64 KB, 1 MB) payloads;
//	P2  8 goroutines recording into one run (group commit);
//	P3  replay: the session alone, with response decoding, through the
//	    otelrr helpers in-process (N = 1k, 10k, 100k), and `agentrr replay`
//	    of a 10k-boundary run with process starts;
//	P4  bytes on disk per boundary against raw payload bytes;
//	P5  OTLP ingest through `agentrr collect`;
//	BR  branches: 8 branches recording at once vs 1 (and bare Pebble, 8
//	    goroutines vs 1, interleaved with them), and the replay cost per
//	    boundary of a branched recording vs a single-branch one;
//	PX  agentrr proxy: added latency per 1 KB exchange against a direct
//	    call and one synced write, time to the first SSE chunk, 32
//	    concurrent clients through one proxy (proxy.go);
//	V/T the peers: go-vcr record and replay, Temporal's replayer.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/agentrr/agentrr/bench/internal/payload"
)

type config struct {
	repo, data, agentrr string
	reps, n, listRuns   int
	full, quick         bool
	markdown, keep      bool
	sections            map[string]bool
}

func (c *config) on(s string) bool { return len(c.sections) == 0 || c.sections[s] }

func main() {
	var c config
	var only, cpuprofile string
	flag.StringVar(&c.repo, "repo", "..", "the agentrr repository (to build bin/agentrr)")
	flag.StringVar(&c.data, "dir", ".data", "scratch `directory` for stores and files: put it on the disk to measure (not tmpfs)")
	flag.StringVar(&c.agentrr, "agentrr", "", "agentrr binary to use (default: build REPO/bin/agentrr)")
	flag.IntVar(&c.reps, "reps", 5, "repetitions of each measurement (medians are reported)")
	flag.IntVar(&c.n, "n", 200, "synced writes per repetition for B0, B1, S1 and P1")
	flag.IntVar(&c.listRuns, "listruns", 10000, "runs in the store that ST lists and verifies")
	flag.BoolVar(&c.full, "full", false, "also run the peers at N=10,000 for go-vcr (minutes: its replay is quadratic)")
	flag.BoolVar(&c.quick, "quick", false, "a smoke run: 2 repetitions, small N, no 100k run")
	flag.BoolVar(&c.markdown, "markdown", false, "print the table as Markdown")
	flag.BoolVar(&c.keep, "keep", false, "keep the scratch directory")
	flag.StringVar(&only, "only", "", "comma-separated `sections` to run (b0,b1,s1,p0,p1,p2,p3,p4,p5,st,br,px,peers); default all")
	flag.StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the whole run to `file` (go tool pprof)")
	flag.Parse()
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if only != "" {
		c.sections = map[string]bool{}
		for _, s := range strings.Split(only, ",") {
			c.sections[strings.TrimSpace(s)] = true
		}
	}
	if c.quick {
		c.reps, c.n, c.listRuns = 2, min(c.n, 50), min(c.listRuns, 1000)
	}
	if err := run(&c); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func run(c *config) error {
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return err
	}
	data, err := filepath.Abs(c.data)
	if err != nil {
		return err
	}
	c.data = data
	if !c.keep {
		defer os.RemoveAll(c.data)
	}
	t := newTable()
	start := time.Now()
	load0 := loadAvg()
	progress("scratch dir %s", diskInfo(c.data))

	rounds(c, t)
	// The sections after the rounds, in order, each run when asked for.
	for _, s := range []struct {
		on  bool
		run func(*config, *table) error
	}{
		{c.on("p3") || c.on("p5"), replaySection},
		{c.on("p4"), sizeSection},
		{c.on("st"), storeSection},
		{c.on("br"), branchesSection},
		{c.on("px"), proxySection},
		{c.on("peers"), peersSection},
	} {
		if !s.on {
			continue
		}
		if err := s.run(c, t); err != nil {
			return err
		}
	}
	comparisons(c, t)

	fmt.Printf("agentrr bench — %s, %d cores (%s), %s\n", runtime.Version(), runtime.NumCPU(), cpuModel(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Printf("disk: %s\n", diskInfo(c.data))
	fmt.Printf("load average (1/5/15 min): %s at start, %s at end; %d repetitions, medians; took %s\n",
		load0, loadAvg(), c.reps, time.Since(start).Round(time.Second))
	fmt.Printf("payloads: JSON text (a search tool's answer), request = response = %d bytes canonical, unless said otherwise\n\n", docLen(1024))
	t.write(os.Stdout, c.markdown)
	return nil
}

func docLen(size int) int { return payload.Size(payload.Text(size, 1)) }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// rounds runs the per-repetition measurements (B0, B1, P0, P1, P2),
// interleaved so that each repetition's ratios compare like with like.
func rounds(c *config, t *table) {
	doc1k := payload.Text(1024, 1)
	same := func(d payload.Doc) func(int) payload.Doc { return func(int) payload.Doc { return d } }
	shm := "/dev/shm"
	if st, err := os.Stat(shm); err != nil || !st.IsDir() {
		shm = ""
	}
	for rep := range c.reps {
		progress("repetition %d/%d", rep+1, c.reps)
		var cs []contender
		if c.on("b0") {
			cs = append(cs, appendFsync(c.data), preallocFdatasync(c.data, true), preallocFdatasync(c.data, false))
		}
		if c.on("b1") || c.on("s1") {
			span, err := storedSpan()
			must(err)
			cs = append(cs, pebbleSet(filepath.Join(c.data, "pebble1"), nil), pebbleSet(filepath.Join(c.data, "pebble1c"), span))
			if c.on("s1") {
				cs = append(cs, spanlogAppend(filepath.Join(c.data, "s1"), span))
			}
		}
		if c.on("p1") {
			cs = append(cs, toolRecorder("P1", "otelrr.Tool 1 KB → span → pdata → Pebble synced write, 1 goroutine", filepath.Join(c.data, "p1"), doc1k))
		}
		if len(cs) > 0 {
			us, err := interleave(c.n, 10, cs)
			must(err)
			for _, ct := range cs {
				t.add(ct.id, ct.what, "µs", us[ct.id])
			}
		}
		if c.on("b1") {
			_, ps, err := pebbleSets(filepath.Join(c.data, "pebble8"), 4*c.n, 8)
			must(err)
			t.add("B1b", "bare Pebble synced Set, 1 KB, 8 goroutines", "/s", ps)
		}
		if c.on("p2") {
			_, us, err := recordTools(filepath.Join(c.data, "p2"), 4*c.n, 8, same(doc1k))
			must(err)
			t.add("P2", "otelrr.Tool 1 KB, 8 goroutines into one run", "/s", 1e6/us)
		}
		if c.on("p0") {
			us, err := spanOnly(20000)
			must(err)
			t.add("P0a", "OTel span alone, 1 KB payload attributes, no store", "µs", us)
			us, err = canonicalOnly(5000)
			must(err)
			t.add("P0b", "canonical JSON req+resp, response round trip, signature, hash", "µs", us)
			us, err = encodeOnly(20000)
			must(err)
			t.add("P0c", "span → pdata → OTLP protobuf bytes", "µs", us)
			if shm != "" {
				dir, err := os.MkdirTemp(shm, "agentrr-bench-")
				must(err)
				_, us, err = recordTools(dir, 5*c.n, 1, same(doc1k))
				os.RemoveAll(dir)
				must(err)
				t.add("P0d", "P1 with the store on tmpfs: the whole stack's CPU, fsync free", "µs", us)
			}
		}
		if c.on("p1") {
			for _, sz := range []struct {
				id, name string
				size, n  int
			}{{"P1-64K", "64 KB", 64 << 10, max(10, c.n/4)}, {"P1-1M", "1 MB", 1 << 20, max(5, c.n/20)}} {
				_, us, err := recordTools(filepath.Join(c.data, "p1-"+sz.name), sz.n, 1, same(payload.Text(sz.size, 1)))
				must(err)
				t.add(sz.id, "otelrr.Tool "+sz.name+" payload, 1 goroutine", "µs", us)
			}
		}
		os.RemoveAll(filepath.Join(c.data, "p2"))
		os.RemoveAll(filepath.Join(c.data, "p1-64 KB"))
		os.RemoveAll(filepath.Join(c.data, "p1-1 MB"))
	}
	t.ratio("P1/B0a", "P1 ÷ B0a (stack cost per boundary vs fsync per event)", "P1", "B0a")
	t.target("P1/B0a", "≤ 1.25×", func(v float64) bool { return v <= 1.25 })
	t.ratio("P1/B0b", "P1 ÷ B0b (vs the physical floor)", "P1", "B0b")
	t.ratio("P1/B0c", "P1 ÷ B0c (vs fdatasync into fallocate'd space)", "P1", "B0c")
	t.ratio("P1/B1a", "P1 ÷ B1a (vs bare Pebble)", "P1", "B1a")
	t.ratio("P1/B1c", "P1 ÷ B1c (vs bare Pebble writing the same bytes)", "P1", "B1c")
	t.ratio("B1a/B0a", "B1a ÷ B0a (bare Pebble vs fsync per event)", "B1a", "B0a")
	if t.byID["S1"] != nil {
		t.ratio("S1/B1c", "S1 ÷ B1c (spanlog's synced write vs bare Pebble into a fresh database, same bytes)", "S1", "B1c")
		t.ratio("S1/B0b", "S1 ÷ B0b (spanlog's synced write vs the physical floor)", "S1", "B0b")
	}
	if r := t.byID["P1"]; r != nil && t.byID["P2"] != nil {
		for i, us := range r.vals {
			if i < len(t.byID["P2"].vals) {
				t.add("P2/P1", "P2 throughput ÷ P1 throughput (group commit)", "×", t.byID["P2"].vals[i]*us/1e6)
			}
		}
		t.target("P2/P1", "≥ 3.5×", func(v float64) bool { return v >= 3.5 })
	}
	if b := t.byID["B1a"]; b != nil {
		for i, us := range b.vals {
			if i < len(t.byID["B1b"].vals) {
				t.add("B1b/B1a", "bare Pebble: 8 goroutines ÷ 1 goroutine throughput", "×", t.byID["B1b"].vals[i]*us/1e6)
			}
		}
	}
}
