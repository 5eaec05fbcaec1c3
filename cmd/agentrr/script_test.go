package main_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/olekukonko/tablewriter/pkg/twwidth"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/agentrrcmd"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/spanlog"
)

// TestMain makes this test binary double as the agentrr command: scripts
// (and the tests in main_test.go) run "agentrr" as a real process whose
// main is agentrrcmd.Main.
func TestMain(m *testing.M) {
	testscript.Main(cleanup{m}, map[string]func(){
		"agentrr":        func() { os.Exit(agentrrcmd.Main()) },
		"killedrecorder": killedRecorder,
	})
}

// cleanup removes the example binaries once every test has run.
type cleanup struct{ m *testing.M }

func (c cleanup) Run() int {
	code := c.m.Run()
	if examples.dir != "" {
		os.RemoveAll(examples.dir)
	}
	return code
}

// examples holds the example agents, built once per test binary.
var examples struct {
	once sync.Once
	dir  string // holds bin/<example>, one per examples/*/main.go
	err  error  // set when not even the directory could be made
	log  string // build failures of single examples
}

// editedSuffix names the edited build of an example: the same agent with
// its system prompt changed ("helpful" → "terse"), for divergence scripts.
const editedSuffix = "_edited"

// exampleBin builds every example agent (each directory examples/*/ that
// holds a main.go) into one bin directory and returns it. An example that
// does not build is left out, with its build output logged; the others are
// still built. deterministic_support is also built edited (see variants),
// as deterministic_support_edited, _versioned and _retired. With -short,
// it skips t instead: the build takes minutes.
func exampleBin(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the example agents")
	}
	examples.once.Do(func() {
		examples.dir, examples.err = os.MkdirTemp("", "agentrr-examples-")
		if examples.err != nil {
			return
		}
		examples.log = buildExamples(filepath.Join(examples.dir, "bin"))
	})
	if examples.err != nil {
		t.Fatal(examples.err)
	}
	if examples.log != "" {
		t.Log(examples.log)
	}
	return filepath.Join(examples.dir, "bin")
}

func repoRoot() string {
	root, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return root
}

