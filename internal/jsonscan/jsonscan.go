// Package jsonscan holds the byte-level pieces of the JSON grammar that the
// hand-written JSON scanners of agentrr share (boundary's fast
// canonicaliser, analyze's leaf walker).
package jsonscan

// SkipSpace returns the index of the first byte from b[i] on that is not
// JSON white space (space, tab, newline, carriage return); len(b) when there
// is none.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
