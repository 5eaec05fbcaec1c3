package spanlog

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Store files hold the full requests and responses of agent runs (prompts,
// tool results, anything the agent read), so they are private to the user
// who records: directories 0700, files 0600. Pebble's default filesystem
// creates its files 0666 (less the umask); ownerOnlyFS narrows every file
// Pebble creates to 0600 right after creating it. The run directory around
// them is already 0700, so nobody else can reach a file in the moment before.
const (
	dirPerm  os.FileMode = 0o700
	filePerm os.FileMode = 0o600
)

// ownerOnlyFS is a vfs.FS that creates files and directories with owner-only
// permissions; everything else is the wrapped filesystem's.
type ownerOnlyFS struct {
	vfs.FS
}

var _ vfs.FS = ownerOnlyFS{}

// storeFS is the filesystem every Pebble database of a store is opened with.
var storeFS vfs.FS = ownerOnlyFS{vfs.Default}

// restrict narrows the permissions of a file just created. A failure is
// returned with the file closed: a store file others could read is not
// written to.
func restrict(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	if cerr := os.Chmod(name, filePerm); cerr != nil {
		f.Close()
		return nil, cerr
	}
	return f, nil
}

func (fs ownerOnlyFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return restrict(name, f, err)
}

func (fs ownerOnlyFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, category, opts...)
	return restrict(name, f, err)
}

func (fs ownerOnlyFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return restrict(newname, f, err)
}

func (fs ownerOnlyFS) MkdirAll(dir string, _ os.FileMode) error {
	return fs.FS.MkdirAll(dir, dirPerm)
}

// Lock creates the lock file (empty, but owner-only like the rest).
func (fs ownerOnlyFS) Lock(name string) (io.Closer, error) {
	c, err := fs.FS.Lock(name)
	if err != nil {
		return c, err
	}
	if fi, serr := os.Stat(name); serr == nil && fi.Mode().Perm() != filePerm {
		// Best effort: a read-only reader may not own the lock file.
		_ = os.Chmod(name, filePerm)
	}
	return c, nil
}

// Unwrap returns the wrapped filesystem.
func (fs ownerOnlyFS) Unwrap() vfs.FS { return fs.FS }

// A writer slot's database is opened again by every process that takes the
// slot, and Pebble starts a new write-ahead log at every open: a new file,
// whose first writes extend it into space that was never written, so that
// every fdatasync must also commit the file system's metadata for the new
// blocks. A log that was written once does not cost that: its blocks are
// allocated and initialised, and a sync writes data alone (bench rows B0b
// vs B0a). So a slot keeps the logs Pebble is done with as spares
// (slotCleaner) and hands one to Pebble in place of every new log
// (slotFS.Create), exactly as Pebble itself recycles logs while it runs
// (FS.ReuseForWrite): a recycled log holds records of an older log number
// after the new ones, which Pebble's log reader (and walCorruption) reads as
// the log's end. A new slot starts with one spare written with zeros.

const (
	// spareSuffix names a spare write-ahead log in a slot's database
	// directory: spare-<n>.wal. Pebble ignores files it does not know.
	spareSuffix = ".wal"
	// minSpares is how many spares a slot has when a process takes it: the
	// open takes one for its new log before it lets the old one go (which
	// then becomes a spare), and a log rotation while the process records
	// takes another.
	minSpares = 2
	// maxSpares bounds the spares a slot keeps.
	maxSpares = 3
)

// slotFS is the filesystem of a writer slot's database: owner-only, and
// every new write-ahead log is a spare one when there is one.
type slotFS struct {
	ownerOnlyFS
	dir string // the database directory
}

var _ vfs.FS = slotFS{}

func (fs slotFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	if strings.HasSuffix(name, ".log") && filepath.Dir(name) == fs.dir {
		if spare := fs.spare(); spare != "" {
			if f, err := fs.ownerOnlyFS.ReuseForWrite(spare, name, category); err == nil {
				return f, nil
			}
		}
	}
	return fs.ownerOnlyFS.Create(name, category)
}

// spare returns the path of a spare log, "" when there is none.
func (fs slotFS) spare() string {
	entries, err := os.ReadDir(fs.dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "spare-") && strings.HasSuffix(e.Name(), spareSuffix) {
			return filepath.Join(fs.dir, e.Name())
		}
	}
	return ""
}

func (fs slotFS) spares() int {
	entries, _ := os.ReadDir(fs.dir)
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "spare-") && strings.HasSuffix(e.Name(), spareSuffix) {
			n++
		}
	}
	return n
}

// Remove keeps an obsolete write-ahead log of the slot's database as a
// spare (up to maxSpares) instead of deleting it; everything else is
// deleted. (Pebble deletes obsolete files through its Cleaner, which calls
// the filesystem's Remove.)
//
// Only a log that was written whole is kept: one that Pebble created (not
// a spare) was preallocated, and its blocks past what it holds were never
// written.
func (fs slotFS) Remove(name string) error {
	if fi, err := os.Stat(name); err == nil && fi.Size() >= spareSize &&
		strings.HasSuffix(name, ".log") && filepath.Dir(name) == fs.dir && fs.spares() < maxSpares {
		spare := filepath.Join(fs.dir, "spare-"+strings.TrimSuffix(filepath.Base(name), ".log")+spareSuffix)
		if err := os.Rename(name, spare); err == nil {
			return nil
		}
	}
	return fs.ownerOnlyFS.Remove(name)
}

// topUpSpares writes spare logs of spareSize zero bytes into the database
// directory dir, synced, until it has minSpares: the logs of the next opens
// are then written space. It runs when a process takes a slot, never while
// a log is being written.
func topUpSpares(dir string) error {
	fs := slotFS{dir: dir}
	for k := fs.spares(); k < minSpares; k++ {
		if err := writeSpare(dir, spareSize, k); err != nil {
			return err
		}
	}
	return nil
}

func writeSpare(dir string, size, k int) error {
	tmp := filepath.Join(dir, "spare-new.tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return err
	}
	zero := make([]byte, 256<<10)
	for left := size; left > 0; left -= len(zero) {
		if _, err := f.Write(zero[:min(left, len(zero))]); err != nil {
			f.Close()
			os.Remove(tmp)
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	name := "spare-new-" + strconv.Itoa(k) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + spareSuffix
	return os.Rename(tmp, filepath.Join(dir, name))
}
