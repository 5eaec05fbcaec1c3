package test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// The JUnit XML report (--junit): one <testsuite> of one <testcase> per
// recording, in the order of the list. A recording that diverged or is
// truncated has a <failure> holding the replay's report (its divergence
// table and request diff); one that could not be replayed (damaged, agent
// failed, still being recorded) an <error>. The agent's output of a
// recording that is not faithful is its <system-out>.

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

// junitReport builds the report of out.
func junitReport(out *Output) *junitSuites {
	suite := junitSuite{Name: "agentrr test", Time: junitTime(out.Seconds)}
	for _, res := range out.Recordings {
		c := junitCase{Name: res.Name, Classname: "agentrr.test", Time: junitTime(res.Seconds)}
		if res.File != "" {
			c.Classname = "agentrr.test." + filepath.ToSlash(filepath.Dir(res.File))
		}
		if res.Verdict != Faithful {
			p := &junitProblem{Message: xmlText(res.Verdict + ": " + res.Reason), Type: res.Verdict}
			if res.report != nil && !res.report.Faithful() {
				var b strings.Builder
				if err := res.report.WriteTable(&b); err == nil {
					p.Text = xmlText(b.String())
				}
			}
			if p.Text == "" {
				p.Text = xmlText(res.Reason)
			}
			switch res.Verdict {
			case Diverged, Truncated:
				c.Failure = p
				suite.Failures++
			default:
				c.Error = p
				suite.Errors++
			}
			if len(res.output) > 0 {
				c.SystemOut = &junitText{xmlText(string(res.output))}
			}
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Tests = len(suite.Cases)
	return &junitSuites{
		Name:     "agentrr test",
		Tests:    suite.Tests,
		Failures: suite.Failures,
		Errors:   suite.Errors,
		Time:     suite.Time,
		Suites:   []junitSuite{suite},
	}
}

// writeJUnit writes the JUnit XML report of out to path, whole or not at
// all.
func writeJUnit(path string, out *Output) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(junitReport(out)); err != nil {
		return fmt.Errorf("--junit: %w", err)
	}
	buf.WriteByte('\n')
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("--junit: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--junit: %w", err)
	}
	return nil
}

func junitTime(s float64) string { return fmt.Sprintf("%.3f", s) }

// xmlText drops what XML 1.0 cannot carry (control characters but tab,
// newline and carriage return; invalid UTF-8): an agent's output may hold
// anything.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError, r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0xFFFE, r == 0xFFFF:
			return -1
		}
		return r
	}, s)
}
