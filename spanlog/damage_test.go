package spanlog_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/agentrr/agentrr/internal/filetest"
	"github.com/agentrr/agentrr/spanlog"
)

// The damaged-store gate: flip bytes in, truncate or delete each file of a
// store (Pebble's data files, write-ahead logs, MANIFEST, markers, OPTIONS;
// the store's FORMAT), then read it. Every read must come back — no panic,
// no exit — with the damage reported (an error matching spanlog.ErrDamaged,
// or the run's status damaged), or with what was stored before, whole. It
// must never read back a run that lost data while claiming to be complete,
// and reading must not change a byte of the store (nothing is repaired
// behind the user's back). An undamaged run in the same store reads back
// unchanged.

// damageFixture is a store template: a complete run and a truncated one
// (both sealed into their files), a run whose recorder was killed (its
// boundaries only in its writer slot's write-ahead log) and a bystander run
// that is never damaged.
type damageFixture struct {
	dir                                  string
	complete, truncated, killed, bystand string
	before                               map[string]runDigest
}

// runDigest is what a read of a run returns, reduced to what must not
// change: status, and each boundary's seq, signature and payload hash.
type runDigest struct {
	status  spanlog.Status
	records []string
}

func digest(run *spanlog.Run) runDigest {
	d := runDigest{status: run.Info.Status}
	for _, r := range run.Records {
		d.records = append(d.records, r.Signature+"/"+r.PayloadHash)
	}
	return d
}

func newDamageFixture(t *testing.T) *damageFixture {
	t.Helper()
	s, dir := openStore(t)
	f := &damageFixture{dir: dir, complete: newTraceID(t), truncated: newTraceID(t), bystand: newTraceID(t), before: map[string]runDigest{}}
	writeRun(t, s, f.complete, 6, true)
	writeRun(t, s, f.truncated, 6, false)
	writeRun(t, s, f.bystand, 3, true)
	// Let go of the writer slot this process keeps between runs, so that
	// the store is the same whenever it is copied.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	f.killed = killedRun(t, dir)
	for _, id := range []string{f.complete, f.truncated, f.killed, f.bystand} {
		run, err := s.ReadRun(id)
		if err != nil {
			t.Fatal(err)
		}
		f.before[id] = digest(run)
	}
	if f.before[f.complete].status != spanlog.StatusComplete || f.before[f.truncated].status != spanlog.StatusTruncated || f.before[f.killed].status != spanlog.StatusTruncated {
		t.Fatalf("fixture: %+v", f.before)
	}
	return f
}

// copyDir copies the store template to a fresh directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "store")
	filetest.CopyTree(t, src, dst)
	return dst
}

// storeHash hashes every file of the store but Pebble's LOCK files.
func storeHash(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums, err := filetest.HashTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// damage is one way of hurting a file.
type damage struct {
	name  string
	apply func(t *testing.T, path string, rng *rand.Rand)
}

var damages = []damage{
	{"flip", func(t *testing.T, path string, rng *rand.Rand) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			t.Skip("empty file: no byte to flip")
		}
		// A few bytes, spread over the file.
		for range 3 {
			b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255))
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}},
	{"truncate", func(t *testing.T, path string, rng *rand.Rand) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 {
			t.Skip("empty file: nothing to cut")
		}
		if err := os.Truncate(path, rng.Int64N(fi.Size())); err != nil {
			t.Fatal(err)
		}
	}},
	{"delete", func(t *testing.T, path string, _ *rand.Rand) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}},
}

// fileKind names a store file by what it is, so test names stay the same
// whatever numbers Pebble gave the files.
func fileKind(name string) string {
	name = filepath.Base(name)
	switch {
	case strings.HasSuffix(name, ".run"):
		return "sealed"
	case strings.HasSuffix(name, ".live"):
		return "marker"
	case name == "index" || name == "index.lock" || name == "writer" || name == "slot.lock":
		return name
	case strings.HasSuffix(name, ".wal"):
		return "spare-wal"
	case strings.HasSuffix(name, ".sst"):
		return "sstable"
	case strings.HasSuffix(name, ".log"):
		return "wal"
	case strings.HasPrefix(name, "MANIFEST-"):
		return "MANIFEST"
	case strings.HasPrefix(name, "OPTIONS-"):
		return "OPTIONS"
	case strings.HasPrefix(name, "marker.manifest."):
		return "marker.manifest"
	case strings.HasPrefix(name, "marker.format-version."):
		return "marker.format-version"
	}
	return name
}

