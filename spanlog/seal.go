package spanlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Sealed runs.
//
// A run that ended (or was closed, or whose recorder was killed) is sealed
// into its own immutable file, runs/<id>.run: a standalone Pebble sstable
// holding the run's keys exactly as they were in its slot (see keys.go),
// plus the format version. Its blocks are Snappy-compressed and checksummed
// (CRC-32C), and its footer is checksummed too, so a flipped byte or a file
// cut short is detected by any read; it is read without opening a database
// (pebble.NewExternalIter). It is written to a temporary file, synced, and
// renamed into place, so it is there whole or not at all.

// sealBlockSize is the data block size of sealed files. A run is read
// front to back, so larger blocks cost nothing and compress better.
const sealBlockSize = 32 << 10

// marker is the content of runs/<id>.live: the run is in writer slot Slot.
// Name and Start let a listing show a run being recorded.
type marker struct {
	Slot  int       `json:"slot"`
	PID   int       `json:"pid"`
	Name  string    `json:"name,omitempty"`
	Start time.Time `json:"start"`
}

func readMarker(path string) (marker, error) {
	var m marker
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("run marker %s does not decode: %w", path, err)
	}
	if m.Slot < 0 {
		return m, fmt.Errorf("run marker %s names slot %d", path, m.Slot)
	}
	return m, nil
}

// writeMarker creates runs/<id>.live, synced, and fails with ErrRunExists
// if it is there already (of two processes creating one run id, one wins).
func (s *Store) writeMarker(id string, m marker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	path := s.markerPath(id)
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := writeSynced(tmp, b); err != nil {
		os.Remove(tmp)
		return err
	}
	// A hard link fails when the name exists: the marker appears whole,
	// and only once.
	err = os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) {
		err = fmt.Errorf("%w: run %s in store %s", ErrRunExists, id, s.root)
	}
	os.Remove(tmp)
	if err != nil {
		return err
	}
	return syncDir(s.runsDir())
}

// seal writes run trace from the slot's database into its sealed file and
// deletes it from the slot. end, when not nil, is the run's end record
// (Finish): written into the sealed file only, which is synced. Without it
// the end record the slot holds, if any, is kept. z, when not nil, is the
// sealed file its RunWriter wrote as it went (see sealer): it is finished
// instead of reading the run back. A run whose sealed file exists already
// (its last sealer was killed after the rename) is only deleted from the
// slot. The run's summary goes into the index.
func (sl *slot) seal(trace [16]byte, end *RunEnd, z *sealer) (RunInfo, error) {
	s := sl.store
	id := traceHex(trace)
	path := s.sealedPath(id)
	var info RunInfo
	switch {
	case fileExists(path):
		z.abort()
		var err error
		if info, err = s.sealedInfo(id); err != nil {
			info = RunInfo{RunMeta: RunMeta{TraceID: id}, Status: StatusDamaged, Reason: err.Error()}
		}
	case z != nil && z.err == nil:
		var err error
		if info, err = z.finish(trace, end, path); err != nil {
			return info, err
		}
	default:
		z.abort()
		var err error
		if info, err = sl.writeSealed(trace, end, path); err != nil {
			return info, err
		}
	}
	s.indexPut(id, info)
	os.Remove(s.markerPath(id))
	b := sl.db.NewBatch()
	defer b.Close()
	prefix := boundaryPrefix(trace, "")
	b.DeleteRange(prefix, prefixUpperBound(prefix), nil)
	b.Delete(headerKey(trace), nil)
	b.Delete(endKey(trace), nil)
	// NoSync: the sealed file is durable; should this delete be lost, the
	// next holder of the slot finds the run sealed and deletes it again.
	if err := sl.db.Apply(b, pebble.NoSync); err != nil {
		return info, fmt.Errorf("seal run %s: delete it from %s: %w", id, sl.dir, err)
	}
	return info, nil
}

