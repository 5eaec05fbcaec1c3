package spanlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// GCPolicy says which runs GC removes: every run not being recorded that is
// neither among the Keep newest nor younger than OlderThan. At least one of
// Keep and OlderThan must be set.
type GCPolicy struct {
	// Keep is how many of the newest runs (by start) are kept; 0 keeps none
	// on that account.
	Keep int
	// OlderThan, when not zero, keeps every run that started less than this
	// long before Now.
	OlderThan time.Duration
	// Now is the time OlderThan counts from (zero: time.Now()).
	Now time.Time
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
}

// GCResult says what GC did.
type GCResult struct {
	// Removed are the runs removed (with DryRun: that would be), newest
	// first.
	Removed []RunInfo
	// Kept counts the runs the policy keeps.
	Kept int
	// Recording are the runs being recorded, which GC never touches.
	Recording []RunInfo
	// Freed is the bytes of the files removed (with DryRun: that would be).
	Freed int64
	// Failed are runs GC chose but could not remove, with why.
	Failed map[string]error
}

// GC removes the runs the policy names, and only those: complete runs,
// truncated ones (their recorder was killed) and damaged ones, never a run
// being recorded. Before choosing, it seals the runs that recorders killed
// left in writer slots (so they are chosen like any other run); after
// removing, it rewrites the run index (RebuildIndex), deletes temporary
// files that killed writers left, and gives up idle, empty writer slots
// beyond the first. With DryRun nothing is changed at all.
func (s *Store) GC(p GCPolicy) (GCResult, error) {
	var res GCResult
	if p.Keep < 0 || p.OlderThan < 0 {
		return res, errors.New("gc: keep and older-than must not be negative")
	}
	if p.Keep == 0 && p.OlderThan == 0 {
		return res, errors.New("gc: give how many runs to keep, or how old a run must be to go (or both)")
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	if !p.DryRun {
		if err := s.upgradeFormat(); err != nil {
			return res, err
		}
		s.recoverSlots()
	}
	runs, err := s.Runs()
	if err != nil {
		return res, err
	}
	res.Failed = map[string]error{}
	kept := 0
	for _, r := range runs {
		if r.Status == StatusRecording {
			res.Recording = append(res.Recording, r)
			continue
		}
		keep := kept < p.Keep || (p.OlderThan > 0 && !r.Start.IsZero() && now.Sub(r.Start) < p.OlderThan)
		if keep {
			kept++
			continue
		}
		size := s.runSize(r.TraceID)
		if !p.DryRun {
			if err := s.Remove(r.TraceID); err != nil {
				var rec *RecordingError
				if errors.As(err, &rec) {
					r.Status, r.PID = StatusRecording, rec.PID
					res.Recording = append(res.Recording, r)
					continue
				}
				res.Failed[r.TraceID] = err
				continue
			}
		}
		res.Removed = append(res.Removed, r)
		res.Freed += size
	}
	res.Kept = kept
	if p.DryRun {
		return res, nil
	}
	s.removeStaleTemps()
	s.trimSlots()
	if err := s.RebuildIndex(); err != nil {
		return res, err
	}
	return res, nil
}

// runSize is the bytes of run id's own files.
func (s *Store) runSize(id string) int64 {
	var n int64
	for _, p := range []string{s.sealedPath(id), s.markerPath(id)} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	filepath.Walk(s.runDir(id), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// recoverSlots takes, for a moment, every writer slot whose holder died
// leaving runs in it, which seals them.
func (s *Store) recoverSlots() {
	heldSlots.mu.Lock()
	defer heldSlots.mu.Unlock()
	held := heldSlots.m[slotKey(s.root)]
	for _, n := range s.slotNumbers() {
		if held != nil && held.n == n {
			continue
		}
		if !fileExists(filepath.Join(s.slotDir(n), writerFile)) {
			continue // let go cleanly: nothing left in it
		}
		sl, err := s.openSlot(n)
		if err != nil {
			continue // held by a live process, or damaged
		}
		sl.close()
	}
}

// removeStaleTemps deletes the temporary files (a sealed file or a marker
// being written) that writers killed before renaming them left in runs/.
// Only files of dead processes, or older than a day, are deleted.
func (s *Store) removeStaleTemps() {
	entries, err := os.ReadDir(s.runsDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		i := strings.Index(name, ".tmp-")
		if i < 0 || e.IsDir() {
			continue
		}
		pidText, _, _ := strings.Cut(name[i+len(".tmp-"):], "-")
		pid, _ := strconv.Atoi(pidText)
		fi, err := e.Info()
		if err != nil {
			continue
		}
		alive := pid > 0 && (syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM))
		if !alive || time.Since(fi.ModTime()) > 24*time.Hour {
			os.Remove(filepath.Join(s.runsDir(), name))
		}
	}
}

// trimSlots removes writer slots beyond the first that no process holds and
// no run is in (slots are made when several processes record at once; one
// is enough for one at a time). The slot is renamed away while its lock is
// held, so a process taking it meanwhile gets a new one.
func (s *Store) trimSlots() {
	heldSlots.mu.Lock()
	defer heldSlots.mu.Unlock()
	held := heldSlots.m[slotKey(s.root)]
	named := s.slotsNamedByMarkers()
	for _, n := range s.slotNumbers() {
		if n == 0 || named[n] || (held != nil && held.n == n) {
			continue
		}
		dir := s.slotDir(n)
		lock, err := lockFile(filepath.Join(dir, slotLockFile), syscall.LOCK_EX)
		if err != nil {
			continue
		}
		empty := !fileExists(filepath.Join(dir, writerFile)) || s.slotEmpty(dir)
		if empty {
			trash := filepath.Join(s.root, writersDir, fmt.Sprintf(".trash-%d-%d", n, os.Getpid()))
			if os.Rename(dir, trash) == nil {
				lock.Close()
				os.RemoveAll(trash)
				continue
			}
		}
		lock.Close()
	}
}

// slotsNamedByMarkers returns the slots that markers in runs/ name.
func (s *Store) slotsNamedByMarkers() map[int]bool {
	out := map[int]bool{}
	entries, _ := os.ReadDir(s.runsDir())
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), liveSuffix); ok {
			if m, err := readMarker(s.markerPath(id)); err == nil {
				out[m.Slot] = true
			}
		}
	}
	return out
}

// slotEmpty reports whether a slot's database holds no run (read-only; the
// caller holds the slot's lock).
func (s *Store) slotEmpty(dir string) bool {
	db, err := openReadOnly(dir)
	if err != nil {
		return false
	}
	defer db.Close()
	traces, err := slotRuns(db)
	return err == nil && len(traces) == 0
}
