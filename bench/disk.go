package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// diskInfo describes the file system and device dir is on.
func diskInfo(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "unknown"
	}
	var dev, mnt, fstype string
	if f, err := os.Open("/proc/mounts"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			m := fields[1]
			if (abs == m || strings.HasPrefix(abs, strings.TrimSuffix(m, "/")+"/")) && len(m) >= len(mnt) {
				dev, mnt, fstype = fields[0], m, fields[2]
			}
		}
		f.Close()
	}
	desc := fmt.Sprintf("%s on %s (%s, mounted at %s)", abs, dev, fstype, mnt)
	if strings.HasPrefix(dev, "/dev/") {
		name := strings.TrimPrefix(dev, "/dev/")
		if b, err := os.ReadFile("/sys/block/" + name + "/queue/rotational"); err == nil {
			desc += fmt.Sprintf("; /sys/block/%s rotational=%s", name, strings.TrimSpace(string(b)))
		}
	}
	if fstype == "tmpfs" {
		desc += " — WARNING: tmpfs, fsync costs nothing here; use -dir on a real disk"
	}
	return desc
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// record1K is a 1 KB JSON line, the size of one event of the original
// Python tool's JSONL log.
var record1K = func() []byte {
	b := []byte(`{"kind":"tool","seq":0,"name":"search","payload":"`)
	for len(b) < 1024-3 {
		b = append(b, "the parcel arrived damaged "...)
	}
	b = append(b[:1024-3], `"}`...)
	return append(b, '\n')
}()

// contender is one of the per-boundary costs measured side by side: open
// prepares it and returns the operation to time.
type contender struct {
	id, what string
	open     func(n int) (op func(i int) error, close func() error, err error)
}

// interleave runs n operations of every contender, round-robin in chunks
// of chunk operations, so that they share the disk's and the machine's
// load alike; it returns µs per operation for each.
func interleave(n, chunk int, cs []contender) (map[string]float64, error) {
	ops := make([]func(int) error, len(cs))
	spent := make([]time.Duration, len(cs))
	for i, c := range cs {
		op, closeFn, err := c.open(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.id, err)
		}
		defer closeFn()
		ops[i] = op
	}
	for off := 0; off < n; off += chunk {
		for i, op := range ops {
			start := time.Now()
			for j := off; j < min(off+chunk, n); j++ {
				if err := op(j); err != nil {
					return nil, fmt.Errorf("%s: %w", cs[i].id, err)
				}
			}
			spent[i] += time.Since(start)
		}
	}
	out := map[string]float64{}
	for i, c := range cs {
		out[c.id] = float64(spent[i].Nanoseconds()) / 1e3 / float64(n)
	}
	return out, nil
}

// appendFsync is B0a: append a 1 KB record and fsync it.
func appendFsync(dir string) contender {
	return contender{"B0a", "append 1 KB + fsync (JSONL + fsync per event)", func(int) (func(int) error, func() error, error) {
		f, err := os.OpenFile(filepath.Join(dir, "b0a.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, nil, err
		}
		return func(int) error {
			if _, err := f.Write(record1K); err != nil {
				return err
			}
			return f.Sync()
		}, f.Close, nil
	}}
}

// preallocFdatasync is B0b (written: the file's blocks were written with
// zeros and synced beforehand, so fdatasync has no metadata to write: the
// physical floor) and B0c (the blocks reserved with fallocate only: ext4
// still converts unwritten extents, a metadata change, on each sync).
func preallocFdatasync(dir string, written bool) contender {
	id, what := "B0c", "pwrite 1 KB + fdatasync into a fallocate'd file"
	if written {
		id, what = "B0b", "pwrite 1 KB + fdatasync into a pre-written file (floor)"
	}
	return contender{id, what, func(n int) (func(int) error, func() error, error) {
		f, err := os.OpenFile(filepath.Join(dir, id+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, nil, err
		}
		size := int64(n * len(record1K))
		if written {
			_, err = f.Write(make([]byte, size))
		} else {
			err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
		}
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		return func(i int) error {
			if _, err := f.WriteAt(record1K, int64(i*len(record1K))); err != nil {
				return err
			}
			return syscall.Fdatasync(int(f.Fd()))
		}, f.Close, nil
	}}
}

// pebbleSet is B1a: a bare Pebble synced Set of a 1 KB value (B1c: of
// value, the bytes agentrr stores for a boundary).
func pebbleSet(dir string, value []byte) contender {
	id, what := "B1a", "bare Pebble synced Set, 1 KB, 1 goroutine"
	if value != nil {
		id, what = "B1c", fmt.Sprintf("bare Pebble synced Set of the %d B a 1 KB boundary is stored as", len(value))
	} else {
		value = record1K
	}
	return contender{id, what, func(int) (func(int) error, func() error, error) {
		os.RemoveAll(dir)
		db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
		if err != nil {
			return nil, nil, err
		}
		key := make([]byte, 9)
		return func(i int) error {
				key[0] = 'b'
				for j := range 8 {
					key[1+j] = byte(i >> (56 - 8*j))
				}
				return db.Set(key, value, pebble.Sync)
			}, func() error {
				err := db.Close()
				os.RemoveAll(dir)
				return err
			}, nil
	}}
}

type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
	os.Exit(70)
}

// pebbleSets is B1b: bare Pebble synced Sets of 1 KB values, total from
// conc goroutines; it returns µs per Set and Sets per second.
func pebbleSets(dir string, total, conc int) (usPer, perSec float64, err error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{}})
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	defer db.Close()
	us, err := perOp(1, func(int) error {
		return inParallel(conc, func(g int) error {
			key := make([]byte, 9)
			for i := g; i < total; i += conc {
				key[0] = 'b'
				for j := range 8 {
					key[1+j] = byte(i >> (56 - 8*j))
				}
				if err := db.Set(key, record1K, pebble.Sync); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, 0, err
	}
	return us / float64(total), float64(total) / (us / 1e6), nil
}

// runFiles is what a run directory holds on disk, by kind of file.
type runFiles struct {
	apparent, allocated int64 // every file: lengths, allocated blocks
	sst                 int64 // sstables (compressed)
	liveWAL             int64 // the newest write-ahead log
	oldWAL, oldWALAlloc int64 // older logs, obsolete once flushed, kept by Pebble for recycling
}

// kept is the bytes of every file but the logs kept only for recycling.
func (f runFiles) kept() int64 { return f.apparent - f.oldWAL }

// dirSize measures the files under dir.
func dirSize(dir string) (runFiles, error) {
	var rf runFiles
	var logs []struct {
		name       string
		size, allc int64
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		var allc int64
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			allc = st.Blocks * 512
		}
		rf.apparent += info.Size()
		rf.allocated += allc
		switch filepath.Ext(path) {
		case ".sst":
			rf.sst += info.Size()
		case ".log":
			logs = append(logs, struct {
				name       string
				size, allc int64
			}{d.Name(), info.Size(), allc})
		}
		return nil
	})
	// Pebble numbers its files in creation order: the newest log is live.
	newest := ""
	for _, l := range logs {
		newest = max(newest, l.name)
	}
	for _, l := range logs {
		if l.name == newest {
			rf.liveWAL += l.size
		} else {
			rf.oldWAL += l.size
			rf.oldWALAlloc += l.allc
		}
	}
	return rf, err
}
