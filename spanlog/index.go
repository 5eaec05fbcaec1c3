package spanlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/agentrr/agentrr/boundary"
)

// The run index.
//
// Listing thousands of runs must not open thousands of files, so the store
// keeps an index of its sealed runs: <store>/index, one line per change,
// appended by whoever seals, imports or removes a run. It is a cache, never
// the truth:
//
//   - a line is "P <id> <start> <size> <mtime> <ino> <crc> <json>" (the
//     run's summary, RunInfo, for a sealed file of that size, modification
//     time and inode) or "D <id> <crc>" (removed); crc is the CRC-32C of
//     the rest of the line, so a line torn by a crash is skipped;
//   - a listing trusts a line only for a sealed file that is there with that
//     size, modification time and inode; any other sealed file is read, and
//     a run in a writer slot or of format 1 is always read;
//   - a line whose file is gone (deleted behind agentrr's back) lists the run
//     as damaged, until agentrr rm or gc drops it.
//
// Appends are not synced: a line lost to a power failure only makes the
// next listing read that run's file. gc rewrites the index from the runs
// (RebuildIndex), dropping what is stale.

const (
	indexFile     = "index"
	indexLockFile = "index.lock"
	indexHeader   = "agentrr-index 1"
)

var indexCRC = crc32.MakeTable(crc32.Castagnoli)

// stamp identifies one version of a sealed file.
type stamp struct {
	size, mtime int64
	ino         uint64
}

func stampOf(fi fs.FileInfo) stamp {
	st := stamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = uint64(sys.Ino)
	}
	return st
}

// indexEntry is one run of the index, its summary decoded on demand.
type indexEntry struct {
	id    string
	start int64
	stamp stamp
	raw   []byte   // the summary, JSON
	info  *RunInfo // decoded raw, when needed
}

func (e *indexEntry) decode() (*RunInfo, error) {
	if e.info != nil {
		return e.info, nil
	}
	var info RunInfo
	if err := json.Unmarshal(e.raw, &info); err != nil {
		return nil, err
	}
	e.info = &info
	return e.info, nil
}

type index struct {
	entries map[string]*indexEntry
	lines   int // lines read, for deciding when to rewrite
}

// readIndex reads the index; a missing or unreadable one is empty.
func (s *Store) readIndex() index {
	idx := index{entries: map[string]*indexEntry{}}
	b, err := os.ReadFile(filepath.Join(s.root, indexFile))
	if err != nil {
		return idx
	}
	first := true
	for len(b) > 0 {
		line, rest, ok := bytes.Cut(b, []byte{'\n'})
		b = rest
		if !ok {
			break // torn last line
		}
		if first {
			first = false
			if string(line) == indexHeader {
				continue
			}
			return idx // not an index this build knows
		}
		idx.lines++
		parseIndexLine(line, idx.entries)
	}
	return idx
}

// parseIndexLine applies one line to entries; a damaged line is skipped.
func parseIndexLine(line []byte, entries map[string]*indexEntry) {
	fields := bytes.SplitN(line, []byte{' '}, 8)
	switch {
	case len(fields) == 3 && string(fields[0]) == "D":
		if checkCRC(fields[2], [][]byte{fields[0], fields[1]}, nil) {
			delete(entries, string(fields[1]))
		}
	case len(fields) == 8 && string(fields[0]) == "P":
		if !checkCRC(fields[6], fields[:6], fields[7]) {
			return
		}
		e := &indexEntry{id: string(fields[1]), raw: fields[7]}
		var err1, err2, err3, err4 error
		e.start, err1 = strconv.ParseInt(string(fields[2]), 10, 64)
		e.stamp.size, err2 = strconv.ParseInt(string(fields[3]), 10, 64)
		e.stamp.mtime, err3 = strconv.ParseInt(string(fields[4]), 10, 64)
		e.stamp.ino, err4 = strconv.ParseUint(string(fields[5]), 10, 64)
		if errors.Join(err1, err2, err3, err4) == nil && isTraceHex(e.id) {
			entries[e.id] = e
		}
	}
}

func lineCRC(fields [][]byte, payload []byte) uint32 {
	c := uint32(0)
	for _, f := range fields {
		c = crc32.Update(c, indexCRC, f)
		c = crc32.Update(c, indexCRC, []byte{' '})
	}
	return crc32.Update(c, indexCRC, payload)
}

func checkCRC(field []byte, fields [][]byte, payload []byte) bool {
	want, err := strconv.ParseUint(string(field), 16, 32)
	return err == nil && uint32(want) == lineCRC(fields, payload)
}

