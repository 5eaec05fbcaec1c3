package replayer

import (
	"fmt"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/spanlog"
)

// Recording is the boundary sequence of one recorded run.
type Recording struct {
	// TraceID is the run id of the recording.
	TraceID string
	// Records holds the boundaries in seq order, 0..n-1.
	Records []boundary.Record
	// Truncated is true when the run was cut short (its recorder was
	// killed): Records is a whole prefix of the run.
	Truncated bool
	// Info describes the run as stored (zero for recordings not from a store).
	Info spanlog.RunInfo
}

// DamagedError is returned when a recording cannot be replayed because part
// of it is not whole.
type DamagedError struct {
	TraceID string
	Reason  string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("run %s is damaged and cannot be replayed: %s (agentrr verify %s shows the details)", e.TraceID, e.Reason, e.TraceID)
}

// ErrDamaged matches any *DamagedError with errors.Is.
var ErrDamaged = boundary.ErrDamaged

func (e *DamagedError) Is(target error) bool { return target == ErrDamaged }

// Load reads the run named by id (a full trace id or a unique prefix) from
// the store and checks it whole. A damaged run is refused with a
// *DamagedError; a truncated run loads with Truncated set; a run still being
// recorded is refused with *spanlog.RecordingError.
func Load(store *spanlog.Store, id string) (*Recording, error) {
	traceID, err := store.Resolve(id)
	if err != nil {
		return nil, err
	}
	run, err := store.ReadRun(traceID)
	if err != nil {
		return nil, err
	}
	switch run.Info.Status {
	case spanlog.StatusDamaged:
		return nil, &DamagedError{TraceID: traceID, Reason: run.Info.Reason}
	}
	return &Recording{
		TraceID:   traceID,
		Records:   run.Records,
		Truncated: run.Info.Status == spanlog.StatusTruncated,
		Info:      run.Info,
	}, nil
}
