package spanlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Writer slots.
//
// A run is recorded into a writer slot: a Pebble database under
// writers/<n>/db that one process at a time holds (an exclusive flock on
// writers/<n>/slot.lock) for as long as it records, and that every run the
// process records shares. When the run ends it is sealed into its own file
// (runs/<id>.run, see seal.go) and deleted from the slot. So a store holds a
// few slots, one per process recording at the same time, whatever the
// number of runs, and each slot's write-ahead log is written once and then
// reused (see slotFS): syncs are fdatasyncs into written space.
//
// Readers take the slot's lock shared: while a writer holds it, the runs it
// holds read as recording (pid N); a slot no process holds (its writer was
// killed) is read directly, read-only. The next process that takes a slot
// first seals every run its last holder left in it (recoverSlot).

const (
	writersDir   = "writers"
	slotLockFile = "slot.lock"
	// slotMemTable is the memtable size of a slot database: its log rotates
	// (and a flush starts) after this much data.
	slotMemTable = 4 << 20
	// spareSize is the size of the zeroed spare log a new slot starts with:
	// the log Pebble preallocates for slotMemTable, and a little more.
	spareSize = slotMemTable + slotMemTable/8
)

// slot is a writer slot held by this process.
type slot struct {
	store *Store
	n     int
	dir   string // writers/<n>
	lock  *os.File
	db    *pebble.DB

	refs    int             // on heldSlots.mu
	writers map[string]bool // run ids with an open RunWriter, on heldSlots.mu
	idle    *time.Timer     // closes the slot once unused for slotGrace, on heldSlots.mu
	// ingested says Ingest wrote into the slot: runs may be left in it.
	ingested bool
}

// slotGrace is how long a process keeps a slot it no longer uses, so that
// the next run it records (an agent serving requests, a test recording run
// after run) does not open the slot's database again: opening costs a few
// syncs and a flush. Another process that wants to record meanwhile takes
// another slot.
const slotGrace = 2 * time.Second

// heldSlots are the slots this process holds, one per store at most.
var heldSlots = struct {
	mu sync.Mutex
	m  map[string]*slot // by absolute store root
}{m: map[string]*slot{}}

func slotKey(root string) string {
	if abs, err := filepath.Abs(root); err == nil {
		return abs
	}
	return root
}

func (s *Store) slotDir(n int) string { return filepath.Join(s.root, writersDir, strconv.Itoa(n)) }

// acquireSlot returns a slot of s held by this process, taking one if it
// holds none; release it with releaseSlot.
func (s *Store) acquireSlot() (*slot, error) {
	heldSlots.mu.Lock()
	defer heldSlots.mu.Unlock()
	key := slotKey(s.root)
	if sl := heldSlots.m[key]; sl != nil {
		if sl.refs > 0 || !sl.removed() {
			if sl.idle != nil {
				sl.idle.Stop()
				sl.idle = nil
			}
			sl.refs++
			return sl, nil
		}
		// The store was deleted (or replaced) since the slot went idle:
		// its database is gone, and writing into it would be fatal.
		// Nothing in it can be kept; a slot is taken anew.
		if sl.idle != nil {
			sl.idle.Stop()
			sl.idle = nil
		}
		delete(heldSlots.m, key)
		sl.close()
	}
	sl, err := s.takeSlot()
	if err != nil {
		return nil, err
	}
	sl.refs = 1
	heldSlots.m[key] = sl
	return sl, nil
}

// removed reports whether the slot's lock file is no longer at its path:
// the slot's directory (or the whole store) was removed or replaced while
// this process kept the slot idle.
func (sl *slot) removed() bool {
	held, err := sl.lock.Stat()
	if err != nil {
		return true
	}
	now, err := os.Stat(filepath.Join(sl.dir, slotLockFile))
	return err != nil || !os.SameFile(held, now)
}

// releaseSlot drops a reference taken by acquireSlot. When the last one
// goes the slot is kept for slotGrace, then closed (closeSlot).
func (s *Store) releaseSlot(sl *slot) error {
	heldSlots.mu.Lock()
	defer heldSlots.mu.Unlock()
	sl.refs--
	if sl.refs > 0 {
		return nil
	}
	sl.idle = time.AfterFunc(slotGrace, func() {
		heldSlots.mu.Lock()
		defer heldSlots.mu.Unlock()
		if sl.refs == 0 && heldSlots.m[slotKey(s.root)] == sl {
			s.closeSlotLocked(sl)
		}
	})
	return nil
}

// closeSlotLocked seals every run still in the slot (runs received by
// Ingest that never ended) and gives the slot up. The caller holds
// heldSlots.mu and the slot's last reference is gone.
func (s *Store) closeSlotLocked(sl *slot) error {
	if sl.idle != nil {
		sl.idle.Stop()
		sl.idle = nil
	}
	delete(heldSlots.m, slotKey(s.root))
	var err error
	if sl.ingested && fileExists(sl.dir) {
		// Runs Ingest received that never ended. (A RunWriter seals its
		// own run; a slot whose store was deleted has nothing to keep.)
		err = sl.sealLeftovers()
	}
	if cerr := sl.close(); err == nil {
		err = cerr
	}
	return err
}

