//go:build race

package otelrr_test

// raceEnabled reports whether the test binary was built with -race.
const raceEnabled = true
