package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/agentrr/agentrr/internal/filetest"
)

// A store another user cannot read: a clear message and exit status 2,
// never a stack trace. Tests run as root here, and chmod does not stop
// root, so the command runs as the unprivileged user nobody (uid 65534)
// against a store that root recorded (owner-only, as every store is).
// Run as another user, the same store is made unreadable with chmod 000.
func TestUnreadableStore(t *testing.T) {
	agentrr, agent, _ := binaries(t)

	// A directory every user can enter, holding a copy of the command.
	pub, err := os.MkdirTemp("", "agentrr-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	cmdPath := filepath.Join(pub, "agentrr")
	filetest.CopyFile(t, agentrr, cmdPath, 0o755)

	store := filepath.Join(pub, "store")
	_, id := record(t, store, agent)
	if fi, err := os.Stat(store); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("store mode %v, %v: want 0700", fi.Mode().Perm(), err)
	}

	asOther := func(args ...string) *exec.Cmd {
		c := exec.Command(cmdPath, args...)
		c.Env = []string{"AGENTRR_STORE=" + store, "PATH=/usr/bin:/bin", "HOME=/"}
		if os.Getuid() == 0 {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		return c
	}
	if os.Getuid() != 0 {
		if err := os.Chmod(store, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(store, 0o700) })
	}
	for _, args := range [][]string{{"runs"}, {"show", id}, {"verify", "--all"}, {"replay", "--from-trace", id, "--", agent}} {
		c := asOther(args...)
		out, err := c.CombinedOutput()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 2 || !strings.Contains(string(out), "permission denied") || !strings.Contains(string(out), "run agentrr as that user") {
			t.Errorf("agentrr %s as another user: exit %d (%v), want 2 with a permission message:\n%s", strings.Join(args, " "), code, err, out)
		}
		if strings.Contains(string(out), "goroutine ") {
			t.Errorf("stack trace:\n%s", out)
		}
	}
}
