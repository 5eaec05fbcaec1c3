package spanlog_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

func bundleOf(t testing.TB, s *spanlog.Store, id string, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.WriteBundle(&buf, id, spanlog.BundleOptions{Gzip: gz}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readBundle(t testing.TB, b []byte) *spanlog.Bundle {
	t.Helper()
	bd, err := spanlog.ReadBundle(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return bd
}

// A run exported as a bundle, imported into another store and exported
// from there is the same bytes, gzip or not; the bundle reads back with
// the store's verdict and records, and replays from a file.
func TestBundleRoundTrip(t *testing.T) {
	s, _ := openStore(t)
	complete, truncated := newTraceID(t), newTraceID(t)
	writeRun(t, s, complete, 5, true)
	writeRun(t, s, truncated, 3, false)
	for _, id := range []string{complete, truncated} {
		for _, gz := range []bool{false, true} {
			t.Run(fmt.Sprintf("%.8s/gzip=%t", id, gz), func(t *testing.T) {
				first := bundleOf(t, s, id, gz)
				if again := bundleOf(t, s, id, gz); !bytes.Equal(first, again) {
					t.Fatal("two exports of one run differ")
				}
				b := readBundle(t, first)
				stored, err := s.ReadRun(id)
				if err != nil {
					t.Fatal(err)
				}
				if b.Gzip != gz || b.Info.Status != stored.Info.Status || len(b.Records) != len(stored.Records) || b.Info.Name != "test" {
					t.Fatalf("bundle reads back %s (%s) with %d records, gzip %t; stored %s with %d", b.Info.Status, b.Info.Reason, len(b.Records), b.Gzip, stored.Info.Status, len(stored.Records))
				}
				for i := range b.Records {
					if b.Records[i].Signature != stored.Records[i].Signature || b.Records[i].PayloadHash != stored.Records[i].PayloadHash {
						t.Errorf("record %d differs", i)
					}
				}
				other, _ := openStore(t)
				res, err := other.Import(b)
				if err != nil || res.Existed || res.Status != stored.Info.Status {
					t.Fatalf("Import: %+v, %v", res, err)
				}
				if back := bundleOf(t, other, id, gz); !bytes.Equal(first, back) {
					t.Errorf("export → import → export differs:\n%s\n%s", first[:min(200, len(first))], back[:min(200, len(back))])
				}
				// Importing it again is harmless, and says so.
				if res, err := other.Import(b); err != nil || !res.Existed {
					t.Errorf("second Import: %+v, %v; want existed", res, err)
				}
				imported, err := other.ReadRun(id)
				if err != nil || imported.Info.Status != stored.Info.Status || len(imported.Records) != len(stored.Records) {
					t.Errorf("imported run: %v", err)
				}
				plain := first
				if gz {
					zr, _ := gzip.NewReader(bytes.NewReader(first))
					plain, _ = io.ReadAll(zr)
				}
				rec, err := replayer.LoadOTLPJSON(bytes.NewReader(plain), "")
				if err != nil || len(rec.Records) != len(stored.Records) || rec.Truncated != (stored.Info.Status == spanlog.StatusTruncated) {
					t.Errorf("LoadOTLPJSON of the bundle: %v", err)
				}
			})
		}
	}
}

// A bundle holding another run under an id the store has is refused.
func TestImportRefusesAnotherRunUnderTheSameID(t *testing.T) {
	s, _ := openStore(t)
	id := newTraceID(t)
	writeRun(t, s, id, 3, true)
	b := readBundle(t, bundleOf(t, s, id, false))
	other, _ := openStore(t)
	w, err := other.CreateRun(spanlog.RunMeta{TraceID: id, Name: "another", Start: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	w.Finish(spanlog.RunEnd{})
	if _, err := other.Import(b); !errors.Is(err, spanlog.ErrRunExists) {
		t.Errorf("Import over another run: %v, want ErrRunExists", err)
	}
	if run, err := other.ReadRun(id); err != nil || run.Info.Name != "another" {
		t.Errorf("the stored run changed: %+v, %v", run, err)
	}
}

// A damaged or truncated bundle gets the verdicts a damaged store gets:
// cut short or garbled, it is damaged (or cannot be read at all), never a
// whole run with other contents; a bundle missing a boundary is damaged;
// Import stores nothing of a damaged bundle.
func TestDamagedBundles(t *testing.T) {
	s, _ := openStore(t)
	id := newTraceID(t)
	writeRun(t, s, id, 6, true)
	for _, gz := range []bool{false, true} {
		orig := bundleOf(t, s, id, gz)
		want := readBundle(t, orig)
		verdicts := map[string]int{}
		check := func(what string, b []byte) {
			t.Helper()
			bd, err := spanlog.ReadBundle(bytes.NewReader(b))
			switch {
			case err != nil:
				if !errors.Is(err, spanlog.ErrDamaged) && !errors.Is(err, spanlog.ErrBundle) {
					t.Errorf("%s: %v, want ErrDamaged or ErrBundle", what, err)
				}
				verdicts["error"]++
				return
			case bd.Info.Status == spanlog.StatusDamaged:
				verdicts["damaged"]++
			case bd.Info.Status == want.Info.Status && len(bd.Records) == len(want.Records):
				for i := range bd.Records {
					if bd.Records[i].PayloadHash != want.Records[i].PayloadHash {
						t.Fatalf("%s: record %d reads back whole with other contents", what, i)
					}
				}
				verdicts["unaffected"]++
			default:
				t.Fatalf("%s: reads back %s with %d records (%s), want damaged", what, bd.Info.Status, len(bd.Records), bd.Info.Reason)
			}
			other, _ := openStore(t)
			if _, err := other.Import(bd); bd.Info.Status == spanlog.StatusDamaged && err == nil {
				t.Errorf("%s: a damaged bundle was imported", what)
			}
		}
		for cut := 0; cut < len(orig)-1; cut += max(1, len(orig)/97) {
			check(fmt.Sprintf("gzip=%t cut at %d", gz, cut), orig[:cut])
		}
		for off := 0; off < len(orig); off += max(1, len(orig)/89) {
			b := bytes.Clone(orig)
			b[off] ^= 0x04
			check(fmt.Sprintf("gzip=%t byte %d flipped", gz, off), b)
		}
		t.Logf("gzip=%t: %v", gz, verdicts)
	}

	// A boundary taken out: a hole.
	plain := string(bundleOf(t, s, id, false))
	i := strings.Index(plain, `{"traceId"`)
	j := strings.Index(plain[i+1:], `{"traceId"`) + i + 1 // the root span, then seq 0
	k := strings.Index(plain[j+1:], `{"traceId"`) + j + 1
	holed := plain[:j] + plain[k:]
	if bd := readBundle(t, []byte(holed)); bd.Info.Status != spanlog.StatusDamaged {
		t.Errorf("a bundle without seq 0: %s (%s), want damaged", bd.Info.Status, bd.Info.Reason)
	}
	if _, err := spanlog.ReadBundle(strings.NewReader(`{"resourceSpans":[]}`)); !errors.Is(err, spanlog.ErrBundle) {
		t.Errorf("OTLP JSON without a run: %v, want ErrBundle", err)
	}
}

// FuzzReadBundle: any input ends in an error or a bundle whose verdict is
// set; nothing panics.
func FuzzReadBundle(f *testing.F) {
	// Bundles of a complete and a truncated run, as agentrr export --file
	// writes them (gzip and not).
	seeds, _ := filepath.Glob(filepath.Join("testdata", "bundles", "*"))
	if len(seeds) < 3 {
		f.Fatalf("seed bundles: %v", seeds)
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"resourceSpans":[]}`))
	f.Add([]byte("{}\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := spanlog.ReadBundle(bytes.NewReader(data))
		if err != nil {
			return
		}
		switch b.Info.Status {
		case spanlog.StatusComplete, spanlog.StatusTruncated, spanlog.StatusDamaged:
		default:
			t.Fatalf("bundle with status %q", b.Info.Status)
		}
		if b.Info.Status != spanlog.StatusDamaged {
			for i, r := range b.Records {
				if r.Seq != int64(i) {
					t.Fatalf("whole bundle with record %d at seq %d", i, r.Seq)
				}
			}
		}
	})
}

func TestIsBundleName(t *testing.T) {
	for name, want := range map[string]bool{
		"support-4bf92f35.json":    true,
		"support-4bf92f35.json.gz": true,
		"run.otlp.json":            true,
		"notes.txt":                false,
		"bundle.json.bak":          false,
		"bundle.gz":                false,
	} {
		if got := spanlog.IsBundleName(name); got != want {
			t.Errorf("IsBundleName(%q) = %v, want %v", name, got, want)
		}
	}
}