// buildExamples builds into bin and returns what went wrong, if anything.
func buildExamples(bin string) string {
	root := repoRoot()
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err.Error()
	}
	mains, _ := filepath.Glob(filepath.Join(root, "examples", "*", "main.go"))
	var pkgs []string
	for _, m := range mains {
		pkgs = append(pkgs, "./"+filepath.ToSlash(must(filepath.Rel(root, filepath.Dir(m)))))
	}
	goBuild := func(args ...string) error {
		cmd := exec.Command("go", append([]string{"build"}, args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	var log strings.Builder
	if err := goBuild(append([]string{"-o", bin + string(filepath.Separator)}, pkgs...)...); err != nil {
		// Build them one by one, so that one broken example (someone may be
		// writing it right now) does not take the others down.
		for _, p := range pkgs {
			if err := goBuild("-o", filepath.Join(bin, filepath.Base(p)), p); err != nil {
				fmt.Fprintf(&log, "example %s left out: %v\n", p, err)
			}
		}
	}
	if err := buildEdited(root, bin, goBuild); err != nil {
		fmt.Fprintf(&log, "%v\n", err)
	}
	return log.String()
}

// variants are builds of deterministic_support with its source edited
// (each edit replaces old with new, once), for divergence scripts: the
// system prompt edited; the same edit behind a version marker
// (otelrr.Version(ctx, "terse-prompt", otelrr.DefaultVersion, 1): runs
// recorded before it replay, new runs take the terse prompt); and the
// marker with minSupported raised to 1 (the old recordings retired).
var variants = []struct {
	suffix, old, new string
}{
	{editedSuffix, "You are a helpful support agent", "You are a terse support agent"},
	{"_versioned", "\tvar answer string\n", versionMarker("otelrr.DefaultVersion") + "\tvar answer string\n"},
	{"_retired", "\tvar answer string\n", versionMarker("1") + "\tvar answer string\n"},
}

// versionMarker is the code of the marked prompt change, minSupported min.
func versionMarker(min string) string {
	return `	v, err := otelrr.Version(ctx, "terse-prompt", ` + min + `, 1)
	if err != nil {
		return "", err
	}
	if v >= 1 {
		req.Messages[0].Content = "You are a terse support agent for Acme. Use the tools, then answer in one short paragraph."
	}
`
}

// buildEdited builds the variants of deterministic_support through build
// overlays (the source tree is not touched), as scripts/demo.sh does.
func buildEdited(root, bin string, goBuild func(...string) error) error {
	src := filepath.Join(root, "examples", "deterministic_support", "main.go")
	orig, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range variants {
		edited := bytes.Replace(orig, []byte(v.old), []byte(v.new), 1)
		if bytes.Equal(orig, edited) {
			errs = append(errs, fmt.Errorf("deterministic_support%s not built: %q was not found in %s", v.suffix, v.old, src))
			continue
		}
		dir := filepath.Dir(bin)
		editedSrc, overlay := filepath.Join(dir, "main"+v.suffix+".go"), filepath.Join(dir, "overlay"+v.suffix+".json")
		ov, _ := json.Marshal(map[string]map[string]string{"Replace": {src: editedSrc}})
		if err := os.WriteFile(editedSrc, edited, 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(overlay, ov, 0o600); err != nil {
			return err
		}
		if err := goBuild("-overlay", overlay, "-o", filepath.Join(bin, "deterministic_support"+v.suffix), "./examples/deterministic_support"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestScripts runs the testscript files in testdata/script. Each script
// gets its own store ($AGENTRR_STORE is $WORK/store), the example agents
// on $PATH, TZ=UTC, and these commands besides testscript's own:
//
//	runid <file> <VAR>                  set VAR to the run_id an example printed in file (stdout, stderr or a file)
//	setmatch <file> <regexp> <VAR>      set VAR to the first group of regexp's first match in file
//	mkrun <state> <VAR> [trace-id]      make a run by hand in $AGENTRR_STORE and set VAR to its id;
//	                                    state: complete, nocommand (complete, recording no
//	                                    command line), truncated (3 boundaries, never ended),
//	                                    damaged (seq 2 of 4 corrupt), recording (held open by
//	                                    this test process until the script ends) or killed (3
//	                                    boundaries, its recorder gone: the run is in its writer
//	                                    slot's write-ahead log)
//	maxwidth <file> <N>                 fail if a line of file is wider than N terminal columns
//	cutfile <src> <dst> <N>             write the first N bytes of src to dst
//	exits <code> <prog> [args...]       run prog like exec and fail unless it exits with code
//	fakeopenai start|requests …         a fake OpenAI server for the script (see cmdFakeOpenAI)
//	sameverdicts <a> <b>                fail unless two outputs of agentrr test list the same verdicts
//	junit <file> <tests> <failures>     parse a JUnit XML report (encoding/xml) and check its counts
func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams(t, "testdata/script", map[string]func(*testscript.TestScript, bool, []string){
		"maxwidth":     cmdMaxWidth,
		"fakeopenai":   cmdFakeOpenAI,
		"sameverdicts": cmdSameVerdicts,
		"junit":        cmdJUnit,
	}))
}

var runIDLine = regexp.MustCompile(`(?m)^run_id: ([0-9a-f]{32})$`)

func cmdRunID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: runid <file> <VAR>")
	}
	m := runIDLine.FindStringSubmatch(ts.ReadFile(args[0]))
	if m == nil {
		ts.Fatalf("no run_id: line in %s", args[0])
	}
	ts.Setenv(args[1], m[1])
}

func cmdSetMatch(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: setmatch <file> <regexp> <VAR>")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[0]))
	if len(m) < 2 {
		ts.Fatalf("%s: no match for %s", args[0], args[1])
	}
	ts.Setenv(args[2], m[1])
}

// killedRecorder is a program for mkrun killed: it records a run of three
// boundaries into $AGENTRR_STORE, prints its id and exits without ending or
// closing it, as a recorder killed with SIGKILL leaves it: the run stays in
// its writer slot's write-ahead log.
func killedRecorder() {
	store, err := spanlog.Open(os.Getenv("AGENTRR_STORE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	id := cmdtest.NewTraceID()
	meta := spanlog.RunMeta{TraceID: id, Name: "handmade-killed", Service: "mkrun", PID: os.Getpid()}
	if _, err := cmdtest.StartRecording(store, meta, cmdtest.SampleBoundaries(3)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(id)
	os.Exit(0)
}

func cmdMkRun(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: mkrun complete|nocommand|truncated|damaged|recording|killed <VAR> [trace-id]")
	}
	store, err := spanlog.Open(ts.Getenv("AGENTRR_STORE"))
	ts.Check(err)
	id := cmdtest.NewTraceID()
	if len(args) == 3 {
		id = args[2]
	}
	meta := spanlog.RunMeta{TraceID: id, Name: "handmade-" + args[0], Service: "mkrun", PID: os.Getpid()}
	bs := cmdtest.SampleBoundaries(3)
	switch args[0] {
	case "complete":
		ts.Check(cmdtest.WriteRun(store, meta, bs, &spanlog.RunEnd{}))
	case "nocommand":
		meta.Command = &boundary.Command{}
		ts.Check(cmdtest.WriteRun(store, meta, bs, &spanlog.RunEnd{}))
	case "truncated":
		ts.Check(cmdtest.WriteRun(store, meta, bs, nil))
	case "damaged":
		bs = cmdtest.SampleBoundaries(4)
		bs[2].Corrupt = true
		ts.Check(cmdtest.WriteRun(store, meta, bs, &spanlog.RunEnd{}))
	case "recording":
		w, err := cmdtest.StartRecording(store, meta, bs)
		ts.Check(err)
		ts.Defer(func() { w.Close() })
	case "killed":
		cmd := exec.Command("killedrecorder")
		cmd.Env = append(os.Environ(), "AGENTRR_STORE="+ts.Getenv("AGENTRR_STORE"))
		out, err := cmd.Output()
		ts.Check(err)
		id = strings.TrimSpace(string(out))
	default:
		ts.Fatalf("mkrun: unknown state %q", args[0])
	}
	if args[0] != "recording" {
		// Let go of the writer slot now, not after its grace period, so
		// that the store does not change under the script's next command
		// (hashstore before/after).
		ts.Check(store.Close())
	}
	ts.Setenv(args[1], id)
}

// cmdCutFile is cutfile <src> <dst> <N>: dst is the first N bytes of src.
func cmdCutFile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: cutfile <src> <dst> <N>")
	}
	n, err := strconv.Atoi(args[2])
	ts.Check(err)
	b := []byte(ts.ReadFile(args[0]))
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), b[:min(n, len(b))], 0o600))
}