func putLine(id string, start int64, st stamp, summary []byte) []byte {
	fields := [][]byte{[]byte("P"), []byte(id), []byte(strconv.FormatInt(start, 10)),
		[]byte(strconv.FormatInt(st.size, 10)), []byte(strconv.FormatInt(st.mtime, 10)), []byte(strconv.FormatUint(st.ino, 10))}
	var b bytes.Buffer
	b.Write(bytes.Join(fields, []byte{' '}))
	fmt.Fprintf(&b, " %08x ", lineCRC(fields, summary))
	b.Write(summary)
	b.WriteByte('\n')
	return b.Bytes()
}

func delLine(id string) []byte {
	fields := [][]byte{[]byte("D"), []byte(id)}
	return fmt.Appendf(nil, "D %s %08x\n", id, lineCRC(fields, nil))
}

// indexPut records the summary of sealed run id (best effort: the index is
// a cache).
func (s *Store) indexPut(id string, info RunInfo) {
	fi, err := os.Stat(s.sealedPath(id))
	if err != nil {
		return
	}
	summary, err := json.Marshal(info)
	if err != nil {
		return
	}
	s.indexAppend(putLine(id, startKey(info.Start), stampOf(fi), summary))
}

// indexDelete records that run id is removed (best effort).
func (s *Store) indexDelete(id string) { s.indexAppend(delLine(id)) }

func (s *Store) indexAppend(line []byte) {
	unlock, err := s.lockIndex()
	if err != nil {
		return
	}
	defer unlock()
	path := filepath.Join(s.root, indexFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, filePerm)
	if err != nil {
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		line = append([]byte(indexHeader+"\n"), line...)
	}
	// Not synced: see the comment at the top of this file.
	f.Write(line)
}

// lockIndex takes the index's lock (appends and rewrites exclude each
// other), waiting for it.
func (s *Store) lockIndex() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, indexLockFile), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// startKey orders runs by start time (zero last).
func startKey(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// lostRuns returns the runs the index lists as sealed whose file is gone
// and that are nowhere else in the store.
func (s *Store) lostRuns() []string {
	idx := s.readIndex()
	var out []string
	for id := range idx.entries {
		if !fileExists(s.sealedPath(id)) && !fileExists(s.markerPath(id)) && !fileExists(s.runDir(id)) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Runs lists every run in the store, newest first. A run being recorded is
// listed with StatusRecording; a run that cannot be opened is listed as
// damaged with the reason.
//
// Sealed runs are listed from the run index when it is current for their
// file (see index.go); everything else is read.
func (s *Store) Runs() ([]RunInfo, error) { return s.RunsLimit(0) }

// RunsLimit is Runs for the newest limit runs only (0: all). Only those
// are read: with an index, listing the newest runs of a large store opens
// none of the others.
func (s *Store) RunsLimit(limit int) ([]RunInfo, error) {
	entries, err := os.ReadDir(s.runsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("agentrr store %s: %w", s.root, err)
	}
	idx := s.readIndex()
	type cand struct {
		id    string
		start int64
		entry *indexEntry // trusted index line, or nil: read the run
		info  *RunInfo    // already known
	}
	var cands []cand
	seen := map[string]bool{}
	sealed := map[string]bool{}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), sealedSuffix) {
			if id, ok := runEntryID(e); ok {
				sealed[id] = true
			}
		}
	}
	for _, e := range entries {
		id, ok := runEntryID(e)
		if !ok || seen[id] {
			continue
		}
		name := e.Name()
		switch {
		case strings.HasSuffix(name, sealedSuffix):
			seen[id] = true
			c := cand{id: id}
			if ie := idx.entries[id]; ie != nil {
				if fi, err := e.Info(); err == nil && stampOf(fi) == ie.stamp {
					c.entry, c.start = ie, ie.start
				}
			}
			if c.entry == nil {
				info := s.listInfo(id)
				c.info, c.start = &info, startKey(info.Start)
			}
			cands = append(cands, c)
		case strings.HasSuffix(name, liveSuffix):
			if sealed[id] {
				continue // sealed, and its marker not yet removed
			}
			seen[id] = true
			info := s.listInfo(id)
			cands = append(cands, cand{id: id, start: startKey(info.Start), info: &info})
		default: // a format-1 run's directory
			seen[id] = true
			info := s.listInfo(id)
			cands = append(cands, cand{id: id, start: startKey(info.Start), info: &info})
		}
	}
	for _, id := range s.orphans() {
		if !seen[id] {
			seen[id] = true
			info := s.listInfo(id)
			cands = append(cands, cand{id: id, start: startKey(info.Start), info: &info})
		}
	}
	for id, ie := range idx.entries {
		if seen[id] {
			continue
		}
		info := RunInfo{RunMeta: RunMeta{TraceID: id}, Status: StatusDamaged,
			Reason: fmt.Sprintf("its file %s is missing (the run index lists it as sealed)", s.sealedPath(id))}
		if old, err := ie.decode(); err == nil {
			info.RunMeta = old.RunMeta
		}
		cands = append(cands, cand{id: id, start: ie.start, info: &info})
	}
	// Newest first; runs without a start last, by id.
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if (a.start == 0) != (b.start == 0) {
			return b.start == 0
		}
		if a.start != b.start {
			return a.start > b.start
		}
		return a.id < b.id
	})
	if limit > 0 && len(cands) > limit {
		cands = cands[:limit]
	}
	out := make([]RunInfo, 0, len(cands))
	for _, c := range cands {
		switch {
		case c.info != nil:
			out = append(out, *c.info)
		default:
			info, err := c.entry.decode()
			if err != nil {
				out = append(out, s.listInfo(c.id))
				continue
			}
			out = append(out, *info)
		}
	}
	return out, nil
}

