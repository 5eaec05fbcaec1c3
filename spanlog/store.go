package spanlog

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// FormatVersion is the store format this package writes, and the newest it
// reads.
//
//   - 1: one Pebble database per run (runs/<id>/db).
//   - 2: runs recorded into writer slots (writers/<n>/db) and sealed, when
//     they end, into one file each (runs/<id>.run); the run index. Format-1
//     runs in a format-2 store are read as before.
//
// A format-1 store becomes format 2 when a run is first recorded (or
// imported) into it; reading never changes it.
const FormatVersion = 2

const formatFile = "FORMAT"

// DefaultDir is the store directory used when none is given: .agentrr under
// the working directory.
const DefaultDir = ".agentrr"

// EnvStore names the environment variable that overrides DefaultDir.
const EnvStore = "AGENTRR_STORE"

// Errors a caller can test with errors.Is.
var (
	// ErrNoStore: the store directory does not exist.
	ErrNoStore = errors.New("no agentrr store")
	// ErrNotFound: no run matches the given trace id or prefix.
	ErrNotFound = errors.New("no such run")
	// ErrFutureFormat: the store was written by a newer agentrr.
	ErrFutureFormat = errors.New("store format is newer than this agentrr")
	// ErrRecording: the run is still being recorded by a live process.
	ErrRecording = errors.New("run is still being recorded")
	// ErrBadTraceID: a trace id (or prefix) that is not hexadecimal or has
	// the wrong length.
	ErrBadTraceID = errors.New("bad trace id")
)

// badID returns an error wrapping ErrBadTraceID with the message given.
func badID(format string, args ...any) error {
	return &badIDError{msg: fmt.Sprintf(format, args...)}
}

type badIDError struct{ msg string }

func (e *badIDError) Error() string        { return e.msg }
func (e *badIDError) Is(target error) bool { return target == ErrBadTraceID }

// AmbiguousError is returned when a trace id prefix matches several runs.
type AmbiguousError struct {
	Prefix     string
	Candidates []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("trace id prefix %q matches %d runs: %s; give more digits", e.Prefix, len(e.Candidates), strings.Join(e.Candidates, ", "))
}

// Store is an agentrr store directory. A Store is safe for concurrent use and
// holds no open database itself: run databases are opened by RunWriter (for
// the life of a recording) and briefly by readers.
type Store struct {
	root string

	formatMu sync.Mutex
	format   int // the FORMAT version read (0: no FORMAT file)

	ingestMu sync.Mutex
	ingest   *ingester // the slot Ingest writes into, once it has
}

// Dir returns the store directory to use: dir if not empty, else
// $AGENTRR_STORE, else DefaultDir.
func Dir(dir string) string {
	if dir != "" {
		return dir
	}
	if env := os.Getenv(EnvStore); env != "" {
		return env
	}
	return DefaultDir
}

// Open opens the store at root, creating it (owner-only permissions) if it
// does not exist. It fails if root is not a directory or holds a store of a
// newer format.
func Open(root string) (*Store, error) {
	if fi, err := os.Stat(root); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("%w at %s: it is a file, not a directory (point --store / %s at a directory)", ErrNoStore, root, EnvStore)
	}
	if err := os.MkdirAll(filepath.Join(root, "runs"), 0o700); err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("agentrr store %s cannot be written: %w (a store is private to the user who records into it)", root, err)
		}
		return nil, fmt.Errorf("%w at %s: %v", ErrNoStore, root, err)
	}
	s := &Store{root: root}
	if err := s.checkFormat(true); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenExisting opens the store at root for reading. It returns an error
// wrapping ErrNoStore, naming the directory it looked at, if there is none.
func OpenExisting(root string) (*Store, error) {
	fi, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s (record a run first, or point --store / %s at the store directory)", ErrNoStore, absPath(root), EnvStore)
	}
	if err != nil {
		return nil, fmt.Errorf("agentrr store %s: %w", root, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w at %s: it is a file, not a directory", ErrNoStore, root)
	}
	s := &Store{root: root}
	if err := s.checkFormat(false); err != nil {
		return nil, err
	}
	return s, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func (s *Store) checkFormat(create bool) error {
	path := filepath.Join(s.root, formatFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			if _, serr := os.Stat(filepath.Join(s.root, "runs")); serr != nil {
				return fmt.Errorf("%w at %s: the directory has no %s file and no runs/ (is it an agentrr store?)", ErrNoStore, absPath(s.root), formatFile)
			}
			return nil
		}
		return writeFormat(path)
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("agentrr store %s cannot be read: %w (a store is private to the user who recorded into it: run agentrr as that user)", s.root, err)
	}
	if err != nil {
		return fmt.Errorf("agentrr store %s: %w", s.root, err)
	}
	var v int
	if _, err := fmt.Sscanf(string(b), "agentrr-store %d", &v); err != nil {
		return storeDamaged("agentrr store %s is damaged: its %s file holds %q, not \"agentrr-store <version>\" (if this is not an agentrr store, point --store / %s elsewhere)", s.root, formatFile, cutText(strings.TrimSpace(string(b)), 40), EnvStore)
	}
	if v < 1 {
		return storeDamaged("agentrr store %s is damaged: its %s file names format %d, and formats start at 1", s.root, formatFile, v)
	}
	if v > FormatVersion {
		return fmt.Errorf("agentrr store %s: %w (store format %d, this build reads up to %d): upgrade agentrr", s.root, ErrFutureFormat, v, FormatVersion)
	}
	s.format = v
	return nil
}

