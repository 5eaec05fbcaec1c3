package spanlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// pebbleFormat pins the Pebble on-disk format. FormatNewest would ratchet
// with every Pebble release; a pinned version keeps stores readable by the
// agentrr builds that wrote them.
const pebbleFormat = pebble.FormatValueSeparation

const writerFile = "writer"

// RecordingError is returned when a run's database is held by the live
// process that is recording it.
type RecordingError struct {
	TraceID string
	PID     int
}

func (e *RecordingError) Error() string {
	return fmt.Sprintf("run %s is being recorded (pid %d): wait for it to finish", e.TraceID, e.PID)
}

func (e *RecordingError) Is(target error) bool { return target == ErrRecording }

// quietLogger keeps Pebble from printing on every open. Errors still reach
// stderr; Fatalf keeps Pebble's contract of not returning.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "agentrr: pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "agentrr: pebble: fatal: "+format+"\n", args...)
	os.Exit(70)
}

func pebbleOptions(readOnly bool) *pebble.Options {
	opts := &pebble.Options{
		FormatMajorVersion: pebbleFormat,
		Logger:             quietLogger{},
		ReadOnly:           readOnly,
		FS:                 storeFS, // files 0600, directories 0700
	}
	if readOnly {
		// Readers open one run at a time and read it once, front to back.
		opts.CacheSize = 1 << 20
		// A reader meeting a damaged run reports it and carries on (see
		// readerLogger); no background work that could meet it elsewhere.
		opts.Logger = readerLogger{}
		opts.EventListener = readerEvents()
		opts.DisableTableStats = true
	}
	return opts
}

// readerWait bounds how long a reader waits for another reader to release a
// run database (readers hold it for milliseconds).
const readerWait = 5 * time.Second

// openReader opens the database dir/db read-only: a finished format-1 run's,
// or a writer slot's that no process holds. A database held by a live
// recorder (its pid in dir/writer) yields *RecordingError at once; one
// briefly held by another reader is waited for.
func openReader(dir string) (*pebble.DB, error) {
	deadline := time.Now().Add(readerWait)
	backoff := time.Millisecond
	dbDir := filepath.Join(dir, "db")
	for {
		db, err := openReadOnly(dir)
		if err == nil {
			return db, nil
		}
		if !isLockErr(err) {
			// A recorder killed before Pebble created db/ leaves a run
			// directory without a database: a truncated, empty run. A
			// database that cannot be opened although it holds what a
			// recorder wrote is damaged.
			_, serr := os.Stat(dbDir)
			if errors.Is(serr, fs.ErrNotExist) || !hasRunData(dbDir) {
				return nil, errNoDatabase
			}
			var dmg *DamagedError
			if errors.As(err, &dmg) {
				return nil, err
			}
			if errors.Is(err, fs.ErrPermission) {
				return nil, fmt.Errorf("run database %s: %w", dbDir, err)
			}
			return nil, &DamagedError{TraceID: filepath.Base(dir), Dir: dbDir, Err: err}
		}
		if pid, ok := liveWriter(dir); ok {
			return nil, &RecordingError{TraceID: filepath.Base(dir), PID: pid}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("run database %s is locked by another process that is not its recorder; try again", dir)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// openReadOnly opens the run database in dir read-only; a panic in Pebble
// (on a corrupt file) is returned as a *DamagedError.
func openReadOnly(dir string) (db *pebble.DB, err error) {
	dbDir := filepath.Join(dir, "db")
	defer recoverDamage(filepath.Base(dir), dbDir, &err)
	return pebble.Open(dbDir, pebbleOptions(true))
}

var errNoDatabase = errors.New("the run has no database yet (its recorder stopped while creating it)")

func isLockErr(err error) bool {
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "resource temporarily unavailable") || strings.Contains(msg, "lock held")
}

// liveWriter returns the pid in the run's writer file if that process is alive.
func liveWriter(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, writerFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, false
	}
	return pid, true
}
