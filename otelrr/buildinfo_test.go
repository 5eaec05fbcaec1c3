package otelrr

import (
	"strings"
	"testing"

	"github.com/agentrr/agentrr/boundary"
)

func TestCodeChange(t *testing.T) {
	const (
		revA = "1111111111111111111111111111111111111111"
		revB = "2222222222222222222222222222222222222222"
		exeA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		exeB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	)
	b := func(rev, modified, exe string) map[string]string {
		m := map[string]string{}
		if rev != "" {
			m[boundary.AttrBuildRevision] = rev
			m[boundary.AttrBuildModified] = modified
		}
		if exe != "" {
			m[boundary.AttrBuildExeSHA256] = exe
		}
		return m
	}
	for _, tc := range []struct {
		name        string
		rec, cur    map[string]string
		want        string
		wantChanged bool
	}{
		{"same executable", b(revA, "false", exeA), b(revA, "false", exeA), "agent code unchanged since recording: 111111111111, same executable", false},
		{"same executable, no vcs", b("", "", exeA), b("", "", exeA), "agent code unchanged since recording: same executable (sha256 aaaaaaaaaaaa)", false},
		{"new revision", b(revA, "true", exeA), b(revB, "false", exeB), "agent code changed since recording: 111111111111 (modified) → 222222222222", true},
		{"edited working tree", b(revA, "true", exeA), b(revA, "true", exeB), "agent code changed since recording: 111111111111 (modified) → 111111111111 (modified), another executable (sha256 aaaaaaaaaaaa → bbbbbbbbbbbb)", true},
		{"no vcs, other executable", b("", "", exeA), b("", "", exeB), "agent code changed since recording: executable sha256 aaaaaaaaaaaa → bbbbbbbbbbbb (no VCS revision in the build)", true},
		{"same revision, no hashes", b(revA, "false", ""), b(revA, "false", ""), "agent code unchanged since recording: 111111111111", false},
		{"recording without build info", map[string]string{}, b(revA, "false", exeA), "", false},
	} {
		got, changed := codeChange(tc.rec, tc.cur)
		if got != tc.want || changed != tc.wantChanged {
			t.Errorf("%s:\n got %q, %v\nwant %q, %v", tc.name, got, changed, tc.want, tc.wantChanged)
		}
	}
}

func TestExecutableHashIsRecorded(t *testing.T) {
	sum := exeSHA256()
	if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
		t.Fatalf("exe sha256 %q", sum)
	}
	found := false
	for _, kv := range buildAttributes() {
		if string(kv.Key) == boundary.AttrBuildExeSHA256 && kv.Value.AsString() == sum {
			found = true
		}
	}
	if !found {
		t.Errorf("build attributes lack %s", boundary.AttrBuildExeSHA256)
	}
}