func TestDamagedStoreFiles(t *testing.T) {
	f := newDamageFixture(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("damage positions from seed %d", seed)

	// Every file of the store but the bystander's: the sealed files, the
	// killed run's marker, its writer slot's files, the index.
	var targets []struct{ run, file string }
	err := filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LOCK" || d.Name() == "FORMAT" || strings.HasPrefix(d.Name(), f.bystand) {
			return err
		}
		rel, _ := filepath.Rel(f.dir, p)
		run := f.killed // the slot and the index hold it, or no run
		for _, id := range []string{f.complete, f.truncated} {
			if strings.HasPrefix(d.Name(), id) {
				run = id
			}
		}
		targets = append(targets, struct{ run, file string }{run, rel})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, tg := range targets {
		kinds[fileKind(tg.file)] = true
	}
	for _, must := range []string{"sealed", "MANIFEST", "marker", "index"} {
		if !kinds[must] {
			t.Fatalf("fixture has no %s file to damage: %v", must, kinds)
		}
	}
	if !kinds["wal"] {
		t.Fatalf("fixture has no write-ahead log to damage: %v", kinds)
	}

	verdicts := map[string]int{}
	for _, tg := range targets {
		label := map[string]string{f.complete: "complete", f.truncated: "truncated", f.killed: "killed"}[tg.run]
		for _, dm := range damages {
			t.Run(label+"/"+fileKind(tg.file)+"/"+dm.name, func(t *testing.T) {
				dir := copyDir(t, f.dir)
				rng := rand.New(rand.NewPCG(seed, uint64(len(tg.file))+uint64(len(dm.name))))
				dm.apply(t, filepath.Join(dir, tg.file), rng)
				v := checkDamagedRead(t, dir, f, tg.run, dm.name, tg.file)
				verdicts[v]++
				t.Logf("%s %s of run %s: %s", dm.name, tg.file, label, v)
			})
		}
	}
	t.Logf("verdicts over %d damaged files: %v", len(targets)*len(damages), verdicts)
}

// checkDamagedRead reads every run of the damaged store at dir and checks
// the gate's invariants; it returns the verdict for the damaged run.
func checkDamagedRead(t *testing.T, dir string, f *damageFixture, damaged, how, file string) (verdict string) {
	t.Helper()
	hashBefore := storeHash(t, dir)
	defer func() {
		if after := storeHash(t, dir); !mapsEqual(hashBefore, after) {
			t.Errorf("reading the damaged store changed its files:\nbefore %v\nafter  %v", hashBefore, after)
		}
	}()
	s, err := spanlog.OpenExisting(dir)
	if err != nil {
		t.Fatalf("OpenExisting: %v", err)
	}
	want := f.before[damaged]
	run, err := s.ReadRun(damaged)
	if errors.Is(err, spanlog.ErrNotFound) && how == "delete" && fileKind(file) == "marker" {
		// The marker is how a run in a writer slot is found; without it the
		// run is found when the slot's last holder is known to have died
		// (spanlog's orphan scan) — here the kill left the slot's writer
		// file, so not finding it would be a failure.
		t.Fatalf("run %s lost with its marker: %v", damaged, err)
	}
	switch {
	case err != nil:
		if !errors.Is(err, spanlog.ErrDamaged) {
			t.Fatalf("ReadRun: %v; want an error matching ErrDamaged", err)
		}
		if !strings.Contains(err.Error(), damaged) {
			t.Errorf("error %q does not name the run", err)
		}
		verdict = "error: damaged"
	case run.Info.Status == spanlog.StatusDamaged:
		if run.Info.Reason == "" {
			t.Error("damaged without a reason")
		}
		got := digest(run)
		if !isPrefix(got.records, want.records) {
			t.Errorf("damaged run reads back boundaries that were never stored")
		}
		verdict = "status: damaged"
	default:
		got := digest(run)
		switch {
		case got.status == want.status && slices.Equal(got.records, want.records):
			verdict = "unaffected: " + string(got.status)
		case want.status == spanlog.StatusTruncated && got.status == spanlog.StatusTruncated && isPrefix(got.records, want.records) &&
			(how == "truncate" || len(got.records) >= len(want.records)-1):
			// A run that never ended lives in the write-ahead log. A log
			// cut short is what a crash leaves: an earlier crash. A
			// corrupt last record cannot be told from a torn write
			// either; any earlier corrupt record is (spanlog's
			// walCorruption). See docs/contract.md.
			verdict = "shorter prefix: truncated (the log's end looks like an earlier crash)"
		default:
			t.Fatalf("damage not reported: read back %s with %d boundaries (%s), stored %s with %d",
				got.status, len(got.records), run.Info.Reason, want.status, len(want.records))
		}
	}
	// Info and Runs agree, and never fail on one damaged run.
	info, ierr := s.Info(damaged)
	if ierr != nil && !errors.Is(ierr, spanlog.ErrDamaged) {
		t.Errorf("Info: %v", ierr)
	}
	runs, err := s.Runs()
	if err != nil {
		t.Fatalf("Runs: %v", err)
	}
	if len(runs) != 4 {
		t.Errorf("Runs lists %d runs, want 4", len(runs))
	}
	for _, r := range runs {
		if r.TraceID == damaged && ierr == nil && r.Status != info.Status {
			t.Errorf("Runs says %s, Info says %s", r.Status, info.Status)
		}
		if r.TraceID == damaged && ierr != nil && r.Status != spanlog.StatusDamaged {
			t.Errorf("Runs lists the unreadable run as %s", r.Status)
		}
	}
	// The bystander is untouched.
	other, err := s.ReadRun(f.bystand)
	if err != nil {
		t.Fatalf("undamaged run: %v", err)
	}
	if got := digest(other); got.status != spanlog.StatusComplete || !slices.Equal(got.records, f.before[f.bystand].records) {
		t.Errorf("undamaged run reads back %s with %d boundaries", got.status, len(got.records))
	}
	return verdict
}

