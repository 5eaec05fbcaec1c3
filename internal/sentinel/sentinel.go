// Package sentinel names the sentinel errors a recorded failure is checked
// against, so that a recording can keep which ones the real error matched
// and a replay can match them again.
package sentinel

import (
	"context"
	"errors"
	"io"
	"os"
)

// Named is a sentinel error and the name a recording keeps for it.
type Named struct {
	Name string
	Err  error
}

// Standard are the standard library's sentinels every recorded failure is
// checked against, in the order their names are recorded.
var Standard = []Named{
	{"context.Canceled", context.Canceled},
	{"context.DeadlineExceeded", context.DeadlineExceeded},
	{"io.EOF", io.EOF},
	{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF},
	{"io.ErrClosedPipe", io.ErrClosedPipe},
	{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded},
}

// Matching returns the sentinels of known that err matches with errors.Is,
// in the order of known.
func Matching(err error, known []Named) []Named {
	var out []Named
	for _, n := range known {
		if errors.Is(err, n.Err) {
			out = append(out, n)
		}
	}
	return out
}

// IsTimeout reports whether err, or an error it wraps, reports a timeout
// (as a net.Error does with Timeout()).
func IsTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
