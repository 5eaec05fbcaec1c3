package version

import (
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
)

func TestVersion(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/agentrr/agentrr", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2025-06-01T12:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	read := func() (*debug.BuildInfo, bool) { return bi, true }

	streams, out, _ := cmdtest.Streams()
	if err := runVersion(&Options{IO: streams, ReadBuildInfo: read}); err != nil {
		t.Fatal(err)
	}
	want := `agentrr v0.3.0
module     github.com/agentrr/agentrr
revision   0123456789abcdef0123456789abcdef01234567 (modified)
committed  2025-06-01T12:00:00Z
go         go1.26.8
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}

	streams, out, _ = cmdtest.Streams()
	if err := runVersion(&Options{IO: streams, ReadBuildInfo: read, JSON: true}); err != nil {
		t.Fatal(err)
	}
	var info Info
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if info != (Info{Version: "v0.3.0", Module: "github.com/agentrr/agentrr", VCSRevision: "0123456789abcdef0123456789abcdef01234567",
		VCSTime: "2025-06-01T12:00:00Z", VCSModified: true, Go: "go1.26.8"}) {
		t.Errorf("JSON %+v", info)
	}
}

func TestVersionWithoutBuildInfo(t *testing.T) {
	streams, out, _ := cmdtest.Streams()
	if err := runVersion(&Options{IO: streams, ReadBuildInfo: func() (*debug.BuildInfo, bool) { return nil, false }}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "agentrr (devel)\n") || !strings.Contains(out.String(), "revision  unknown") {
		t.Errorf("got:\n%s", out)
	}
}
