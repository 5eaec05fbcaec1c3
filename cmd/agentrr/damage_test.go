package main_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestDamageScripts runs the scripts in testdata/damage: stores damaged on
// disk (bytes flipped, files cut or deleted) read by every command. They
// get the same environment and commands as TestScripts, and also:
//
//	damage <flip|truncate|delete> <trace-id|store> <file>
//	    damage one file of a run's database or of the store: file is
//	    sstable, wal (the largest write-ahead log), MANIFEST, OPTIONS,
//	    marker.manifest, or, for the store, FORMAT
//	hashstore <file>
//	    write the SHA-256 of every store file (but Pebble's empty LOCK
//	    files) to file, sorted, so that `cmp` shows a store unchanged
//	otlpsink <VAR> [bodies-file]
//	    start an OTLP/HTTP receiver that accepts every export (until the
//	    script ends) and set VAR to its /v1/traces URL; with bodies-file,
//	    each request body is appended to that file
func TestDamageScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example agents")
	}
	testscript.Run(t, scriptParams(t, "testdata/damage", map[string]func(*testscript.TestScript, bool, []string){
		"damage":    cmdDamage,
		"hashstore": cmdHashStore,
		"otlpsink":  cmdOTLPSink,
	}))
}

func cmdDamage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: damage flip|truncate|delete <trace-id|store> <file>")
	}
	op, run, kind := args[0], args[1], args[2]
	store := ts.Getenv("AGENTRR_STORE")
	var path string
	if run == "store" {
		path = filepath.Join(store, kind)
	} else {
		path = runFile(ts, filepath.Join(store, "runs", run, "db"), kind)
	}
	switch op {
	case "flip":
		b, err := os.ReadFile(path)
		ts.Check(err)
		if len(b) == 0 {
			ts.Fatalf("damage: %s is empty: nothing to flip", path)
		}
		// Two bytes inside the file, away from its ends: in the data,
		// not in a trailer a reader might not look at.
		for _, at := range []int{len(b) / 3, len(b) / 2} {
			b[at] ^= 0x5a
		}
		ts.Check(os.WriteFile(path, b, 0o600))
	case "truncate":
		fi, err := os.Stat(path)
		ts.Check(err)
		ts.Check(os.Truncate(path, fi.Size()/2))
	case "delete":
		ts.Check(os.Remove(path))
	default:
		ts.Fatalf("damage: unknown operation %q", op)
	}
	ts.Logf("damage: %s %s", op, path)
}

// runFile finds the file of a run database by kind, whatever number Pebble
// gave it.
func runFile(ts *testscript.TestScript, dbDir, kind string) string {
	entries, err := os.ReadDir(dbDir)
	ts.Check(err)
	var best string
	var bestSize int64 = -1
	for _, e := range entries {
		name := e.Name()
		var match bool
		switch kind {
		case "sstable":
			match = strings.HasSuffix(name, ".sst")
		case "wal":
			match = strings.HasSuffix(name, ".log")
		case "MANIFEST", "OPTIONS":
			match = strings.HasPrefix(name, kind+"-")
		case "marker.manifest":
			match = strings.HasPrefix(name, "marker.manifest.")
		default:
			ts.Fatalf("damage: unknown file kind %q", kind)
		}
		if !match {
			continue
		}
		fi, err := e.Info()
		ts.Check(err)
		if fi.Size() > bestSize {
			best, bestSize = name, fi.Size()
		}
	}
	if best == "" {
		ts.Fatalf("damage: no %s file in %s", kind, dbDir)
	}
	return filepath.Join(dbDir, best)
}

func cmdHashStore(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hashstore <file>")
	}
	store := ts.Getenv("AGENTRR_STORE")
	var lines []string
	err := filepath.WalkDir(store, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LOCK" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		rel, _ := filepath.Rel(store, p)
		lines = append(lines, fmt.Sprintf("%s %s\n", filepath.ToSlash(rel), hex.EncodeToString(sum[:])))
		return nil
	})
	ts.Check(err)
	slices.Sort(lines)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(strings.Join(lines, "")), 0o600))
}

func cmdOTLPSink(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: otlpsink <VAR> [bodies-file]")
	}
	var bodies string
	if len(args) == 2 {
		bodies = ts.MkAbs(args[1])
	}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if bodies != "" {
			mu.Lock()
			f, err := os.OpenFile(bodies, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err == nil {
				f.Write(b)
				f.Close()
			}
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	ts.Defer(srv.Close)
	ts.Setenv(args[0], srv.URL+"/v1/traces")
}