func isPrefix(a, b []string) bool { return len(a) <= len(b) && slices.Equal(a, b[:len(a)]) }

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The run header and end record are keys of the run's database; damaging
// them (as a tool writing into the database would) is damage, never a
// truncated or complete run.
func TestDamagedRunRecords(t *testing.T) {
	for name, hurt := range map[string]func(db *sealedFile, id string) error{
		"header garbage": func(db *sealedFile, id string) error {
			return db.Set(headerKey(t, id), []byte("{not json"), pebble.Sync)
		},
		"header deleted": func(db *sealedFile, id string) error {
			return db.Delete(headerKey(t, id), pebble.Sync)
		},
		"end record garbage": func(db *sealedFile, id string) error {
			return db.Set(endKey(t, id), []byte{0xff, 0x00}, pebble.Sync)
		},
		"format version garbage": func(db *sealedFile, id string) error {
			return db.Set([]byte{'v'}, []byte{0, 0}, pebble.Sync)
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, dir := openStore(t)
			id := newTraceID(t)
			writeRun(t, s, id, 3, true)
			db := rawDB(t, dir, id)
			if err := hurt(db, id); err != nil {
				t.Fatal(err)
			}
			db.Close()
			run, err := s.ReadRun(id)
			if err != nil {
				t.Fatal(err)
			}
			if run.Info.Status != spanlog.StatusDamaged {
				t.Errorf("status %s (%s), want damaged", run.Info.Status, run.Info.Reason)
			}
		})
	}
}

// headerKey and endKey are the documented keys of the run header and end
// record: 'h' or 'e', then the trace id.
func headerKey(t *testing.T, id string) []byte { return runKey(t, 'h', id) }
func endKey(t *testing.T, id string) []byte    { return runKey(t, 'e', id) }

func runKey(t *testing.T, prefix byte, id string) []byte {
	tid, err := spanlog.ParseTraceID(id)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{prefix}, tid[:]...)
}

