package view_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentrr/agentrr/internal/cmd/view"
	"github.com/agentrr/agentrr/internal/cmdutil"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/spanlog"
)

func TestViewServesTheStoreOnLoopbackUntilCancelled(t *testing.T) {
	dir, id := cmdtest.StoreWithRun(t, "hello")
	io, stdout, stderr := cmdtest.Streams()
	ready := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- view.Run(ctx, &view.Options{IO: io, Store: cmdtest.StoreFunc(dir), TraceID: id[:6], Listen: "127.0.0.1:0", Ready: func(u string) { ready <- u }})
	}()
	var url string
	select {
	case url = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("the view did not start")
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/#/run/"+id) {
		t.Errorf("url %q", url)
	}
	resp, err := http.Get(strings.TrimSuffix(url, "#/run/"+id) + "api/runs/" + id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io_ReadAll(resp)
	if resp.StatusCode != 200 || !strings.Contains(body, `"trace_id": "`+id+`"`) && !strings.Contains(body, `"trace_id":"`+id+`"`) {
		t.Errorf("GET the run: %d %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "agentrr view: "+url) || !strings.Contains(stderr.String(), "loopback only") || !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("stdout %q\nstderr %q", stdout, stderr)
	}
}

func io_ReadAll(resp *http.Response) (string, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestViewRefusesAddressesOffLoopback(t *testing.T) {
	dir, _ := cmdtest.StoreWithRun(t, "hello")
	for _, addr := range []string{"0.0.0.0:7777", ":7777", "192.168.1.2:80", "example.com:80", "nonsense"} {
		io, _, _ := cmdtest.Streams()
		err := view.Run(context.Background(), &view.Options{IO: io, Store: cmdtest.StoreFunc(dir), Listen: addr})
		if cmdutil.Code(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "--listen") {
			t.Errorf("--listen %s: %v (exit %d), want a usage error", addr, err, cmdutil.Code(err))
		}
	}
}

func TestViewOfAnUnknownRunFailsBeforeListening(t *testing.T) {
	dir, _ := cmdtest.StoreWithRun(t, "hello")
	io, stdout, _ := cmdtest.Streams()
	err := view.Run(context.Background(), &view.Options{IO: io, Store: cmdtest.StoreFunc(dir), TraceID: "ffffffff", Listen: "127.0.0.1:0"})
	if !errors.Is(err, spanlog.ErrNotFound) || cmdutil.Code(err) != cmdutil.ExitUsage || stdout.Len() != 0 {
		t.Errorf("err %v (exit %d), stdout %q", err, cmdutil.Code(err), stdout)
	}
	err = view.Run(context.Background(), &view.Options{IO: io, Store: cmdtest.StoreFunc(t.TempDir() + "/none"), Listen: "127.0.0.1:0"})
	if !errors.Is(err, spanlog.ErrNoStore) {
		t.Errorf("no store: %v", err)
	}
}

// When the default port is taken, the view takes another; a port named
// with --listen is not replaced.
func TestViewFallsBackFromATakenDefaultPort(t *testing.T) {
	dir, _ := cmdtest.StoreWithRun(t, "hello")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	io, _, stderr := cmdtest.Streams()
	err = view.Run(context.Background(), &view.Options{IO: io, Store: cmdtest.StoreFunc(dir), Listen: ln.Addr().String(), ListenSet: true})
	if cmdutil.Code(err) != cmdutil.ExitUsage {
		t.Errorf("a taken --listen port: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- view.Run(ctx, &view.Options{IO: io, Store: cmdtest.StoreFunc(dir), Listen: ln.Addr().String(), Ready: func(u string) { ready <- u }})
	}()
	select {
	case u := <-ready:
		if strings.Contains(u, ln.Addr().String()) {
			t.Errorf("served at the taken address: %s", u)
		}
	case err := <-done:
		t.Fatal(err)
	}
	cancel()
	<-done
	if !strings.Contains(stderr.String(), "is taken; using a free port") {
		t.Errorf("stderr %q", stderr)
	}
}
