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
)

// Resource attributes naming the agent's build, so a replay can tell whether
// the code changed since the recording.
const (
	AttrBuildModule   = "agentrr.build.module"
	AttrBuildVersion  = "agentrr.build.version"
	AttrBuildRevision = "agentrr.build.vcs.revision"
	AttrBuildModified = "agentrr.build.vcs.modified"
	AttrBuildGo       = "agentrr.build.go"
	// AttrBuildExeSHA256 is the hex SHA-256 of the agent's executable file.
	// It tells builds apart when there is no VCS revision (go test binaries,
	// builds outside a repository) or the tree was modified. Go builds are
	// reproducible, so `go run` of the same source gives the same hash even
	// though it builds a new temporary binary each time.
	AttrBuildExeSHA256 = "agentrr.build.exe.sha256"
)

func buildAttributes() []attribute.KeyValue {
	var attrs []attribute.KeyValue
	if sum := exeSHA256(); sum != "" {
		attrs = append(attrs, attribute.String(AttrBuildExeSHA256, sum))
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return attrs
	}
	attrs = append(attrs,
		attribute.String(AttrBuildModule, bi.Main.Path),
		attribute.String(AttrBuildVersion, bi.Main.Version),
		attribute.String(AttrBuildGo, bi.GoVersion),
	)
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			attrs = append(attrs, attribute.String(AttrBuildRevision, s.Value))
		case "vcs.modified":
			attrs = append(attrs, attribute.Bool(AttrBuildModified, s.Value == "true"))
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
		revision: res[AttrBuildRevision],
		modified: res[AttrBuildModified] == "true",
		exe:      res[AttrBuildExeSHA256],
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