// The store's own FORMAT file: damaged is exit-3 damage (ErrDamaged), a
// newer version is ErrFutureFormat, a missing one is accepted (stores made
// before FORMAT existed), and nothing is rewritten by a reader.
func TestDamagedFormatFile(t *testing.T) {
	f := newDamageFixture(t)
	for name, content := range map[string]*string{
		"garbage":  ptr("agentrr-st\x00\xffre 1\n"),
		"empty":    ptr(""),
		"cut":      ptr("agentrr-"),
		"deleted":  nil,
		"newer":    ptr("agentrr-store 7\n"),
		"negative": ptr("agentrr-store -1\n"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := copyDir(t, f.dir)
			path := filepath.Join(dir, "FORMAT")
			if content == nil {
				os.Remove(path)
			} else {
				os.WriteFile(path, []byte(*content), 0o600)
			}
			before := storeHash(t, dir)
			_, err := spanlog.OpenExisting(dir)
			switch name {
			case "deleted":
				if err != nil {
					t.Errorf("store without FORMAT: %v", err)
				}
			case "newer":
				if !errors.Is(err, spanlog.ErrFutureFormat) {
					t.Errorf("%v, want ErrFutureFormat", err)
				}
			default:
				if !errors.Is(err, spanlog.ErrDamaged) || !strings.Contains(err.Error(), "FORMAT") {
					t.Errorf("%v, want ErrDamaged naming FORMAT", err)
				}
			}
			if after := storeHash(t, dir); !mapsEqual(before, after) {
				t.Error("OpenExisting changed the store")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// Every file and directory a store holds is private to its owner: Pebble's
// files included (spanlog wraps Pebble's filesystem).
func TestStoreFilesAreOwnerOnly(t *testing.T) {
	s, dir := openStore(t)
	id := newTraceID(t)
	writeRun(t, s, id, 3, true)
	open := newTraceID(t)
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: open, Name: "open", Start: time.Now().UTC(), PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := s.ReadRun(id); err != nil { // a reader creates nothing wider either
		t.Fatal(err)
	}
	var seen []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := os.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), want)
		}
		seen = append(seen, fileKind(d.Name()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(seen)
	for _, must := range []string{"FORMAT", "MANIFEST", "OPTIONS", "sealed", "writer", "wal", "marker", "index"} {
		if !slices.Contains(seen, must) {
			t.Errorf("no %s file checked (saw %v)", must, seen)
		}
	}
}

// A run that never ended reads from Pebble's write-ahead log, where a
// corrupt record looks like the torn end of the log to Pebble. A byte
// flipped anywhere but in the log's last record must read as damaged —
// never as a shorter truncated run, which would claim to be a whole prefix
// while boundaries acknowledged to the agent are gone.
func TestCorruptWriteAheadLogIsDamage(t *testing.T) {
	f := newDamageFixture(t)
	db := filepath.Join(slotOf(t, f.dir, f.killed), "db")
	logs, _ := filepath.Glob(filepath.Join(db, "*.log"))
	if len(logs) != 1 {
		t.Fatalf("want one write-ahead log in %s, found %v", db, logs)
	}
	orig, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	want := f.before[f.killed]
	counts := map[string]int{}
	// The log is a recycled one: past the records it holds, zeros (or an
	// older log's records). Flip bytes in what it holds, and a little past.
	used := len(orig)
	for used > 0 && orig[used-1] == 0 {
		used--
	}
	limit := min(len(orig), used+1024)
	// One copy of the store, its log rewritten for each flip: reading
	// changes nothing (checkDamagedRead checks that).
	dir := copyDir(t, f.dir)
	rel, _ := filepath.Rel(f.dir, logs[0])
	for off := 0; off < limit; off += 53 {
		b := slices.Clone(orig)
		b[off] ^= 0x20
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := spanlog.OpenExisting(dir)
		if err != nil {
			t.Fatal(err)
		}
		run, err := s.ReadRun(f.killed)
		switch {
		case err != nil && errors.Is(err, spanlog.ErrDamaged):
			counts["error"]++
		case err != nil:
			t.Fatalf("offset %d: %v", off, err)
		case run.Info.Status == spanlog.StatusDamaged:
			counts["damaged"]++
		case len(run.Records) == len(want.records):
			counts["unaffected"]++
		case len(run.Records) == len(want.records)-1:
			counts["last record lost (indistinguishable from a torn write)"]++
		default:
			t.Errorf("byte %d of %d flipped: reads back %s with %d of %d boundaries (%s)", off, len(orig), run.Info.Status, len(run.Records), len(want.records), run.Info.Reason)
		}
	}
	t.Logf("flipped one byte at %d offsets of the %d bytes a %d-byte log holds: %v", (limit+52)/53, used, len(orig), counts)
	if counts["damaged"] == 0 {
		t.Error("no flip was reported as damage")
	}
}

// slotOf returns the writer slot directory that run id's marker names.
func slotOf(t *testing.T, dir, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "runs", id+".live"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Slot int `json:"slot"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "writers", strconv.Itoa(m.Slot))
}
