package spanlog

import (
	"io"
	"os"

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
