package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// browserTools returns the browser and node, and checks that the
// browser test's npm packages are installed (.ci/run installs all three:
// Debian's chromium, and `npm ci` in e2e/browser). Without them the test
// fails under CI=true and is skipped otherwise.
func browserTools(t *testing.T) (chromium, node string) {
	t.Helper()
	chromium = os.Getenv("AGENTRR_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	var missing []string
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, fmt.Sprintf("no browser at %s (apt-get install chromium, or point AGENTRR_CHROMIUM at one)", chromium))
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "no node on PATH")
	}
	if _, err := os.Stat(filepath.Join(repoRoot, "e2e", "browser", "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core is not installed (npm ci --prefix e2e/browser)")
	}
	if len(missing) > 0 {
		msg := "the browser test needs: " + strings.Join(missing, "; ")
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return chromium, node
}

var (
	runIDLine   = regexp.MustCompile(`(?m)^run_id: ([0-9a-f]{32})$`)
	replayedAs  = regexp.MustCompile(`recorded as trace ([0-9a-f]{32})`)
	viewURLLine = regexp.MustCompile(`^agentrr view: (http://127\.0\.0\.1:\d+/)`)
)

// TestViewInABrowser records examples/openai_agent and a replay of it that
// diverges (another question), serves them with agentrr view, and drives
// the page in headless Chromium (e2e/browser/view.mjs): the run list, the
// run's timeline, the last LLM call as a conversation, where its prompt's
// text came from, the diverged replay's diff side by side, and the
// replay's report opened from a file. No request may leave for anywhere
// but the view. Each screenshot must show a page, not a blank.
func TestViewInABrowser(t *testing.T) {
	chromium, node := browserTools(t)
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "./cmd/agentrr", "./examples/openai_agent")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	agentrr, agent := filepath.Join(bin, "agentrr"), filepath.Join(bin, "openai_agent")
	store := filepath.Join(t.TempDir(), "store")
	env := append(os.Environ(), "AGENTRR_STORE="+store, "AGENTRR_EXAMPLE_QUIET=1", "OPENAI_API_KEY=")
	runCmd := func(wantExit int, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if code != wantExit {
			t.Fatalf("%s %s: exit %d, want %d\n%s", filepath.Base(name), strings.Join(args, " "), code, wantExit, out.String())
		}
		return out.String()
	}
	m := runIDLine.FindStringSubmatch(runCmd(0, agent))
	if m == nil {
		t.Fatal("the agent printed no run_id")
	}
	runID := m[1]
	m = replayedAs.FindStringSubmatch(runCmd(1, agentrr, "replay", "--from-trace", runID, "--", agent, "-question", "Where is my order A-1002? It was due yesterday."))
	if m == nil {
		t.Fatal("the replay printed no trace id")
	}
	replayID := m[1]
	shots := t.TempDir()
	if dir := os.Getenv("AGENTRR_SCREENSHOT_DIR"); dir != "" {
		shots = dir
	}
	report := filepath.Join(shots, "report.html")
	runCmd(0, agentrr, "report", replayID, "--html", report)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	view := exec.CommandContext(ctx, agentrr, "view", "--listen", "127.0.0.1:0")
	view.Env = env
	view.Cancel = func() error { return view.Process.Signal(syscall.SIGINT) }
	stdout, err := view.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var viewErr bytes.Buffer
	view.Stderr = &viewErr
	if err := view.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		view.Process.Signal(syscall.SIGINT)
		view.Wait()
	}()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("agentrr view printed nothing: %s", viewErr.String())
	}
	m = viewURLLine.FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("agentrr view printed %q", lines.Text())
	}

	drive := exec.CommandContext(ctx, node, "view.mjs")
	drive.Dir = filepath.Join(repoRoot, "e2e", "browser")
	drive.Env = append(os.Environ(), "VIEW_URL="+m[1], "RUN_ID="+runID, "REPLAY_ID="+replayID,
		"REPORT_FILE="+report, "OUT_DIR="+shots, "CHROMIUM="+chromium)
	out, err := drive.CombinedOutput()
	t.Logf("view.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("the browser test failed: %v (agentrr view said: %s)", err, viewErr.String())
	}
	for _, name := range []string{"run.png", "why.png", "divergence.png", "report.png"} {
		checkNotBlank(t, filepath.Join(shots, name))
	}
}

// checkNotBlank fails unless the PNG at path shows something: many colours,
// and a good share of pixels unlike the background.
func checkNotBlank(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	colours, total, fg := blankness(img)
	t.Logf("%s: %dx%d, %d colours, %.0f%% of pixels unlike the background", filepath.Base(path), img.Bounds().Dx(), img.Bounds().Dy(), colours, 100*float64(fg)/float64(total))
	if colours < 16 || float64(fg) < 0.05*float64(total) {
		t.Errorf("%s looks blank: %d colours, %d of %d pixels unlike the background", path, colours, fg, total)
	}
}

// blankness counts the distinct colours of img (quantised to 5 bits a
// channel), the pixels sampled, and those unlike the commonest colour.
func blankness(img image.Image) (colours, total, unlike int) {
	counts := map[uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			counts[(r>>11)<<10|(g>>11)<<5|bl>>11]++
			total++
		}
	}
	top := 0
	for _, n := range counts {
		top = max(top, n)
	}
	return len(counts), total, total - top
}