// releaseIdle gives up at once the slot this process keeps in s without
// using it (see slotGrace).
func (s *Store) releaseIdle() error {
	heldSlots.mu.Lock()
	defer heldSlots.mu.Unlock()
	if sl := heldSlots.m[slotKey(s.root)]; sl != nil && sl.refs == 0 {
		return s.closeSlotLocked(sl)
	}
	return nil
}

// takeSlot takes the first free slot of the store, creating one when every
// slot is held. Readers hold a slot's lock for milliseconds, so a slot that
// is busy is tried once more before a new one is made.
func (s *Store) takeSlot() (*slot, error) {
	if err := os.MkdirAll(filepath.Join(s.root, writersDir), dirPerm); err != nil {
		return nil, fmt.Errorf("agentrr store %s: %w", s.root, err)
	}
	existing := s.slotNumbers()
	for attempt := 0; attempt < 2; attempt++ {
		for _, n := range existing {
			sl, err := s.openSlot(n)
			if err == nil {
				return sl, nil
			}
			if !errors.Is(err, errSlotBusy) {
				return nil, err
			}
		}
		if attempt == 0 && len(existing) > 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	n := 0
	if len(existing) > 0 {
		n = existing[len(existing)-1] + 1
	}
	for ; ; n++ {
		sl, err := s.openSlot(n)
		if err == nil {
			return sl, nil
		}
		if !errors.Is(err, errSlotBusy) {
			return nil, err
		}
	}
}

// slotNumbers returns the numbers of the store's slots, in order.
func (s *Store) slotNumbers() []int {
	entries, _ := os.ReadDir(filepath.Join(s.root, writersDir))
	var out []int
	for _, e := range entries {
		if n, err := strconv.Atoi(e.Name()); err == nil && n >= 0 && e.IsDir() {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

var errSlotBusy = errors.New("writer slot is held by another process")

// errSlotDamaged marks a slot whose write-ahead log is corrupt: it is left
// as it is (its runs read as damaged) and never written again.
var errSlotDamaged = errors.New("writer slot is damaged")

// openSlot takes slot n: its lock, then its database, then whatever its
// last holder left in it (recoverSlot). It returns errSlotBusy when another
// process holds the slot, or the slot cannot be used (damaged).
func (s *Store) openSlot(n int) (*slot, error) {
	dir := s.slotDir(n)
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("writer slot %s: %w", dir, err)
	}
	lock, err := lockFile(filepath.Join(dir, slotLockFile), syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	sl := &slot{store: s, n: n, dir: dir, lock: lock, writers: map[string]bool{}}
	dbDir := filepath.Join(dir, "db")
	crashed := fileExists(filepath.Join(dir, writerFile))
	fresh := !fileExists(dbDir)
	if fresh {
		if err := os.MkdirAll(dbDir, dirPerm); err != nil {
			lock.Close()
			return nil, err
		}
	} else if reason := corruptWAL(dbDir); reason != "" {
		// The runs its last holder left cannot be read whole; sealing them
		// would hide that. Readers report them damaged.
		lock.Close()
		return nil, fmt.Errorf("%w: %s: %w", errSlotBusy, dir, errSlotDamaged)
	}
	if err := topUpSpares(dbDir); err != nil {
		lock.Close()
		return nil, fmt.Errorf("writer slot %s: %w", dir, err)
	}
	// Advisory, not synced: it lets readers say "recording (pid N)", and
	// its presence at the next take tells that this holder did not let go.
	if err := os.WriteFile(filepath.Join(dir, writerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), filePerm); err != nil {
		lock.Close()
		return nil, err
	}
	db, err := openSlotDB(dbDir)
	if err != nil {
		lock.Close()
		if isLockErr(err) {
			return nil, fmt.Errorf("%w: %s", errSlotBusy, dir)
		}
		// A slot whose database does not open holds runs that cannot be
		// read: it is left as it is, for readers to report, and not used.
		return nil, fmt.Errorf("%w: %s: %w (%s)", errSlotBusy, dir, errSlotDamaged, oneLine(err))
	}
	sl.db = db
	if fresh {
		// Synced: the format of every run the slot will hold.
		if err := db.Set(versionKey(), []byte{dbFormatVersion}, pebble.Sync); err != nil {
			sl.close()
			return nil, fmt.Errorf("writer slot %s: %w", dir, err)
		}
	} else if err := sl.checkVersion(); err != nil {
		sl.close()
		return nil, err
	}
	if err := sl.recover(crashed); err != nil {
		sl.close()
		return nil, err
	}
	return sl, nil
}

// openSlotDB opens a slot's database for writing. A reader may hold it for
// a moment (a read-only open takes Pebble's lock too).
func openSlotDB(dbDir string) (*pebble.DB, error) {
	deadline := time.Now().Add(readerWait)
	backoff := time.Millisecond
	for {
		db, err := pebble.Open(dbDir, slotOptions(dbDir))
		if err == nil || !isLockErr(err) || time.Now().After(deadline) {
			return db, err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

func slotOptions(dbDir string) *pebble.Options {
	opts := pebbleOptions(false)
	fs := slotFS{ownerOnlyFS: ownerOnlyFS{storeFS.(ownerOnlyFS).FS}, dir: dbDir}
	opts.FS = fs
	opts.MemTableSize = slotMemTable
	// A slot file found corrupt or missing fails the read or write that
	// met it (a run is then sealed damaged, or a write fails the run)
	// instead of ending the process, which is Pebble's default.
	opts.EventListener = &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			fmt.Fprintf(os.Stderr, "agentrr: pebble: %s is corrupt: %v\n", info.Path, info.Details)
		},
	}
	return opts
}

func (sl *slot) checkVersion() error {
	v, closer, err := sl.db.Get(versionKey())
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("writer slot %s: %w", sl.dir, err)
	}
	defer closer.Close()
	if len(v) != 1 || v[0] < 1 {
		return fmt.Errorf("writer slot %s: unreadable format version %x: %w", sl.dir, v, errSlotDamaged)
	}
	if int(v[0]) > dbFormatVersion {
		return fmt.Errorf("writer slot %s: %w (format %d, this build writes up to %d): upgrade agentrr", sl.dir, ErrFutureFormat, v[0], dbFormatVersion)
	}
	return nil
}

func (sl *slot) close() error {
	var err error
	if sl.db != nil {
		err = sl.db.Close()
		sl.db = nil
	}
	os.Remove(filepath.Join(sl.dir, writerFile))
	sl.lock.Close()
	return err
}

// recover seals the runs the slot's last holder left in it: killed while
// recording them (they read back truncated), or while sealing them. With
// crashed set (the holder never let the slot go), markers naming this slot
// whose run never reached it are removed too: the run's StartRun never
// returned.
func (sl *slot) recover(crashed bool) error {
	if err := sl.sealLeftovers(); err != nil {
		return err
	}
	if !crashed {
		return nil
	}
	// The sealed files its runs were being written to, half done.
	sl.store.removeStaleTemps()
	entries, err := os.ReadDir(sl.store.runsDir())
	if err != nil {
		return nil
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), liveSuffix)
		if !ok {
			continue
		}
		m, err := readMarker(sl.store.markerPath(id))
		if err != nil || m.Slot != sl.n {
			continue
		}
		if fileExists(sl.store.sealedPath(id)) {
			os.Remove(sl.store.markerPath(id))
			continue
		}
		trace, err := ParseTraceID(id)
		if err != nil {
			continue
		}
		if !sl.holds(trace) {
			os.Remove(sl.store.markerPath(id))
		}
	}
	return nil
}

// holds reports whether the slot's database has any key of run trace.
func (sl *slot) holds(trace [16]byte) bool {
	for _, p := range [][]byte{headerKey(trace), endKey(trace), boundaryPrefix(trace, "")} {
		it, err := sl.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixUpperBound(p)})
		if err != nil {
			return true
		}
		found := it.First()
		it.Close()
		if found {
			return true
		}
	}
	return false
}

