package payload

import "testing"

func TestSizes(t *testing.T) {
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20} {
		for name, d := range map[string]Doc{"text": Text(size, 1), "random": Random(size, 1)} {
			got := Size(d)
			if got < size*9/10 || got > size*11/10 {
				t.Errorf("%s(%d) encodes to %d bytes", name, size, got)
			}
		}
	}
}