// writeSealed writes the sealed file of run trace at path and returns the
// run's summary (its structure as the copy saw it).
func (sl *slot) writeSealed(trace [16]byte, end *RunEnd, path string) (RunInfo, error) {
	id := traceHex(trace)
	info := RunInfo{RunMeta: RunMeta{TraceID: id}, Status: StatusComplete}
	damaged := func(format string, args ...any) {
		if info.Status != StatusDamaged {
			info.Status, info.Reason = StatusDamaged, fmt.Sprintf(format, args...)
		}
	}
	get := dbSource{sl.db}.get
	hdr, hdrFound, err := get(headerKey(trace))
	if err != nil {
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}
	var endVal []byte
	if end != nil {
		if endVal, err = json.Marshal(end); err != nil {
			return info, err
		}
	} else if endVal, _, err = get(endKey(trace)); err != nil {
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}

	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	w, err := createSealed(tmp)
	if err != nil {
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}
	fail := func(err error) (RunInfo, error) {
		w.Close()
		os.Remove(tmp)
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}
	// Keys in order: boundaries ('b'), end ('e'), header ('h'), version ('v').
	prefix := boundaryPrefix(trace, "")
	it, err := sl.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixUpperBound(prefix)})
	if err != nil {
		return fail(err)
	}
	var n int64
	for valid := it.First(); valid; valid = it.Next() {
		seq, err := parseBoundaryKey(prefix, it.Key())
		if err != nil {
			damaged("%v", err)
		} else if seq != n {
			damaged("hole in the sequence: seq %d missing (next stored is %d)", n, seq)
		}
		val, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fail(err)
		}
		if err := w.Set(it.Key(), val); err != nil {
			it.Close()
			return fail(err)
		}
		n++
	}
	if err := it.Close(); err != nil {
		return fail(err)
	}
	info.Boundaries = n
	if endVal != nil {
		if err := w.Set(endKey(trace), endVal); err != nil {
			return fail(err)
		}
		var e RunEnd
		if err := json.Unmarshal(endVal, &e); err != nil {
			damaged("run end record does not decode: %v", err)
		} else {
			info.Ended = &e
		}
	}
	if hdrFound {
		if err := w.Set(headerKey(trace), hdr); err != nil {
			return fail(err)
		}
		if err := json.Unmarshal(hdr, &info.RunMeta); err != nil {
			damaged("run header does not decode: %v", err)
		}
		info.TraceID = id
	}
	if err := w.Set(versionKey(), []byte{dbFormatVersion}); err != nil {
		return fail(err)
	}
	// Close writes the footer and syncs the file.
	if err := w.Close(); err != nil {
		os.Remove(tmp)
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}
	switch {
	case info.Status == StatusDamaged:
	case !hdrFound && (n > 0 || info.Ended != nil):
		damaged("the run header is missing, yet %d boundaries are stored (and the end record: %t)", n, info.Ended != nil)
	case !hdrFound:
		info.Status, info.Reason = StatusTruncated, "no run header (the recorder stopped while creating the run)"
	case info.Ended == nil:
		info.Status, info.Reason = StatusTruncated, fmt.Sprintf("run did not end: %d boundaries stored (the recorder was killed or exited without ending the run)", n)
	case info.Ended.Boundaries != n:
		damaged("run end says %d boundaries, %d stored", info.Ended.Boundaries, n)
	}
	return info, nil
}

// A sealer writes a run's sealed file while the run is recorded: each
// boundary is added as it enters the slot's log, in seq order (a sealed
// file is a sorted table, and the seq order is the key order), to a
// temporary file that is not synced. Finish adds the end record, the
// header and the version, syncs and renames it: sealing then costs no
// read of the run back from the slot. Should anything fail, the run is
// sealed from the slot instead (writeSealed); should the process die, the
// temporary file is left for gc and the run for the slot's next holder.
type sealer struct {
	tmp string
	w   *sstable.Writer
	hdr []byte
	n   int64 // boundaries added
	err error
}

func newSealer(path string, hdr []byte) *sealer {
	z := &sealer{tmp: path + ".tmp-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36), hdr: hdr}
	z.w, z.err = createSealed(z.tmp)
	return z
}

// createSealed creates the file path and returns a writer of a sealed run
// file on it, with the table format, compression and block size of every
// sealed file.
func createSealed(path string) (*sstable.Writer, error) {
	f, err := storeFS.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, err
	}
	return sstable.NewWriter(objstorageprovider.NewFileWritable(f), sstable.WriterOptions{
		TableFormat: pebbleFormat.MaxTableFormat(),
		Compression: sstable.SnappyCompression,
		BlockSize:   sealBlockSize,
	}), nil
}

