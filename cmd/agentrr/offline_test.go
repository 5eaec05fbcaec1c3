package main_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// The no-network gate: every example agent, recorded normally, replays
// through `agentrr replay` with no network at all. The replay (agentrr and
// the agent it runs) is put in a network namespace of its own, which has
// only a loopback interface, down: any connection attempt fails, even to
// 127.0.0.1. A replay that tried to reach an LLM, a tool's server or a DNS
// server would fail or diverge; each one must be faithful (unstable_loop
// diverges by design, on its poll count, and must say so without a
// network error). Besides, the well-known LLM endpoint variables and the
// proxy variables point at a server that counts requests: it must count
// none.
//
// Where no namespace can be made (not root, and unprivileged user
// namespaces disabled), the test falls back to the proxy variables and the
// counter alone, and says so.

// isolation returns a function that puts a command in a network namespace
// without network, and how; nil when none can be made here.
func isolation(t *testing.T) (func(*exec.Cmd), string) {
	t.Helper()
	attempts := []struct {
		how  string
		attr func() *syscall.SysProcAttr
	}{
		{"a new network namespace (CLONE_NEWNET)", func() *syscall.SysProcAttr {
			return &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		}},
		{"a new user and network namespace (CLONE_NEWUSER|CLONE_NEWNET)", func() *syscall.SysProcAttr {
			return &syscall.SysProcAttr{
				Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
				UidMappings: []syscall.SysProcIDMap{{ContainerID: os.Getuid(), HostID: os.Getuid(), Size: 1}},
				GidMappings: []syscall.SysProcIDMap{{ContainerID: os.Getgid(), HostID: os.Getgid(), Size: 1}},
			}
		}},
	}
	for _, a := range attempts {
		probe := exec.Command("true")
		probe.SysProcAttr = a.attr()
		if err := probe.Run(); err == nil {
			return func(c *exec.Cmd) { c.SysProcAttr = a.attr() }, a.how
		} else {
			t.Logf("no %s: %v", a.how, err)
		}
	}
	return nil, ""
}

func TestReplayIsOffline(t *testing.T) {
	agentrr, _, _ := binaries(t)
	bin := exampleBin(t)
	isolate, how := isolation(t)
	if isolate == nil {
		t.Log("no network namespace can be made here: checking with the proxy variables and request counters only")
	} else {
		t.Logf("replays run in %s", how)
	}

	// A server any stray request would reach: it counts and fails them.
	var stray atomic.Int64
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stray.Add(1)
		http.Error(w, "replay must not make requests", http.StatusTeapot)
	}))
	defer trap.Close()
	// And a port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()

	if isolate != nil {
		// The control: in the namespace, a command that does use the
		// network (export to the trap server) cannot reach it.
		t.Run("control", func(t *testing.T) {
			store := filepath.Join(t.TempDir(), "store")
			_, id := record(t, store, filepath.Join(bin, "deterministic_support"))
			cmd := exec.Command(agentrr, "export", id, "--otlp-endpoint", trap.URL+"/v1/traces")
			cmd.Env = append(os.Environ(), "AGENTRR_STORE="+store)
			isolate(cmd)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "dial tcp") {
				t.Fatalf("export from inside the namespace: %v\n%s\nwant a failed dial: the namespace is not isolated", err, out)
			}
			if n := stray.Load(); n != 0 {
				t.Fatalf("the trap server was reached from inside the namespace (%d requests)", n)
			}
		})
	}

	for _, tc := range []struct {
		name    string
		example string
		args    []string
		// want is the replay's exit status and what its stdout says.
		wantExit int
		want     string
	}{
		{"deterministic_support", "deterministic_support", nil, 0, `faithful — 8 of 8 boundaries served`},
		{"tool_caller", "tool_caller", nil, 0, `faithful \(live model calls: 0, tool runs: 0\)`},
		{"openai_agent_stream", "openai_agent", []string{"-stream=true"}, 0, `replayed [0-9a-f]{32}: faithful \(tool runs: 0\)`},
		{"openai_agent_json", "openai_agent", []string{"-stream=false"}, 0, `replayed [0-9a-f]{32}: faithful \(tool runs: 0\)`},
		{"parallel_tools_stream", "parallel_tools", []string{"-stream=true"}, 0, `replayed [0-9a-f]{32}: faithful \(tool runs: 0\)`},
		{"parallel_tools_json", "parallel_tools", []string{"-stream=false"}, 0, `replayed [0-9a-f]{32}: faithful \(tool runs: 0\)`},
		{"broken_replay_cases_agent", "broken_replay_cases", []string{"agent", "-attachments", "2"}, 0, `faithful`},
		{"mcp_agent", "mcp_agent", nil, 0, `replayed [0-9a-f]{32}: faithful \(weather server started: false, events server requests: 0\)`},
		{"unstable_loop", "unstable_loop", nil, -1, `.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			example := filepath.Join(bin, tc.example)
			if _, err := os.Stat(example); err != nil {
				t.Skipf("example %s was not built: %v", tc.example, err)
			}
			store := filepath.Join(t.TempDir(), "store")
			_, id := record(t, store, example, tc.args...)

			cmd := exec.Command(agentrr, append([]string{"replay", "--from-trace", id, "--", example}, tc.args...)...)
			cmd.Env = append(os.Environ(), "AGENTRR_STORE="+store,
				"OPENAI_BASE_URL="+trap.URL+"/v1/", "ANTHROPIC_BASE_URL="+trap.URL,
				"HTTP_PROXY="+closed, "HTTPS_PROXY="+closed, "ALL_PROXY="+closed,
				"http_proxy="+closed, "https_proxy="+closed, "all_proxy="+closed, "NO_PROXY=", "no_proxy=")
			if isolate != nil {
				isolate(cmd)
			}
			r := runCmd(t, cmd)
			all := r.stdout + r.stderr
			if tc.wantExit >= 0 && r.code != tc.wantExit {
				t.Fatalf("replay exited %d, want %d:\n%s", r.code, tc.wantExit, all)
			}
			if tc.wantExit < 0 && r.code != 0 && r.code != 1 {
				t.Fatalf("replay exited %d, want a verdict (0 or 1):\n%s", r.code, all)
			}
			if !regexp.MustCompile(tc.want).MatchString(r.stdout) {
				t.Errorf("replay output lacks %q:\n%s", tc.want, all)
			}
			for _, netErr := range []string{"dial tcp", "network is unreachable", "connection refused", "no such host", "proxyconnect"} {
				if strings.Contains(all, netErr) {
					t.Errorf("replay met a network error (%q): it tried to reach the network:\n%s", netErr, all)
				}
			}
			if n := stray.Load(); n != 0 {
				t.Errorf("%d request(s) reached the trap server during replay", n)
			}
		})
	}
}
