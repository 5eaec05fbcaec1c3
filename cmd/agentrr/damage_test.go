package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/agentrr/agentrr/internal/filetest"
)

// TestDamageScripts runs the scripts in testdata/damage: stores damaged on
// disk (bytes flipped, files cut or deleted) read by every command. They
// get the same environment and commands as TestScripts, and also:
//
//	damage <flip|truncate|delete> <trace-id|store> <file>
//	    damage one file of a run or of the store: file is sealed (a
//	    sealed run's file), marker (a run's marker in runs/), or, for a run
//	    in a writer slot, a file of the slot's database: sstable, wal (the
//	    largest write-ahead log), MANIFEST, OPTIONS, marker.manifest; for
//	    the store, FORMAT or index
//	hashstore <file>
//	    write the SHA-256 of every store file (but Pebble's empty LOCK
//	    files) to file, sorted, so that `cmp` shows a store unchanged
//	otlpsink <VAR> [bodies-file]
//	    start an OTLP/HTTP receiver that accepts every export (until the
//	    script ends) and set VAR to its /v1/traces URL; with bodies-file,
//	    each request body is appended to that file
func TestDamageScripts(t *testing.T) {
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
		switch kind {
		case "sealed":
			path = filepath.Join(store, "runs", run+".run")
		case "marker":
			path = filepath.Join(store, "runs", run+".live")
		default:
			var m struct {
				Slot int `json:"slot"`
			}
			b, err := os.ReadFile(filepath.Join(store, "runs", run+".live"))
			ts.Check(err)
			ts.Check(json.Unmarshal(b, &m))
			path = runFile(ts, filepath.Join(store, "writers", strconv.Itoa(m.Slot), "db"), kind)
		}
	}
	b, _ := os.ReadFile(path)
	used := len(b)
	if kind == "wal" {
		// A writer slot's log is recycled: past the records it holds,
		// zeros (or an older log's records). Damage what it holds.
		for used > 0 && b[used-1] == 0 {
			used--
		}
	}
	switch op {
	case "flip":
		if used == 0 {
			ts.Fatalf("damage: %s is empty: nothing to flip", path)
		}
		// Two bytes inside the file, away from its ends: in the data,
		// not in a trailer a reader might not look at.
		for _, at := range []int{used / 3, used / 2} {
			b[at] ^= 0x5a
		}
		ts.Check(os.WriteFile(path, b, 0o600))
	case "truncate":
		ts.Check(os.Truncate(path, int64(used/2)))
	case "delete":
		ts.Check(os.Remove(path))
	default:
		ts.Fatalf("damage: unknown operation %q", op)
	}
	ts.Logf("damage: %s %s", op, path)
}

// runFile finds the file of a database by kind, whatever number Pebble
// gave it: the largest, or for MANIFEST and OPTIONS the newest.
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
		size := fi.Size()
		if kind == "MANIFEST" || kind == "OPTIONS" {
			// The newest is the live one (Pebble numbers its files in
			// order; an older one may be left by a killed process).
			size = 0
			if name > best {
				size = bestSize + 1
			}
		}
		if size > bestSize {
			best, bestSize = name, size
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
	sums, err := filetest.HashTree(ts.Getenv("AGENTRR_STORE"))
	ts.Check(err)
	var lines []string
	for rel, sum := range sums {
		lines = append(lines, fmt.Sprintf("%s %s\n", rel, sum))
	}
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
