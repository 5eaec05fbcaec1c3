package otelrr

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sync"

	"go.opentelemetry.io/otel/attribute"

	"github.com/agentrr/agentrr/boundary"
)

func buildAttributes() []attribute.KeyValue {
	var attrs []attribute.KeyValue
	if sum := exeSHA256(); sum != "" {
		attrs = append(attrs, attribute.String(boundary.AttrBuildExeSHA256, sum))
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return attrs
	}
	attrs = append(attrs,
		attribute.String(boundary.AttrBuildModule, bi.Main.Path),
		attribute.String(boundary.AttrBuildVersion, bi.Main.Version),
		attribute.String(boundary.AttrBuildGo, bi.GoVersion),
	)
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			attrs = append(attrs, attribute.String(boundary.AttrBuildRevision, s.Value))
		case "vcs.modified":
			attrs = append(attrs, attribute.Bool(boundary.AttrBuildModified, s.Value == "true"))
		}
	}
	return attrs
}

// exeSHA256 is the hex SHA-256 of the running executable, computed on first
// use and then remembered: one read of the binary per process (tens of
// milliseconds for a large one). It is "" when the executable cannot be
// read; the build is then told apart by its VCS revision alone.
var exeSHA256 = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
})

// build is the identity of an agent build, from a run's resource.
type build struct {
	revision string
	modified bool
	exe      string
}

func buildOf(res map[string]string) build {
	return build{
		revision: res[boundary.AttrBuildRevision],
		modified: res[boundary.AttrBuildModified] == "true",
		exe:      res[boundary.AttrBuildExeSHA256],
	}
}

func (b build) String() string {
	s := short(b.revision)
	if b.modified {
		s += " (modified)"
	}
	return s
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// codeChange compares the build recorded in a run's resource with the
// replaying one and says, in one sentence for the replay report, whether
// the agent's code changed. It returns "" when the recording carries no
// build identity to compare with.
func codeChange(recorded, current map[string]string) (desc string, changed bool) {
	rec, cur := buildOf(recorded), buildOf(current)
	sameExe := rec.exe != "" && rec.exe == cur.exe
	bothRevs := rec.revision != "" && cur.revision != ""
	switch {
	case sameExe && rec.revision != "":
		return fmt.Sprintf("agent code unchanged since recording: %s, same executable", rec), false
	case sameExe:
		return fmt.Sprintf("agent code unchanged since recording: same executable (sha256 %s)", short(rec.exe)), false
	case bothRevs && (rec.revision != cur.revision || rec.modified != cur.modified):
		return fmt.Sprintf("agent code changed since recording: %s → %s", rec, cur), true
	case bothRevs && rec.exe != "" && cur.exe != "":
		// Same revision, same modified flag, another executable: local
		// edits on both sides, or another Go version or build flags.
		return fmt.Sprintf("agent code changed since recording: %s → %s, another executable (sha256 %s → %s)", rec, cur, short(rec.exe), short(cur.exe)), true
	case bothRevs:
		return fmt.Sprintf("agent code unchanged since recording: %s", rec), false
	case rec.exe != "" && cur.exe != "":
		return fmt.Sprintf("agent code changed since recording: executable sha256 %s → %s (no VCS revision in the build)", short(rec.exe), short(cur.exe)), true
	}
	return "", false
}

// bothRevisions reports whether both resources name a VCS revision (and so
// can be compared without their executables).
func bothRevisions(recorded, current map[string]string) bool {
	return buildOf(recorded).revision != "" && buildOf(current).revision != ""
}
