// Package storetest holds helpers for tests of stores of runs: the spans
// a store is given, and checks of what it holds.
package storetest

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/spanlog"
)

// OpenExisting opens the existing store at dir, failing t if it cannot.
func OpenExisting(t testing.TB, dir string) *spanlog.Store {
	t.Helper()
	s, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Runs lists the runs of the existing store at dir, failing t if it
// cannot.
func Runs(t testing.TB, dir string) []spanlog.RunInfo {
	t.Helper()
	runs, err := OpenExisting(t, dir).Runs()
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// ReadRun reads run id from the store at dir, failing t if the store
// cannot be opened or the run read.
func ReadRun(t testing.TB, dir, id string) *spanlog.Run {
	t.Helper()
	run, err := OpenExisting(t, dir).ReadRun(id)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// NoSecrets fails t if any file under dir, the store's files as written,
// holds one of secrets, or if there is no file under dir to scan.
func NoSecrets(t testing.TB, dir string, secrets ...string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %q", path, s)
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("scan %s: %d files, %v", dir, files, err)
	}
}

// PutToolAttrs sets on attrs the agentrr attributes of a tool boundary as
// a recorder writes them: seq, name, the request req and the response resp
// with their lengths, the signature and the payload hash.
func PutToolAttrs(attrs pcommon.Map, seq int64, name string, req, resp []byte) {
	attrs.PutStr(boundary.AttrKind, string(boundary.KindTool))
	attrs.PutInt(boundary.AttrSeq, seq)
	attrs.PutStr(boundary.AttrName, name)
	attrs.PutStr(boundary.AttrRequest, string(req))
	attrs.PutInt(boundary.AttrRequestLength, int64(len(req)))
	attrs.PutStr(boundary.AttrResponse, string(resp))
	attrs.PutInt(boundary.AttrResponseLength, int64(len(resp)))
	attrs.PutStr(boundary.AttrSignature, boundary.Signature(boundary.KindTool, name, req))
	attrs.PutStr(boundary.AttrPayloadHash, boundary.PayloadHash(req, resp, ""))
}
