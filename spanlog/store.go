package spanlog

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// FormatVersion is the store format this package reads and writes.
const FormatVersion = 1

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
		return writeFileSync(path, []byte(fmt.Sprintf("agentrr-store %d\n", FormatVersion)))
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
	return nil
}

// writeFileSync writes a small file durably: temp file, fsync, rename, fsync dir.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
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

// TraceIDs returns the trace ids of every run in the store, sorted.
func (s *Store) TraceIDs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.root, "runs"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agentrr store %s: %w", s.root, err)
	}
	var ids []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := ParseTraceID(e.Name()); err == nil {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

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
func (s *Store) Remove(traceID string) error {
	if _, err := ParseTraceID(traceID); err != nil {
		return err
	}
	dir := s.runDir(traceID)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%w %s in store %s", ErrNotFound, traceID, s.root)
	}
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
	return syncDir(filepath.Join(s.root, "runs"))
}
