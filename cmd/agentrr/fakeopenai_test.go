package main_test

import (
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/agentrr/agentrr/internal/fakeapi"
)

// fakeServers holds each script's fake OpenAI server.
var fakeServers struct {
	mu sync.Mutex
	m  map[*testscript.TestScript]*fakeServer
}

type fakeServer struct {
	*fakeapi.Server
	seen int // requests already checked by `fakeopenai requests`
}

// fakeAPIKey is the key the scripts' fake server requires: a fork that
// talks to it shows the agent's key reached the live calls.
const fakeAPIKey = "sk-fake-script-key"

// cmdFakeOpenAI runs a fake OpenAI server (internal/fakeapi) in the test
// process for the rest of the script:
//
//	fakeopenai start [-answer-early N,M,...]   start it; set OPENAI_BASE_URL and OPENAI_API_KEY for the agents.
//	                                           With -answer-early, the model answers instead of calling a tool
//	                                           at those decisions (1, 2, …: the times it is about to call one)
//	fakeopenai requests N [FILE]               fail unless it answered N requests since it started or since the
//	                                           last check; write their bodies, one a line, to FILE
func cmdFakeOpenAI(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: fakeopenai start [-answer-early N,M,...] | fakeopenai requests N [FILE]")
	}
	fakeServers.mu.Lock()
	defer fakeServers.mu.Unlock()
	srv := fakeServers.m[ts]
	switch args[0] {
	case "start":
		if srv != nil {
			ts.Fatalf("fakeopenai: already started")
		}
		s := fakeapi.New()
		switch {
		case len(args) == 3 && args[1] == "-answer-early":
			early := map[int]bool{}
			for _, f := range strings.Split(args[2], ",") {
				n, err := strconv.Atoi(f)
				ts.Check(err)
				early[n] = true
			}
			s.AnswerEarly = func(n int) bool { return early[n] }
		case len(args) != 1:
			ts.Fatalf("usage: fakeopenai start [-answer-early N,M,...]")
		}
		// Under the server's lock, after AnswerEarly is set: its handlers
		// run for the agents the script starts.
		s.Configure(fakeAPIKey, s.EventDelay)
		if fakeServers.m == nil {
			fakeServers.m = map[*testscript.TestScript]*fakeServer{}
		}
		fakeServers.m[ts] = &fakeServer{Server: s}
		ts.Defer(func() {
			s.Close()
			fakeServers.mu.Lock()
			delete(fakeServers.m, ts)
			fakeServers.mu.Unlock()
		})
		ts.Setenv("OPENAI_BASE_URL", s.OpenAIBaseURL())
		ts.Setenv("OPENAI_API_KEY", fakeAPIKey)
	case "requests":
		if srv == nil {
			ts.Fatalf("fakeopenai requests: no server (fakeopenai start first)")
		}
		if len(args) < 2 || len(args) > 3 {
			ts.Fatalf("usage: fakeopenai requests N [FILE]")
		}
		want, err := strconv.Atoi(args[1])
		ts.Check(err)
		reqs := srv.Requests()[srv.seen:]
		srv.seen += len(reqs)
		var bodies strings.Builder
		for _, r := range reqs {
			bodies.WriteString(strings.ReplaceAll(string(r.Body), "\n", " "))
			bodies.WriteByte('\n')
		}
		if len(args) == 3 {
			ts.Check(writeFile(ts, args[2], bodies.String()))
		}
		if len(reqs) != want {
			ts.Fatalf("the fake server answered %d requests, want %d:\n%s", len(reqs), want, bodies.String())
		}
	default:
		ts.Fatalf("fakeopenai: unknown subcommand %q", args[0])
	}
}

func writeFile(ts *testscript.TestScript, name, content string) error {
	return os.WriteFile(ts.MkAbs(name), []byte(content), 0o600)
}
