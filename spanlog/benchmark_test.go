package spanlog_test

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentrr/agentrr/spanlog"
)

// benchSpan is the encoded span of a ~1 KB tool boundary (request and
// response of ~512 bytes of text each), ready to Append.
func benchSpan(b *testing.B, id string) []byte {
	b.Helper()
	v, err := spanBytes(id, 0, "search", strings.Repeat("the parcel arrived damaged ", 19))
	if err != nil {
		b.Fatal(err)
	}
	return v
}

func benchRun(b *testing.B) (*spanlog.Store, *spanlog.RunWriter, string) {
	b.Helper()
	s, _ := openStore(b)
	id := newTraceID(b)
	w, err := s.CreateRun(spanlog.RunMeta{TraceID: id, Name: "bench", Start: time.Now().UTC(), PID: os.Getpid()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	return s, w, id
}

// BenchmarkAppend is one synced boundary write, one goroutine: the
// physical cost of a boundary.
func BenchmarkAppend(b *testing.B) {
	_, w, id := benchRun(b)
	v := benchSpan(b, id)
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Append(func(int64) ([]byte, error) { return v, nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendParallel is synced boundary writes from 8 goroutines into
// one run: concurrent appends share fsyncs (group commit).
func BenchmarkAppendParallel(b *testing.B) {
	_, w, id := benchRun(b)
	v := benchSpan(b, id)
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	b.SetParallelism(4) // 8 goroutines on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.Append(func(int64) ([]byte, error) { return v, nil }); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkReadRun reads back and checks a finished 1,000-boundary run
// (decode every span, verify every payload hash and signature).
func BenchmarkReadRun(b *testing.B) {
	const n = 1000
	s, w, id := benchRun(b)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 8 {
				if _, err := w.Append(func(seq int64) ([]byte, error) {
					return spanBytes(id, seq, "search", strings.Repeat("the parcel arrived damaged ", 19))
				}); err != nil {
					b.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Finish(spanlog.RunEnd{End: time.Now().UTC()}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		run, err := s.ReadRun(id)
		if err != nil {
			b.Fatal(err)
		}
		if run.Info.Status != spanlog.StatusComplete || len(run.Records) != n {
			b.Fatalf("read back %s with %d boundaries: %s", run.Info.Status, len(run.Records), run.Info.Reason)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/boundary")
}
