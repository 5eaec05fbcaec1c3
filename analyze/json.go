package analyze

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// jsonReport is the shape of a report file: the Report's fields with its
// verdict first.
type jsonReport struct {
	Verdict string `json:"verdict"`
	*Report
}

// WriteJSON writes r to w as one indented JSON object followed by a newline:
// the fields of [Report] under their json tag names, plus a "verdict" field,
// first, holding [Report.Verdict]. "divergences" is always an array, [] when
// there are none, never null. Strings are not HTML-escaped. [ReadReport]
// reads it back.
func (r *Report) WriteJSON(w io.Writer) error {
	if r == nil {
		return errors.New("write replay report: nil report")
	}
	out := *r
	if out.Divergences == nil {
		out.Divergences = []Divergence{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(jsonReport{Verdict: out.Verdict(), Report: &out}); err != nil {
		return fmt.Errorf("write replay report: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// ReadReport reads a report written by [Report.WriteJSON]: exactly one JSON
// object, with nothing but white space after it. Fields it does not know are
// ignored. It returns an error, naming what is wrong, when the input is
// empty or is not such an object, when a field has the wrong type, or when
// the "verdict" field is missing or disagrees with the divergences listed.
// The returned Report's Divergences is empty, not nil, when there are none.
func ReadReport(r io.Reader) (*Report, error) {
	dec := json.NewDecoder(r)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("read replay report: empty input")
		}
		return nil, fmt.Errorf("read replay report: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("read replay report: unexpected data after the report object")
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("read replay report: want a JSON object, got %s", Preview(raw, 40))
	}

	in := jsonReport{Report: new(Report)}
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("read replay report: %w", err)
	}
	rep := in.Report
	if rep.Divergences == nil {
		rep.Divergences = []Divergence{}
	}
	switch in.Verdict {
	case "":
		return nil, errors.New(`read replay report: no "verdict" field (not a replay report?)`)
	case "faithful", "diverged":
		if in.Verdict != rep.Verdict() {
			return nil, fmt.Errorf("read replay report: verdict is %q but the report lists %d divergences",
				in.Verdict, len(rep.Divergences))
		}
	default:
		return nil, fmt.Errorf(`read replay report: unknown verdict %q (want "faithful" or "diverged")`, in.Verdict)
	}
	return rep, nil
}
