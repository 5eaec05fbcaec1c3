// Command broken_replay_cases drives agentrr's negative scenarios from one
// program and checks that each gets the right verdict:
//
//   - edited-prompt: a run replayed with the system prompt edited diverges
//     at the model call, with a diff naming messages[0].content;
//   - renamed-tool: a run replayed by an agent whose order tool was renamed
//     diverges at that tool call (recorded lookup_order, made find_order);
//   - truncated: a recorder killed with SIGKILL after 3 boundaries leaves a
//     truncated run of exactly those 3, which replays up to its end and
//     then diverges past the end of a truncated recording;
//   - damaged-wal and damaged-sst: bytes flipped on disk in the middle of a
//     payload, in the write-ahead log of a run whose recorder was killed
//     before it ended the run (its data is only there) or in an .sst file
//     of a complete run, make the run read back damaged, and replay
//     refuses it with a clear error.
//
// Then it checks that nothing else was lost or corrupted: every other run
// the scenarios made reads back exactly as it was stored.
//
//	go run ./examples/broken_replay_cases                  # every scenario
//	go run ./examples/broken_replay_cases truncated        # some of them
//
// It records into $AGENTRR_STORE (else .agentrr, else -store) and exits 0
// only if every check passed. Runs are recorded by the program itself run
// as a separate process ("broken_replay_cases agent", which also replays
// under agentrr replay) and replayed in-process with replayer.Replay;
// damaged runs are read in a separate process too.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentrr/agentrr/spanlog"
)

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

// dispatch runs the subcommand in args: agent, read-run, or the scenarios.
func dispatch(args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "agent":
			return agentMain(args[1:])
		case "read-run":
			return readRunMain(args[1:])
		}
	}
	return scenariosMain(args)
}

func scenariosMain(args []string) int {
	fs := flag.NewFlagSet("broken_replay_cases", flag.ContinueOnError)
	storeDir := fs.String("store", spanlog.Dir(""), "the store to record into")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: broken_replay_cases [-store dir] [scenario...]\n       broken_replay_cases agent [flags]\nscenarios:")
		for _, s := range Scenarios {
			fmt.Fprintf(fs.Output(), " %s", s.Name)
		}
		fmt.Fprintln(fs.Output())
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "broken_replay_cases:", err)
		return 1
	}
	abs, err := filepath.Abs(*storeDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broken_replay_cases:", err)
		return 1
	}
	r := &Runner{Store: abs, Self: []string{self}, Out: os.Stdout}
	results, err := r.Run(context.Background(), fs.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "broken_replay_cases:", err)
		return 2
	}
	passed := 0
	for _, res := range results {
		if res.OK {
			passed++
		}
	}
	fmt.Printf("\n%d of %d checks passed\n", passed, len(results))
	if passed != len(results) {
		return 1
	}
	return 0
}
