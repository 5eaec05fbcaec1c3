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
	fmt.Fprintf(&b, "agentrr: replay diverged at seq %d: ", d.Seq)
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
		fmt.Fprintf(&b, "%s %s is past the end of the recording", d.ObservedKind, d.ObservedName)
	case analyze.ReasonTruncated:
		fmt.Fprintf(&b, "%s %s is past the end of a truncated recording (its recorder was killed; what came next is unknown)", d.ObservedKind, d.ObservedName)
	case analyze.ReasonMissing:
		fmt.Fprintf(&b, "%d recorded boundaries were never requested, starting with %s %s", d.Count, d.ExpectedKind, d.ExpectedName)
	default:
		b.WriteString(string(d.Reason))
	}
	return b.String()
}

func pathOrRoot(p string) string {
	if p == "" {
		return "(request)"
	}
	return p
}
