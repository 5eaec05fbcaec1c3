package replayer

import (
	"fmt"
	"strings"

	"github.com/agentrr/agentrr/analyze"
)

// DivergenceError is returned by a boundary call whose boundary does not
// match the recording. Use errors.As to get it from an agent's error.
type DivergenceError struct {
	analyze.Divergence
}

func (e *DivergenceError) Error() string {
	d := &e.Divergence
	var b strings.Builder
	b.WriteString("agentrr: replay diverged at ")
	b.WriteString(d.Where())
	b.WriteString(": ")
	switch d.Reason {
	case analyze.ReasonSignature:
		fmt.Fprintf(&b, "%s %s: signature mismatch (recorded %.12s, observed %.12s)", d.ObservedKind, d.ObservedName, d.ExpectedSignature, d.ObservedSignature)
		for i, c := range d.Diff {
			if i == 3 {
				fmt.Fprintf(&b, "; and %d more", len(d.Diff)-i)
				break
			}
			sep := "; "
			if i == 0 {
				sep = ": "
			}
			fmt.Fprintf(&b, "%s%s %s", sep, pathOrRoot(c.Path), c.Op)
		}
	case analyze.ReasonKind:
		fmt.Fprintf(&b, "recorded %s %s, agent made %s %s", d.ExpectedKind, d.ExpectedName, d.ObservedKind, d.ObservedName)
	case analyze.ReasonExtra:
		if d.Branch != "" {
			fmt.Fprintf(&b, "%s %s is past the end of its branch's recording", d.ObservedKind, d.ObservedName)
			if d.Index == 0 {
				b.WriteString(" (the recording has no such branch)")
			}
			break
		}
		fmt.Fprintf(&b, "%s %s is past the end of the recording", d.ObservedKind, d.ObservedName)
	case analyze.ReasonConcurrent:
		fmt.Fprintf(&b, "%s %s was made while another boundary of its branch was in flight (unbranched concurrency)", d.ObservedKind, d.ObservedName)
	case analyze.ReasonVersion:
		fmt.Fprintf(&b, "version marker %s: unsupported version", d.ObservedName)
	case analyze.ReasonAmbiguous:
		fmt.Fprintf(&b, "%s %s: ambiguous among boundaries recorded in flight together", d.ObservedKind, d.ObservedName)
	case analyze.ReasonTruncated:
		fmt.Fprintf(&b, "%s %s is past the end of a truncated recording (its recorder was killed; what came next is unknown)", d.ObservedKind, d.ObservedName)
	case analyze.ReasonMissing:
		fmt.Fprintf(&b, "%d recorded boundaries were never requested, starting with %s %s", d.Count, d.ExpectedKind, d.ExpectedName)
	default:
		b.WriteString(string(d.Reason))
	}
	if d.Note != "" {
		b.WriteString(" (")
		b.WriteString(d.Note)
		b.WriteString(")")
	}
	return b.String()
}

func pathOrRoot(p string) string {
	if p == "" {
		return "(request)"
	}
	return p
}