func cmdMaxWidth(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: maxwidth <file> <N>")
	}
	limit, err := strconv.Atoi(args[1])
	ts.Check(err)
	widest, line := 0, ""
	for l := range strings.Lines(ts.ReadFile(args[0])) {
		l = strings.TrimSuffix(l, "\n")
		if w := twwidth.Width(l); w > widest {
			widest, line = w, l
		}
	}
	if (widest > limit) != neg {
		if neg {
			ts.Fatalf("%s: no line wider than %d columns", args[0], limit)
		}
		ts.Fatalf("%s: a line of %d columns, more than %d:\n%s", args[0], widest, limit, line)
	}
}

func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits <code> <prog> [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// scriptParams is the testscript setup every script suite shares: the
// example agents on PATH, a store in the script's work directory, UTC, and
// the common commands (runid, setmatch, mkrun, exits) plus extra.
func scriptParams(t *testing.T, dir string, extra map[string]func(*testscript.TestScript, bool, []string)) testscript.Params {
	bin := exampleBin(t)
	cmds := map[string]func(*testscript.TestScript, bool, []string){
		"runid":    cmdRunID,
		"setmatch": cmdSetMatch,
		"cutfile":  cmdCutFile,
		"mkrun":    cmdMkRun,
		"exits":    cmdExits,
	}
	for name, f := range extra {
		cmds[name] = f
	}
	return testscript.Params{
		Dir: dir,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", bin+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("AGENTRR_STORE", filepath.Join(env.WorkDir, "store"))
			env.Setenv("TZ", "UTC")
			env.Setenv("EXAMPLES", bin)
			return nil
		},
		Cmds:               cmds,
		RequireUniqueNames: true,
	}
}
