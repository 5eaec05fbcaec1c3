package sentinel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
)

func TestMatchingKeepsTheOrderOfKnown(t *testing.T) {
	err := fmt.Errorf("read: %w", errors.Join(io.EOF, context.Canceled))
	var names []string
	for _, n := range Matching(err, Standard) {
		names = append(names, n.Name)
	}
	if want := []string{"context.Canceled", "io.EOF"}; !slices.Equal(names, want) {
		t.Errorf("matched %v, want %v", names, want)
	}
	if got := Matching(errors.New("other"), Standard); got != nil {
		t.Errorf("an unrelated error matched %v", got)
	}
	if got := Matching(io.EOF, nil); got != nil {
		t.Errorf("matched %v of no sentinels", got)
	}
}

func TestIsTimeout(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("wrapped: %w", os.ErrDeadlineExceeded), true},
		{context.DeadlineExceeded, true},
		{io.EOF, false},
		{nil, false},
	} {
		if got := IsTimeout(c.err); got != c.want {
			t.Errorf("IsTimeout(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
