package spanlog

import (
	"encoding/binary"
	"fmt"
)

// Key prefixes. Part of the on-disk format.
const (
	prefixVersion  = 'v'
	prefixHeader   = 'h'
	prefixEnd      = 'e'
	prefixBoundary = 'b'
)

// dbFormatVersion is the version stored under "v" in every run database.
//
//   - 1: one root branch; a boundary's index in it is its seq.
//   - 2: boundaries carry agentrr.branch and agentrr.branch.index (see
//     boundary.ChildBranch); every branch's indices run 0..n-1 with no hole.
//
// Both are read; runs are written as 2. Keys are the same in both: by seq
// (the order writes entered the log), with an empty branch component.
const dbFormatVersion = 2

func versionKey() []byte { return []byte{prefixVersion} }

func headerKey(trace [16]byte) []byte { return append([]byte{prefixHeader}, trace[:]...) }

func endKey(trace [16]byte) []byte { return append([]byte{prefixEnd}, trace[:]...) }

// boundaryPrefix is the prefix of every boundary key of one branch of a trace.
func boundaryPrefix(trace [16]byte, branch string) []byte {
	k := make([]byte, 0, 1+16+binary.MaxVarintLen64+len(branch)+8)
	k = append(k, prefixBoundary)
	k = append(k, trace[:]...)
	k = binary.AppendUvarint(k, uint64(len(branch)))
	k = append(k, branch...)
	return k
}

func boundaryKey(trace [16]byte, branch string, seq int64) []byte {
	return binary.BigEndian.AppendUint64(boundaryPrefix(trace, branch), uint64(seq))
}

// parseBoundaryKey returns the seq of a boundary key with the given prefix.
func parseBoundaryKey(prefix, key []byte) (int64, error) {
	if len(key) != len(prefix)+8 {
		return 0, fmt.Errorf("boundary key of %d bytes, want %d", len(key), len(prefix)+8)
	}
	seq := binary.BigEndian.Uint64(key[len(prefix):])
	if seq > 1<<62 {
		return 0, fmt.Errorf("boundary key with seq %d out of range", seq)
	}
	return int64(seq), nil
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixUpperBound(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}