// sealLeftovers seals every run in the slot that has no open writer.
func (sl *slot) sealLeftovers() error {
	traces, err := slotRuns(sl.db)
	if err != nil {
		return fmt.Errorf("writer slot %s: %w", sl.dir, err)
	}
	for _, trace := range traces {
		id := traceHex(trace)
		if sl.writers[id] {
			continue
		}
		if _, err := sl.seal(trace, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// slotRuns lists the runs a slot database holds keys of.
func slotRuns(db interface {
	NewIter(*pebble.IterOptions) (*pebble.Iterator, error)
}) ([][16]byte, error) {
	seen := map[[16]byte]bool{}
	var out [][16]byte
	for _, prefix := range []byte{prefixBoundary, prefixEnd, prefixHeader} {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
		if err != nil {
			return nil, err
		}
		for valid := it.First(); valid; {
			k := it.Key()
			if len(k) < 17 {
				valid = it.Next()
				continue
			}
			var trace [16]byte
			copy(trace[:], k[1:17])
			if !seen[trace] {
				seen[trace] = true
				out = append(out, trace)
			}
			next := append([]byte{prefix}, trace[:]...)
			valid = it.SeekGE(prefixUpperBound(next))
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lockFile opens path and flocks it (LOCK_EX or LOCK_SH), without waiting.
// It returns errSlotBusy when another holder's lock is in the way.
//
// A shared lock (a reader's) opens the file read-only and never creates
// it: a slot without one has no writer.
func lockFile(path string, how int) (*os.File, error) {
	var f *os.File
	var err error
	if how == syscall.LOCK_SH {
		f, err = os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	} else {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, filePerm)
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
			return nil, errSlotBusy
		}
		return nil, err
	}
	return f, nil
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// slotPID returns the pid in a slot's writer file, 0 when there is none.
func slotPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, writerFile))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
