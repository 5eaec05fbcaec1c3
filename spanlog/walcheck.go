package spanlog

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A run that never ended lives in Pebble's write-ahead log. When Pebble
// replays a log and meets a chunk that is not valid, it cannot always tell
// a write torn by a crash (the end of the log) from a corrupt byte in the
// middle: it looks for proof only in later 32 KiB blocks, and only in chunks
// that carry a synced offset. A run's log is usually one block, so a single
// flipped byte would silently cut the run short and it would read back as
// "truncated" — a whole prefix, safe to replay — having lost boundaries that
// were acknowledged to the agent.
//
// walCorruption closes that hole for agentrr's crash model: a killed
// process (SIGKILL, a panic, os.Exit) leaves every write it made in the
// page cache, so the only chunk that can be torn is the last one. A valid
// chunk of the same log after an invalid one therefore proves corruption.
// (After a power loss, pages may reach the disk out of order; such a log may
// then read as damaged where it is only torn. It never reads as whole.)

// The write-ahead log format (github.com/cockroachdb/pebble/v2/record):
// 32 KiB blocks of chunks; a chunk is a header — checksum (4 bytes, masked
// CRC-32C of everything from the encoding byte to the end of the payload),
// payload length (2), encoding (1), then for the recyclable encodings the
// log number (4) and for the WAL-sync encodings also a synced offset (8) —
// followed by its payload. A chunk never straddles a block.
const (
	walBlockSize        = 32 * 1024
	walLegacyHeader     = 7
	walRecyclableHeader = walLegacyHeader + 4
	walSyncHeader       = walRecyclableHeader + 8
	// walCheckLimit bounds the size of a log walCorruption reads whole; a
	// run's log rotates with its memtable (4 MiB by default).
	walCheckLimit = 256 << 20
)

var walCRCTable = crc32.MakeTable(crc32.Castagnoli)

func walChecksum(b []byte) uint32 {
	c := crc32.Update(0, walCRCTable, b)
	return (c>>15 | c<<17) + 0xa282ead8
}

// walHeaderSize returns the header size of a chunk encoding, and whether the
// encoding carries a log number; 0 for an invalid encoding.
func walHeaderSize(enc byte) (int, bool) {
	switch {
	case enc >= 1 && enc <= 4:
		return walLegacyHeader, false
	case enc >= 5 && enc <= 8:
		return walRecyclableHeader, true
	case enc >= 9 && enc <= 12:
		return walSyncHeader, true
	}
	return 0, false
}

// walChunkAt reports whether a valid chunk of log logNum starts at pos in
// b, and where it ends. With anyLog set, a legacy chunk (no log number)
// counts; a chunk of log logNum+1 is the EOF trailer of a closed log
// (trailer true).
func walChunkAt(b []byte, pos int, logNum uint32, anyLog bool) (end int, ok, trailer bool) {
	blockEnd := min((pos/walBlockSize+1)*walBlockSize, len(b))
	if blockEnd-pos < walLegacyHeader {
		return 0, false, false
	}
	checksum := binary.LittleEndian.Uint32(b[pos:])
	length := int(binary.LittleEndian.Uint16(b[pos+4:]))
	hdr, numbered := walHeaderSize(b[pos+6])
	if hdr == 0 || pos+hdr > blockEnd {
		return 0, false, false
	}
	if !numbered && !anyLog {
		return 0, false, false
	}
	if numbered {
		switch binary.LittleEndian.Uint32(b[pos+7:]) {
		case logNum:
		case logNum + 1:
			trailer = true
		default:
			return 0, false, false
		}
	}
	end = pos + hdr + length
	if end > blockEnd || walChecksum(b[pos+6:end]) != checksum {
		return 0, false, false
	}
	return end, true, trailer
}

// walCorruption reads the write-ahead log at path (log number logNum) and
// returns the offset of a corrupt chunk when a valid chunk of the same log
// follows it; -1 when the log is whole or merely ends torn.
func walCorruption(path string, logNum uint32) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return -1, err
	}
	if fi.Size() > walCheckLimit {
		return -1, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return -1, err
	}
	pos := 0
	for pos < len(b) {
		blockEnd := min((pos/walBlockSize+1)*walBlockSize, len(b))
		if blockEnd-pos < walLegacyHeader || allZero(b[pos:blockEnd]) {
			pos = blockEnd // the zeroed tail of a block
			continue
		}
		end, ok, trailer := walChunkAt(b, pos, logNum, true)
		if trailer {
			return -1, nil // the log was closed here
		}
		if !ok {
			break
		}
		pos = end
	}
	if pos >= len(b) {
		return -1, nil
	}
	// The log stops being readable at pos. Torn, nothing valid follows.
	for q := pos + 1; q+walRecyclableHeader <= len(b); q++ {
		if _, ok, trailer := walChunkAt(b, q, logNum, false); ok && !trailer {
			return int64(pos), nil
		}
	}
	return -1, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// corruptWAL checks every write-ahead log of the run database in dbDir
// with walCorruption and describes the first corrupt one ("" when none).
func corruptWAL(dbDir string) string {
	entries, err := os.ReadDir(dbDir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		name := e.Name()
		numText, ok := strings.CutSuffix(name, ".log")
		if !ok {
			continue
		}
		num, err := strconv.ParseUint(numText, 10, 32)
		if err != nil {
			continue
		}
		if off, err := walCorruption(filepath.Join(dbDir, name), uint32(num)); err == nil && off >= 0 {
			return fmt.Sprintf("write-ahead log %s is corrupt at offset %d and holds records written after that point: boundaries recorded after the damage cannot be read", name, off)
		}
	}
	return ""
}
