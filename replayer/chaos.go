package replayer

import (
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"time"

	"github.com/agentrr/agentrr/boundary"
)

// Chaos mode (WithChaos).
//
// Each boundary's answer is held back by
//
//	rank(branch) × chaosStep + jitter(seed, branch, index)
//
// where rank is the branch's place among its recorded siblings in an order
// the seed shuffles, and jitter is below chaosStep/2, so that siblings
// answer in the shuffled order (by at least half a step) whatever else the
// scheduler does; then the goroutine yields 0 to 3 times. Everything is a
// function of the seed and the boundary's identity, not of the order calls
// arrive in: the same seed perturbs a replay the same way.

// chaosStep is the delay between the answers of consecutive ranks. It is
// well above scheduling noise (microseconds on an idle machine, a
// millisecond or two on a loaded one, with the race detector on), and small
// enough that a chaotic replay of a few dozen boundaries still takes well
// under a second.
const chaosStep = 5 * time.Millisecond

// chaosMaxRank bounds the rank: siblings past it share delays.
const chaosMaxRank = 15

type chaos struct {
	seed  uint64
	ranks map[string]int
}

func newChaos(seed uint64) *chaos { return &chaos{seed: seed, ranks: map[string]int{}} }

// rank shuffles each set of sibling branches of the recording.
func (c *chaos) rank(byBranch map[string][]*boundary.Record) {
	siblings := map[string][]string{}
	for b := range byBranch {
		if b == boundary.RootBranch {
			continue
		}
		p := boundary.BranchParent(b)
		siblings[p] = append(siblings[p], b)
	}
	for _, bs := range siblings {
		slices.SortFunc(bs, func(x, y string) int {
			hx, hy := c.hash(x, -1), c.hash(y, -1)
			switch {
			case hx < hy:
				return -1
			case hx > hy:
				return 1
			}
			return 0
		})
		for i, b := range bs {
			c.ranks[b] = min(i, chaosMaxRank)
		}
	}
}

// hash mixes the seed with a boundary's identity (SplitMix64 finaliser).
func (c *chaos) hash(branch string, index int64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(branch))
	x := c.seed ^ h.Sum64() ^ uint64(index)*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// delay is how long the answer to the index-th boundary of branch is held
// back; zero without chaos.
func (c *chaos) delay(branch string, index int64) time.Duration {
	if c == nil {
		return 0
	}
	rank, ok := c.ranks[branch]
	if !ok && branch != boundary.RootBranch {
		rank = int(c.hash(branch, -1) % (chaosMaxRank + 1)) // not in the recording
	}
	h := c.hash(branch, index)
	jitter := time.Duration(h % uint64(chaosStep/2))
	return time.Duration(rank)*chaosStep + jitter
}

// wait holds the answer back for d, then yields a few times.
func (c *chaos) wait(d time.Duration) {
	if c == nil {
		return
	}
	if d > 0 {
		time.Sleep(d)
	}
	for range int(d/time.Microsecond) % 4 {
		runtime.Gosched()
	}
}

// describe is the chaos setting for the report: "" without chaos.
func (c *chaos) describe() string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf("seed %d", c.seed)
}
