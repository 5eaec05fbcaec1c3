package httpx

import (
	"errors"
	"io"
	"sync"
)

// errReadAfterClose is what net/http's response bodies return when read
// after Close.
var errReadAfterClose = errors.New("http: read on closed response body")

// NewRecordingBody tees rc, a streamed response body, as the client reads
// it: the client gets each read's bytes at once (nothing is buffered ahead
// of it), and the bytes and the size of every read are kept. When the body
// ends — its end or an error is read, or the client closes it — onEnd runs
// once with what was read (readErr is nil at a clean end; closedEarly is
// true when the client closed the body before its end) and returns the
// error the last Read or Close returns instead of the body's own (a
// failure to store the boundary, or the read error as recorded), nil to
// keep the body's own. data is the body's own buffer, handed over to onEnd.
// Close closes rc.
func NewRecordingBody(rc io.ReadCloser, onEnd func(data []byte, chunks []int, readErr error, closedEarly bool) error) io.ReadCloser {
	return &recordingBody{rc: rc, onEnd: onEnd}
}

// recordingBody is what NewRecordingBody returns.
type recordingBody struct {
	rc    io.ReadCloser
	onEnd func(data []byte, chunks []int, readErr error, closedEarly bool) error

	mu     sync.Mutex
	data   []byte
	chunks []int
	done   bool
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return n, err
	}
	if n > 0 {
		b.data = append(b.data, p[:n]...)
		b.chunks = append(b.chunks, n)
	}
	if err != nil {
		b.done = true
		readErr := err
		if err == io.EOF {
			readErr = nil
		}
		if serr := b.onEnd(b.data, b.chunks, readErr, false); serr != nil {
			return n, serr
		}
	}
	return n, err
}

func (b *recordingBody) Close() error {
	b.mu.Lock()
	var serr error
	if !b.done {
		b.done = true
		serr = b.onEnd(b.data, b.chunks, nil, true)
	}
	b.mu.Unlock()
	err := b.rc.Close()
	if serr != nil {
		return serr
	}
	return err
}

// NewReplayBody serves a recorded body: the bytes of data, in the recorded
// read sizes when chunks is set (never more per read than the recorded
// read had), then endErr (io.EOF, or the recorded read error) on every
// later read. onEnd, when not nil, runs once when the end is read or the
// body is closed, and its error, when not nil, replaces endErr. A read
// after Close fails as net/http's response bodies do. data is not copied:
// the caller must not modify it.
func NewReplayBody(data []byte, chunks []int, endErr error, onEnd func() error) io.ReadCloser {
	return &replayBody{data: data, chunks: chunks, endErr: endErr, onEnd: onEnd}
}

// replayBody is what NewReplayBody returns.
type replayBody struct {
	data   []byte
	chunks []int
	endErr error
	onEnd  func() error

	mu      sync.Mutex
	off     int
	chunk   int // index of the chunk being served
	inChunk int // bytes of it already served
	ended   bool
	endFail error
	closed  bool
}

func (b *replayBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, errReadAfterClose
	}
	if b.off >= len(b.data) {
		if err := b.end(); err != nil {
			return 0, err
		}
		return 0, b.endErr
	}
	if len(p) == 0 {
		return 0, nil
	}
	max := len(b.data) - b.off
	if b.chunk < len(b.chunks) && b.chunks[b.chunk] > 0 {
		// (A size that is not positive can only come from a forged
		// recording: it limits nothing.)
		max = min(max, b.chunks[b.chunk]-b.inChunk)
	}
	n := copy(p[:min(len(p), max)], b.data[b.off:])
	b.off += n
	if b.chunk < len(b.chunks) {
		b.inChunk += n
		if b.inChunk >= b.chunks[b.chunk] {
			b.chunk++
			b.inChunk = 0
		}
	}
	return n, nil
}

// end runs onEnd once. Called with b.mu held.
func (b *replayBody) end() error {
	if !b.ended {
		b.ended = true
		if b.onEnd != nil {
			b.endFail = b.onEnd()
		}
	}
	return b.endFail
}

func (b *replayBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.end()
	b.closed = true
	return err
}
