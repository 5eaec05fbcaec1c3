package otelrr

import (
	"fmt"
	"os"

	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

// loadReplay loads the recording to replay: from the OTLP JSON file given
// by WithReplayFile / AGENTRR_REPLAY_FILE when there is one, else from the
// store.
func loadReplay(store *spanlog.Store, cfg config) (*replayer.Recording, error) {
	if cfg.replayFile == "" {
		return replayer.Load(store, cfg.replayID)
	}
	f, err := os.Open(cfg.replayFile)
	if err != nil {
		return nil, fmt.Errorf("recording file: %w", err)
	}
	defer f.Close()
	return replayer.LoadOTLPJSON(f, cfg.replayID)
}
