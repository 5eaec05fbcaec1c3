package cmdutil

import (
	"fmt"
	"strconv"
	"time"

	"github.com/agentrr/agentrr/boundary"
)

// Boundary statuses as the commands show them.
const (
	BoundaryOK       = "ok"       // the call returned a result
	BoundaryError    = "error"    // the call returned an error (recorded; replay returns it too)
	BoundaryDiverged = "diverged" // a replayed boundary that did not match its recording
)

// BoundaryStatus is how a boundary ended: BoundaryDiverged, BoundaryError
// or BoundaryOK.
func BoundaryStatus(r *boundary.Record) string {
	switch {
	case r.Divergence != "":
		return BoundaryDiverged
	case r.Failed:
		return BoundaryError
	}
	return BoundaryOK
}

// Duration formats d short, for a table cell: "250µs", "1.23ms", "2.345s",
// "1m5s"; "-" when d is negative (a span without timestamps).
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	case d < time.Minute:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// Time formats t for people, in local time with milliseconds and the zone;
// "-" for the zero time.
func Time(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000 MST")
}

// IntAttribute returns the integer value of attribute key in attrs (as
// boundary.Record.Attributes holds them), whether stored as an integer, a
// float with no fraction or a decimal string.
func IntAttribute(attrs map[string]any, key string) (int64, bool) {
	switch v := attrs[key].(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case float64:
		if v == float64(int64(v)) {
			return int64(v), true
		}
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

// Plural returns "1 boundary" or "n boundaries".
func Plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
