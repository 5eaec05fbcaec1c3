package view

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentrr/agentrr/analyze"
	"github.com/agentrr/agentrr/spanlog"
)

// ReportWhyLimit is the largest run whose report carries the provenance
// of every boundary's request (the Provenance tab); a larger run's report
// leaves it out and says so (agentrr why answers for any run).
const ReportWhyLimit = 2000

// ReportInfo says what a report holds.
type ReportInfo struct {
	// Run is the run reported; Original the recording it replays, when
	// the report holds it too.
	Run      string `json:"run"`
	Original string `json:"original,omitempty"`
	Created  string `json:"created"`
	// Boundaries counts the boundaries whose documents the report holds.
	Boundaries int `json:"boundaries"`
	// WhyOmitted is set when the provenance of the boundaries was left
	// out (a run of more than ReportWhyLimit boundaries).
	WhyOmitted bool `json:"why_omitted,omitempty"`
	// Status and Reason are the reported run's verdict (damaged: reported
	// up to its damage).
	Status spanlog.Status `json:"status"`
	Reason string         `json:"reason,omitempty"`
}

// WriteReport writes the view of run id (a full id or a unique prefix) in
// the store open returns as one self-contained HTML file: the page, its
// script and style, and the answers the page would ask the server for —
// the run, every boundary, the provenance of every request, and for a
// replay the recording it replays (when the store holds it) and their
// comparison. The file loads nothing from anywhere: its Content Security
// Policy allows no network access at all.
//
// A run being recorded cannot be reported (*spanlog.RecordingError); a
// damaged run is reported up to its damage.
func WriteReport(w io.Writer, open func() (*spanlog.Store, error), id string, now time.Time) (*ReportInfo, error) {
	src := &source{open: open}
	docs := map[string]any{}
	info := &ReportInfo{Created: now.UTC().Format(time.RFC3339)}
	var listed []spanlog.RunInfo
	add := func(id string) (*RunDoc, error) {
		doc, err := src.runDoc(id)
		if err != nil {
			return nil, err
		}
		if doc.Run.Status == spanlog.StatusRecording {
			return nil, &spanlog.RecordingError{TraceID: doc.Run.TraceID, PID: doc.Run.PID}
		}
		full := doc.Run.TraceID
		docs["/api/runs/"+full] = doc
		listed = append(listed, doc.Run.RunInfo)
		run, err := src.run(full)
		if err != nil {
			// Damaged beyond reading: the document says so.
			return doc, nil
		}
		withWhy := len(run.Records) <= ReportWhyLimit
		info.WhyOmitted = info.WhyOmitted || !withWhy
		for seq := range int64(len(run.Records)) {
			b, err := src.boundaryDoc(full, seq)
			if err != nil {
				return nil, err
			}
			docs[fmt.Sprintf("/api/runs/%s/boundaries/%d", full, seq)] = b
			info.Boundaries++
			if withWhy {
				p, err := analyze.Why(run.Records, seq, analyze.ProvenanceOptions{})
				if err == nil {
					docs[fmt.Sprintf("/api/runs/%s/why?seq=%d", full, seq)] = &WhyDoc{TraceID: full, Provenance: p}
				}
			}
		}
		return doc, nil
	}
	doc, err := add(id)
	if err != nil {
		return nil, err
	}
	info.Run, info.Status, info.Reason = doc.Run.TraceID, doc.Run.Status, doc.Run.Reason
	if doc.Original != nil && doc.Original.Status != spanlog.StatusRecording {
		if _, err := add(doc.Original.TraceID); err == nil {
			info.Original = doc.Original.TraceID
			if d, err := src.divergenceDoc(info.Run); err == nil {
				docs["/api/runs/"+info.Run+"/divergence"] = d
				docs["/api/compare?a="+info.Original+"&b="+info.Run] = d.Comparison
			}
		} else {
			var rec *spanlog.RecordingError
			if !errors.As(err, &rec) {
				return nil, err
			}
		}
	}
	// Links to runs the report does not hold would lead nowhere.
	for _, d := range docs {
		if rd, ok := d.(*RunDoc); ok {
			kept := rd.Replays[:0]
			for _, r := range rd.Replays {
				if r.TraceID == info.Run || r.TraceID == info.Original {
					kept = append(kept, r)
				}
			}
			rd.Replays = kept
		}
	}
	docs["/api/runs"] = &RunsDoc{Runs: listed}
	page, err := pageHTML(map[string]any{"report": info, "docs": docs})
	if err != nil {
		return nil, err
	}
	_, err = w.Write(page)
	return info, err
}

// pageHTML is the page: served (data nil), it loads its script and style
// from /assets/; as a report, it holds them and data inline.
func pageHTML(data any) ([]byte, error) {
	index, err := assets.ReadFile("assets/index.html")
	if err != nil {
		return nil, err
	}
	head, body := `<link rel="stylesheet" href="/assets/app.css">`, `<script src="/assets/app.js"></script>`
	if data != nil {
		css, err := assets.ReadFile("assets/app.css")
		if err != nil {
			return nil, err
		}
		js, err := assets.ReadFile("assets/app.js")
		if err != nil {
			return nil, err
		}
		if bytes.Contains(bytes.ToLower(js), []byte("</script")) || bytes.Contains(bytes.ToLower(css), []byte("</style")) {
			return nil, errors.New("view assets cannot be inlined: they hold a closing tag")
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(true) // "<" in the data becomes \u003c: no tag can end the script element
		if err := enc.Encode(data); err != nil {
			return nil, err
		}
		head = `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'">` +
			"\n<style>\n" + string(css) + "</style>"
		body = `<script type="application/json" id="agentrr-data">` + strings.TrimSpace(buf.String()) + "</script>\n<script>\n" + string(js) + "</script>"
	}
	page := strings.Replace(string(index), "<!--HEAD-->", head, 1)
	page = strings.Replace(page, "<!--BODY-->", body, 1)
	return []byte(page), nil
}
