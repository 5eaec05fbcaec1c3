package otelrr

import (
	"slices"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/sentinel"
)

// RecordedError is the error a boundary helper (and the HTTP transport)
// returns when the call failed, recording and replaying alike, so that an
// agent takes the same path on both: its text is the recorded error text,
// it matches with errors.Is the sentinel errors the real error matched when
// it was recorded (the standard ones below, and those registered with
// WithError), and it reports a timeout when the real error did.
//
// The real error itself is not returned, even when recording: on replay it
// does not exist, and an agent that inspected it (errors.As to a type of
// its own, a sentinel nobody registered) would take another path there.
type RecordedError struct {
	// Text is the error text, with any redaction applied.
	Text string
	// Matches names the sentinel errors the real error matched: standard
	// ones ("context.Canceled", "context.DeadlineExceeded", "io.EOF",
	// "io.ErrUnexpectedEOF", "io.ErrClosedPipe", "os.ErrDeadlineExceeded")
	// and names given to WithError.
	Matches []string
	// IsTimeout is true when the real error reported a timeout (as a
	// net.Error does with Timeout()).
	IsTimeout bool

	sentinels []error
}

func (e *RecordedError) Error() string { return e.Text }

// Is reports whether target is a sentinel the recorded error matched.
func (e *RecordedError) Is(target error) bool { return slices.Contains(e.sentinels, target) }

// Timeout reports whether the recorded error was a timeout.
func (e *RecordedError) Timeout() bool { return e.IsTimeout }

// errorNames is the set of sentinel errors known by name: the standard
// ones and those registered with WithError.
type errorNames struct {
	named []sentinel.Named
}

// WithError registers err, a sentinel error an agent tests for with
// errors.Is, under name. A boundary whose real call fails with an error
// matching err is recorded with the name, and the helper, recording and
// replaying alike, returns a *RecordedError that matches err. The name is
// what the recording keeps: renaming it is a change of the recording's
// meaning, so keep it stable (replaying with another name registered, the
// error matches nothing). Without WithError, an agent's own sentinels do not
// survive recording: the helper's error does not match them even while
// recording.
func WithError(name string, err error) Option {
	return func(c *config) {
		if c.errors == nil {
			c.errors = &errorNames{}
		}
		c.errors.named = append(c.errors.named, sentinel.Named{Name: name, Err: err})
	}
}

func (n *errorNames) all() []sentinel.Named {
	if n == nil {
		return sentinel.Standard
	}
	return append(slices.Clip(sentinel.Standard), n.named...)
}

// recorded returns the RecordedError the real error err becomes, with the
// text text (err's, redacted).
func (n *errorNames) recorded(err error, text string) *RecordedError {
	e := &RecordedError{Text: text, IsTimeout: sentinel.IsTimeout(err)}
	for _, ne := range sentinel.Matching(err, n.all()) {
		e.Matches = append(e.Matches, ne.Name)
		e.sentinels = append(e.sentinels, ne.Err)
	}
	return e
}

// replayed returns the RecordedError a recorded failure is served as.
// A recording made before errors were classified names no matches: a text
// that is a standard error's own text matches that error.
func (n *errorNames) replayed(text string, matches []string, timeout, classified bool) *RecordedError {
	e := &RecordedError{Text: text, Matches: matches, IsTimeout: timeout}
	if !classified {
		for _, ne := range sentinel.Standard {
			if text == ne.Err.Error() {
				e.Matches, e.sentinels = []string{ne.Name}, []error{ne.Err}
			}
		}
		return e
	}
	for _, name := range matches {
		for _, ne := range n.all() {
			if ne.Name == name {
				e.sentinels = append(e.sentinels, ne.Err)
			}
		}
	}
	return e
}

// recordedOf returns the RecordedError of a recorded boundary that failed.
func (n *errorNames) recordedOf(r *boundary.Record) *RecordedError {
	return n.replayed(r.Error, r.ErrorIs, r.ErrorTimeout, r.ErrorClassified)
}