func writeFormat(path string) error {
	return writeFileSync(path, []byte(fmt.Sprintf("agentrr-store %d\n", FormatVersion)))
}

// upgradeFormat marks the store format FormatVersion before anything of
// that format is written into it, so that an older agentrr refuses the
// store (saying to upgrade) instead of missing its runs.
func (s *Store) upgradeFormat() error {
	s.formatMu.Lock()
	defer s.formatMu.Unlock()
	if s.format >= FormatVersion {
		return nil
	}
	if err := s.checkFormat(false); err != nil {
		return err
	}
	if s.format >= FormatVersion {
		return nil
	}
	if err := writeFormat(filepath.Join(s.root, formatFile)); err != nil {
		return fmt.Errorf("agentrr store %s: %w", s.root, err)
	}
	s.format = FormatVersion
	return nil
}

// writeFileSync writes a small file durably: temp file, fsync, rename, fsync dir.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := writeSynced(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeSynced creates (or truncates) the file name, owner-only, writes data
// to it, fsyncs and closes it. The file stays behind on failure: the caller
// removes it.
func writeSynced(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Root returns the store directory.
func (s *Store) Root() string { return s.root }

func (s *Store) runDir(traceID string) string { return filepath.Join(s.root, "runs", traceID) }

// ParseTraceID parses a 32 hex digit trace id.
func ParseTraceID(s string) ([16]byte, error) {
	var id [16]byte
	if len(s) != 32 {
		return id, badID("trace id %q has %d characters, want 32 hex digits", s, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, badID("trace id %q is not hexadecimal", s)
	}
	if id == [16]byte{} {
		return id, badID("trace id %q is all zeros (not a valid trace id)", s)
	}
	return id, nil
}

// File names in runs/: a sealed run, a run in a writer slot.
const (
	sealedSuffix = ".run"
	liveSuffix   = ".live"
)

func (s *Store) runsDir() string             { return filepath.Join(s.root, "runs") }
func (s *Store) sealedPath(id string) string { return filepath.Join(s.root, "runs", id+sealedSuffix) }
func (s *Store) markerPath(id string) string { return filepath.Join(s.root, "runs", id+liveSuffix) }

// TraceIDs returns the trace ids of every run in the store, sorted: sealed
// runs, runs in writer slots and format-1 runs.
func (s *Store) TraceIDs() ([]string, error) {
	entries, err := os.ReadDir(s.runsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agentrr store %s: %w", s.root, err)
	}
	ids := make([]string, 0, len(entries))
	var last string
	for _, e := range entries {
		id, ok := runEntryID(e)
		// ReadDir sorts by name: a run's .live and .run are neighbours.
		if ok && id != last {
			ids = append(ids, id)
			last = id
		}
	}
	ids = append(ids, s.orphans()...)
	sort.Strings(ids)
	return slices.Compact(ids), nil
}

// runEntryID returns the run id an entry of runs/ names, if it names one.
func runEntryID(e fs.DirEntry) (string, bool) {
	name := e.Name()
	id := name
	switch {
	case e.IsDir():
	case strings.HasSuffix(name, sealedSuffix):
		id = strings.TrimSuffix(name, sealedSuffix)
	case strings.HasSuffix(name, liveSuffix):
		id = strings.TrimSuffix(name, liveSuffix)
	default:
		return "", false
	}
	if !isTraceHex(id) {
		return "", false
	}
	return id, true
}

// isTraceHex reports whether id is 32 lower-case hex digits, not all zero.
func isTraceHex(id string) bool {
	if len(id) != 32 || id == strings.Repeat("0", 32) {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func traceHex(t [16]byte) string { return hex.EncodeToString(t[:]) }

// Resolve returns the full trace id of the one run whose id starts with
// prefix (case-insensitive). It returns an error wrapping ErrNotFound when
// none does, and an *AmbiguousError when several do.
func (s *Store) Resolve(prefix string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(prefix))
	if p == "" {
		return "", badID("empty trace id: give a trace id or a unique prefix of one (see agentrr runs)")
	}
	if len(p) > 32 {
		return "", badID("trace id %q has %d characters: a trace id is 32 hex digits", prefix, len(p))
	}
	if _, err := hex.DecodeString(p + strings.Repeat("0", len(p)%2)); err != nil {
		return "", badID("trace id %q is not hexadecimal", prefix)
	}
	ids, err := s.TraceIDs()
	if err != nil {
		return "", err
	}
	var matches []string
	for _, id := range ids {
		if strings.HasPrefix(id, p) {
			matches = append(matches, id)
		}
	}
	if len(matches) == 0 {
		// A run the index lists whose file is gone is still named, so that
		// it reads as damaged (and rm can drop it) instead of vanishing.
		for _, id := range s.lostRuns() {
			if strings.HasPrefix(id, p) {
				matches = append(matches, id)
			}
		}
	}
	switch len(matches) {
	case 0:
		return "", fmt.Errorf("%w %q in store %s (list runs with: agentrr runs)", ErrNotFound, prefix, s.root)
	case 1:
		return matches[0], nil
	default:
		return "", &AmbiguousError{Prefix: prefix, Candidates: matches}
	}
}

// Remove deletes the run with the given full trace id, and only it. It fails
// with ErrRecording if the run is being recorded.
//
// A sealed run's file is deleted; a run left in a writer slot by a killed
// recorder is sealed first (the slot is taken for a moment), then deleted;
// a format-1 run's directory is deleted whole.
func (s *Store) Remove(traceID string) error {
	if _, err := ParseTraceID(traceID); err != nil {
		return err
	}
	if !fileExists(s.sealedPath(traceID)) {
		if fileExists(s.markerPath(traceID)) {
			if err := s.sealDead(traceID); err != nil {
				return err
			}
			if !fileExists(s.sealedPath(traceID)) && !fileExists(s.markerPath(traceID)) {
				return nil // in a damaged slot: its marker was all there was to delete
			}
		} else if n := s.orphanSlot(traceID); n >= 0 {
			if err := s.sealSlot(traceID, n, 0); err != nil {
				return err
			}
		}
	}
	switch {
	case fileExists(s.sealedPath(traceID)):
		// A sealed run's keys can outlive it in the slot it was recorded
		// in: their delete is not synced (see seal), and a recorder that
		// exits without closing the store loses it. Deleted from the slot
		// first, so that removing the file does not bring the stale copy
		// back as a killed recorder's run. A slot a live process holds
		// deletes them itself.
		if n := s.orphanSlot(traceID); n >= 0 {
			var rec *RecordingError
			if err := s.sealSlot(traceID, n, 0); err != nil && !errors.As(err, &rec) {
				return err
			}
		}
		// Dropped from the index first: a crash in between leaves the file,
		// which is the truth, listed.
		s.indexDelete(traceID)
		if err := os.Remove(s.sealedPath(traceID)); err != nil {
			return fmt.Errorf("remove run %s: %w", traceID, err)
		}
		os.Remove(s.markerPath(traceID))
		return syncDir(s.runsDir())
	case fileExists(s.runDir(traceID)):
		return s.removeLegacy(traceID)
	case slices.Contains(s.lostRuns(), traceID):
		s.indexDelete(traceID)
		return nil
	}
	return fmt.Errorf("%w %s in store %s", ErrNotFound, traceID, s.root)
}

// sealDead seals run id, which a marker says is in a writer slot: it fails
// with a *RecordingError when the slot's holder is alive.
func (s *Store) sealDead(id string) error {
	m, err := readMarker(s.markerPath(id))
	if err != nil {
		// A marker that names no slot: nothing can be sealed; the marker
		// itself is the run.
		os.Remove(s.markerPath(id))
		return syncDir(s.runsDir())
	}
	return s.sealSlot(id, m.Slot, m.PID)
}

// sealSlot seals run id, in writer slot n: by taking the slot for a moment
// (which seals every run its dead holder left), or, in the slot this
// process holds, at once. It fails with a *RecordingError when another
// live process holds the slot, or this one records the run.
func (s *Store) sealSlot(id string, n, pid int) error {
	if err := s.upgradeFormat(); err != nil {
		return err
	}
	heldSlots.mu.Lock()
	defer heldSlots.mu.Unlock()
	if held := heldSlots.m[slotKey(s.root)]; held != nil && held.n == n {
		if held.writers[id] {
			return &RecordingError{TraceID: id, PID: os.Getpid()}
		}
		trace, _ := ParseTraceID(id)
		_, err := held.seal(trace, nil, nil)
		return err
	}
	sl, err := s.openSlot(n)
	if errors.Is(err, errSlotBusy) {
		if errors.Is(err, errSlotDamaged) {
			// Nothing in a damaged slot is sealed: the run goes with its marker.
			os.Remove(s.markerPath(id))
			return syncDir(s.runsDir())
		}
		if p := slotPID(s.slotDir(n)); p != 0 {
			pid = p
		}
		return &RecordingError{TraceID: id, PID: pid}
	}
	if err != nil {
		return err
	}
	err = sl.sealLeftovers()
	if cerr := sl.close(); err == nil {
		err = cerr
	}
	return err
}

// removeLegacy deletes a format-1 run's directory.
func (s *Store) removeLegacy(traceID string) error {
	dir := s.runDir(traceID)
	db, err := openReader(dir)
	if err != nil {
		var rec *RecordingError
		if errors.As(err, &rec) {
			return err
		}
		// A run whose database cannot be opened is still removable.
	} else {
		db.Close()
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove run %s: %w", traceID, err)
	}
	return syncDir(s.runsDir())
}