// add adds boundary key (of seq n, the next) with value val.
func (z *sealer) add(key, val []byte) {
	if z == nil || z.err != nil {
		return
	}
	if err := z.w.Set(key, val); err != nil {
		z.err = err
		return
	}
	z.n++
}

// abort drops the temporary file.
func (z *sealer) abort() {
	if z == nil || z.w == nil {
		return
	}
	z.w.Close()
	z.w = nil
	os.Remove(z.tmp)
}

// finish completes the sealed file at path and returns the run's summary.
func (z *sealer) finish(trace [16]byte, end *RunEnd, path string) (RunInfo, error) {
	id := traceHex(trace)
	info := RunInfo{RunMeta: RunMeta{TraceID: id}, Status: StatusComplete, Boundaries: z.n}
	fail := func(err error) (RunInfo, error) {
		z.abort()
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}
	if end != nil {
		v, err := json.Marshal(end)
		if err != nil {
			return fail(err)
		}
		if err := z.w.Set(endKey(trace), v); err != nil {
			return fail(err)
		}
		e := *end
		info.Ended = &e
	}
	if err := z.w.Set(headerKey(trace), z.hdr); err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(z.hdr, &info.RunMeta); err != nil {
		return fail(err)
	}
	info.TraceID = id
	if err := z.w.Set(versionKey(), []byte{dbFormatVersion}); err != nil {
		return fail(err)
	}
	// Close writes the footer and syncs the file.
	err := z.w.Close()
	z.w = nil
	if err != nil {
		os.Remove(z.tmp)
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}
	if err := os.Rename(z.tmp, path); err != nil {
		os.Remove(z.tmp)
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return info, fmt.Errorf("seal run %s: %w", id, err)
	}
	switch {
	case info.Ended == nil:
		info.Status, info.Reason = StatusTruncated, fmt.Sprintf("run did not end: %d boundaries stored (the recorder was killed or exited without ending the run)", z.n)
	case info.Ended.Boundaries != z.n:
		info.Status, info.Reason = StatusDamaged, fmt.Sprintf("run end says %d boundaries, %d stored", info.Ended.Boundaries, z.n)
	}
	return info, nil
}

// sealedSource reads one sealed file.
type sealedSource struct {
	f  vfs.File
	it *pebble.Iterator
}

// openSealed opens the sealed file at path. Errors that mean the file is
// not whole (a footer or block that does not check out, a file cut short)
// come back as they are, for the caller to report as damage.
func openSealed(path string) (src *sealedSource, err error) {
	f, err := storeFS.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			f.Close()
			panic(r)
		}
	}()
	it, err := pebble.NewExternalIter(sealedReadOptions(), &pebble.IterOptions{}, [][]sstable.ReadableFile{{f}})
	if err != nil {
		f.Close()
		return nil, err
	}
	return &sealedSource{f: f, it: it}, nil
}

func sealedReadOptions() *pebble.Options {
	opts := &pebble.Options{
		Logger:        readerLogger{},
		EventListener: readerEvents(),
	}
	opts.EnsureDefaults()
	return opts
}

func (src *sealedSource) close() error {
	// The iterator closes the file.
	return src.it.Close()
}

// get returns a copy of the value of key, and whether the file has it.
func (src *sealedSource) get(key []byte) ([]byte, bool, error) {
	if !src.it.SeekGE(key) {
		return nil, false, src.it.Error()
	}
	if string(src.it.Key()) != string(key) {
		return nil, false, nil
	}
	v, err := src.it.ValueAndErr()
	if err != nil {
		return nil, false, err
	}
	return append([]byte(nil), v...), true, nil
}

func (src *sealedSource) each(lower, upper []byte, fn func(key []byte, value func() ([]byte, error)) bool) error {
	src.it.SetBounds(lower, upper)
	defer src.it.SetBounds(nil, nil)
	for valid := src.it.First(); valid; valid = src.it.Next() {
		if !fn(src.it.Key(), src.it.ValueAndErr) {
			break
		}
	}
	return src.it.Error()
}
