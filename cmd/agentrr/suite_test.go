package main_test

import (
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// verdictLine is a line of agentrr test's list: a verdict, then the
// recording.
var verdictLine = regexp.MustCompile(`^(faithful|diverged|truncated|damaged|agent failed|recording) `)

// summaryCounts is agentrr test's summary line without its timing.
var summaryCounts = regexp.MustCompile(`(?m)^((?:ok|FAIL): [^(]*) \([0-9.]+s, -j [0-9]+\)$`)

// verdicts returns the verdict lines of an output of agentrr test and its
// summary's counts.
func verdicts(ts *testscript.TestScript, file string) (lines []string, summary string) {
	out := ts.ReadFile(file)
	for l := range strings.Lines(out) {
		if verdictLine.MatchString(l) {
			lines = append(lines, strings.TrimRight(l, "\n"))
		}
	}
	m := summaryCounts.FindStringSubmatch(out)
	if m == nil {
		ts.Fatalf("%s: no summary line", file)
	}
	return lines, m[1]
}

// cmdSameVerdicts is sameverdicts <a> <b>: the two outputs of agentrr test
// list the same recordings, in the same order, with the same verdicts and
// reasons, and count them the same (timings aside).
func cmdSameVerdicts(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sameverdicts <a> <b>")
	}
	la, sa := verdicts(ts, args[0])
	lb, sb := verdicts(ts, args[1])
	if len(la) == 0 {
		ts.Fatalf("%s lists no verdicts", args[0])
	}
	if strings.Join(la, "\n") != strings.Join(lb, "\n") {
		ts.Fatalf("verdicts differ:\n%s:\n%s\n%s:\n%s", args[0], strings.Join(la, "\n"), args[1], strings.Join(lb, "\n"))
	}
	if sa != sb {
		ts.Fatalf("summaries differ: %q and %q", sa, sb)
	}
}

// junitReport is the part of a JUnit XML report the scripts check.
type junitReport struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Suites   []struct {
		Tests int `xml:"tests,attr"`
		Cases []struct {
			Name    string `xml:"name,attr"`
			Time    string `xml:"time,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// cmdJUnit is junit <file> <tests> <failures>: file parses as a JUnit XML
// report (encoding/xml) of one testcase per recording, each named and
// timed, <tests> in all, <failures> of them with a <failure> holding a
// divergence table.
func cmdJUnit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: junit <file> <tests> <failures>")
	}
	tests, err := strconv.Atoi(args[1])
	ts.Check(err)
	failures, err := strconv.Atoi(args[2])
	ts.Check(err)
	var r junitReport
	if err := xml.Unmarshal([]byte(ts.ReadFile(args[0])), &r); err != nil {
		ts.Fatalf("%s does not parse as XML: %v", args[0], err)
	}
	if len(r.Suites) != 1 {
		ts.Fatalf("%s: %d testsuites, want 1", args[0], len(r.Suites))
	}
	cases, failed := r.Suites[0].Cases, 0
	if len(cases) != tests || r.Tests != tests || r.Suites[0].Tests != tests {
		ts.Fatalf("%s: %d testcases (tests=%d, suite tests=%d), want %d", args[0], len(cases), r.Tests, r.Suites[0].Tests, tests)
	}
	names := map[string]bool{}
	for _, c := range cases {
		if c.Name == "" || names[c.Name] {
			ts.Fatalf("%s: testcase name %q is empty or not unique", args[0], c.Name)
		}
		names[c.Name] = true
		if _, err := strconv.ParseFloat(c.Time, 64); err != nil {
			ts.Fatalf("%s: testcase %s: time %q: %v", args[0], c.Name, c.Time, err)
		}
		if c.Failure != nil {
			failed++
			if !strings.Contains(c.Failure.Text, "WHAT DIFFERS") || c.Failure.Message == "" {
				ts.Fatalf("%s: testcase %s: the failure holds no divergence table:\n%s", args[0], c.Name, c.Failure.Text)
			}
		}
	}
	if failed != failures || r.Failures != failures {
		ts.Fatalf("%s: %d testcases failed (failures=%d), want %d", args[0], failed, r.Failures, failures)
	}
}
