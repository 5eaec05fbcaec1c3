package spanlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/agentrr/agentrr/boundary"

	"github.com/cockroachdb/pebble/v2"
)

// ErrDamaged matches, with errors.Is, every error saying that something
// stored cannot be read back whole: a run database whose files are corrupt,
// truncated or missing (*DamagedError), or a store whose FORMAT file is
// unreadable.
var ErrDamaged = boundary.ErrDamaged

// DamagedError is returned when a run cannot be opened or read because its
// files are damaged: a sealed run's file whose footer or blocks do not
// check out or that is cut short, a writer slot's database with a malformed
// or missing MANIFEST, a run's marker that does not decode, … Nothing is
// repaired: the store is left exactly as it was found. Other runs are not
// affected.
type DamagedError struct {
	// TraceID is the run that is damaged.
	TraceID string
	// Dir is the file or database directory that cannot be read.
	Dir string
	// Err is what Pebble reported.
	Err error
}

func (e *DamagedError) Error() string {
	what := "database"
	if !strings.HasSuffix(e.Dir, "db") {
		what = "file" // a sealed run's file, a run's marker
	}
	return fmt.Sprintf("run %s is damaged: its %s %s cannot be read (%s); the store was not changed, other runs are not affected (agentrr verify --all checks them; agentrr rm %s deletes this one)",
		e.TraceID, what, e.Dir, oneLine(e.Err), e.TraceID)
}

// Is makes a *DamagedError match ErrDamaged.
func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

func (e *DamagedError) Unwrap() error { return e.Err }

// storeDamaged returns an error wrapping ErrDamaged about the store itself.
func storeDamaged(format string, args ...any) error {
	return &storeDamagedError{msg: fmt.Sprintf(format, args...)}
}

type storeDamagedError struct{ msg string }

func (e *storeDamagedError) Error() string        { return e.msg }
func (e *storeDamagedError) Is(target error) bool { return target == ErrDamaged }

// oneLine keeps the first line of err's message: Pebble's errors carry
// multi-line details (and stack traces under %+v) that do not belong in a
// one-line CLI message. The message's first line already names the file
// and the fault.
func oneLine(err error) string {
	if err == nil {
		return "unknown error"
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimSpace(msg)
}

// pebbleFatal is what readerLogger.Fatalf panics with, for the read path to
// recover (see recoverDamage).
type pebbleFatal struct{ msg string }

// readerLogger is the Pebble logger of read-only opens. Pebble reports some
// corruption through Logger.Fatalf, whose contract is not to return; a
// reader must not take the process down over a damaged run (a CLI listing
// a store, a test replaying one run), so Fatalf panics with pebbleFatal,
// which the read path recovers into a *DamagedError. Errors and information
// are not printed: every error a reader meets reaches its caller.
type readerLogger struct{}

func (readerLogger) Infof(string, ...any)  {}
func (readerLogger) Errorf(string, ...any) {}
func (readerLogger) Fatalf(format string, args ...any) {
	panic(pebbleFatal{msg: fmt.Sprintf(format, args...)})
}

// readerEvents keeps Pebble from escalating a detected corruption to
// Logger.Fatalf (its default DataCorruption handler): the corruption error
// is returned by the read that met it.
func readerEvents() *pebble.EventListener {
	return &pebble.EventListener{
		DataCorruption:  func(pebble.DataCorruptionInfo) {},
		BackgroundError: func(error) {},
	}
}

// recoverDamage turns a panic raised by Pebble while reading a run (its
// Fatalf, or a panic on a corrupt input) into a *DamagedError in *errp. Use
// as `defer recoverDamage(traceID, dir, &err)`.
func recoverDamage(traceID, dir string, errp *error) {
	r := recover()
	if r == nil {
		return
	}
	var cause error
	switch v := r.(type) {
	case pebbleFatal:
		cause = errors.New(v.msg)
	case error:
		cause = fmt.Errorf("pebble panicked: %w", v)
	default:
		cause = fmt.Errorf("pebble panicked: %v", v)
	}
	*errp = &DamagedError{TraceID: traceID, Dir: dir, Err: cause}
}

// hasRunData reports whether a run's database directory holds anything a
// recorder wrote after creating the database: a data file or a non-empty
// write-ahead log (Pebble creates the log empty; its first record is the
// run header). A database Pebble cannot open that holds such
// files is damaged; one without is a run whose recorder died while creating
// it (truncated, empty).
func hasRunData(dbDir string) bool {
	entries, err := os.ReadDir(dbDir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".sst"), strings.HasSuffix(name, ".blob"):
			return true
		case strings.HasSuffix(name, ".log"):
			if fi, err := os.Stat(filepath.Join(dbDir, name)); err == nil && fi.Size() > 0 {
				return true
			}
		}
	}
	return false
}

// walMissing reports whether a run database that opened has lost its
// write-ahead log: Pebble creates the log before the OPTIONS file, so a
// database with an OPTIONS file and no log and no data file had its log
// deleted. (A run whose recorder died before the header was synced still
// has its, empty, log.)
func walMissing(dbDir string) bool { return optionsWithout(dbDir, ".log", ".sst") }

// optionsWithout reports whether the database directory dbDir holds an
// OPTIONS file and no file whose name ends in one of suffixes.
func optionsWithout(dbDir string, suffixes ...string) bool {
	entries, err := os.ReadDir(dbDir)
	if err != nil {
		return false
	}
	options := false
	for _, e := range entries {
		name := e.Name()
		for _, suffix := range suffixes {
			if strings.HasSuffix(name, suffix) {
				return false
			}
		}
		if strings.HasPrefix(name, "OPTIONS-") {
			options = true
		}
	}
	return options
}

// cutText shortens s to at most n bytes for an error message, keeping it
// valid UTF-8.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// readFailure describes an error Pebble returned while reading what: a
// corrupt file (a checksum mismatch, a file cut short or missing) says so.
func readFailure(what string, err error) string {
	if pebble.IsCorruptionError(err) {
		return fmt.Sprintf("the run's data is corrupt (reading %s: %s)", what, oneLine(err))
	}
	return fmt.Sprintf("reading %s: %s", what, oneLine(err))
}

// slotWALMissing reports whether a writer slot's database has lost its
// write-ahead log: an open slot database always has one (its spares are
// *.wal, not logs), so a slot with an OPTIONS file and no *.log lost it.
func slotWALMissing(dbDir string) bool { return optionsWithout(dbDir, ".log") }
