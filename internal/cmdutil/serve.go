package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Serve serves srv on ln until ctx is done, then shuts it down, waiting at
// most grace for the requests in progress, and says on errOut that the
// command name ("collect", "view") stopped. Its errors name the command.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, name string, grace time.Duration, errOut io.Writer) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: shutdown: %w", name, err)
	}
	fmt.Fprintf(errOut, "agentrr %s: stopped\n", name)
	return nil
}