// Summary describes run traceID as a listing does: a sealed run from the
// run index, when the index is current for the run's file (its summary was
// taken when the run was sealed, from what was sealed), any other run as
// Info reads it. It is the cheap look before a full read: a sealed file
// damaged in place without a change of size, time or inode still reads as
// the index says; ReadRun finds the damage.
func (s *Store) Summary(traceID string) (RunInfo, error) {
	if fi, err := os.Stat(s.sealedPath(traceID)); err == nil {
		if e := s.readIndex().entries[traceID]; e != nil && e.stamp == stampOf(fi) {
			if info, err := e.decode(); err == nil {
				return *info, nil
			}
		}
	}
	return s.Info(traceID)
}

// listInfo is Info for a listing: a run that cannot be read is listed as
// recording or damaged, with the reason.
func (s *Store) listInfo(id string) RunInfo {
	info, err := s.Info(id)
	if err != nil {
		info = RunInfo{RunMeta: RunMeta{TraceID: id}, Status: StatusDamaged, Reason: err.Error()}
		var rec *RecordingError
		if errors.As(err, &rec) {
			info.Status = StatusRecording
			info.PID = rec.PID
			info.Reason = fmt.Sprintf("pid %d", rec.PID)
			if m, merr := readMarker(s.markerPath(id)); merr == nil {
				info.Name, info.Start = m.Name, m.Start
			}
		}
	}
	return info
}

// sealedInfo reads the summary of a sealed run.
func (s *Store) sealedInfo(id string) (RunInfo, error) {
	trace, err := ParseTraceID(id)
	if err != nil {
		return RunInfo{}, err
	}
	var out RunInfo
	err = s.scanSealed(id, trace, false, func(info RunInfo, _ *boundary.Record, _ []byte) { out = info })
	return out, err
}

// RebuildIndex rewrites the run index from the sealed runs of the store:
// lines still current are kept, every other sealed run is read, and lines
// of runs that are gone are dropped. agentrr gc calls it; it is also the
// repair after a crash or a power failure left the index behind the runs.
func (s *Store) RebuildIndex() error {
	unlock, err := s.lockIndex()
	if err != nil {
		return fmt.Errorf("agentrr store %s: index: %w", s.root, err)
	}
	defer unlock()
	idx := s.readIndex()
	entries, err := os.ReadDir(s.runsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("agentrr store %s: %w", s.root, err)
	}
	var buf bytes.Buffer
	buf.WriteString(indexHeader + "\n")
	w := bufio.NewWriter(&buf)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), sealedSuffix) {
			continue
		}
		id, ok := runEntryID(e)
		if !ok {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		st := stampOf(fi)
		if ie := idx.entries[id]; ie != nil && ie.stamp == st {
			w.Write(putLine(id, ie.start, st, ie.raw))
			continue
		}
		info, err := s.sealedInfo(id)
		if err != nil {
			var dmg *DamagedError
			if !errors.As(err, &dmg) {
				continue // read again next time
			}
			info = RunInfo{RunMeta: RunMeta{TraceID: id}, Status: StatusDamaged, Reason: err.Error()}
		}
		summary, err := json.Marshal(info)
		if err != nil {
			continue
		}
		w.Write(putLine(id, startKey(info.Start), st, summary))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	path := filepath.Join(s.root, indexFile)
	if err := writeFileSync(path, buf.Bytes()); err != nil {
		return fmt.Errorf("agentrr store %s: index: %w", s.root, err)
	}
	return nil
}
