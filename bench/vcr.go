package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"gopkg.in/dnaeon/go-vcr.v4/pkg/recorder"
)

// vcrResult is one go-vcr record and replay of n interactions.
type vcrResult struct {
	recordUs, stopS, replayUs, replayS float64
	sizeRatio                          float64
}

// vcrRun records n HTTP interactions with 1 KB request and response bodies
// through go-vcr's recorder (as the client's RoundTripper, against a local
// server), then replays them in order from the cassette.
func vcrRun(root string, n int) (vcrResult, error) {
	var res vcrResult
	dir, err := os.MkdirTemp(root, "vcr-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(record1K)
	}))
	defer srv.Close()
	cassette := filepath.Join(dir, "cassette")
	reqBody := func(i int) []byte {
		b := append([]byte(nil), record1K...)
		copy(b[len(b)-12:], fmt.Sprintf("%09d\"}\n", i))
		return b
	}
	do := func(c *http.Client, i int) error {
		resp, err := c.Post(srv.URL+"/v1/tools/search?seq="+strconv.Itoa(i), "application/json", bytes.NewReader(reqBody(i)))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && len(b) != len(record1K) {
			err = fmt.Errorf("go-vcr interaction %d: got %d bytes", i, len(b))
		}
		return err
	}

	rec, err := recorder.New(cassette, recorder.WithMode(recorder.ModeRecordOnly), recorder.WithSkipRequestLatency(true))
	if err != nil {
		return res, err
	}
	client := rec.GetDefaultClient()
	res.recordUs, err = perOp(n, func(i int) error { return do(client, i) })
	if err != nil {
		return res, err
	}
	start := time.Now()
	if err := rec.Stop(); err != nil {
		return res, err
	}
	res.stopS = time.Since(start).Seconds()
	info, err := os.Stat(cassette + ".yaml")
	if err != nil {
		return res, err
	}
	res.sizeRatio = float64(info.Size()) / float64(n*2*len(record1K))

	start = time.Now()
	rep, err := recorder.New(cassette, recorder.WithMode(recorder.ModeReplayOnly), recorder.WithSkipRequestLatency(true))
	if err != nil {
		return res, err
	}
	client = rep.GetDefaultClient()
	for i := range n {
		if err := do(client, i); err != nil {
			return res, fmt.Errorf("go-vcr replay: %w", err)
		}
	}
	res.replayS = time.Since(start).Seconds()
	res.replayUs = res.replayS * 1e6 / float64(n)
	return res, rep.Stop()
}
