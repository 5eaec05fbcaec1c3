package view_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agentrr/agentrr/boundary"
	"github.com/agentrr/agentrr/internal/cmdutil/cmdtest"
	"github.com/agentrr/agentrr/internal/view"
	"github.com/agentrr/agentrr/otelrr"
	"github.com/agentrr/agentrr/replayer"
	"github.com/agentrr/agentrr/spanlog"
)

const helpful = "You are a helpful support agent."

// fixture is a store with a recording of cmdtest.Agent and a replay of it
// by an agent whose system prompt was edited (it diverges at seq 2).
type fixture struct {
	dir, rec, replay string
	srv              *httptest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	rec := cmdtest.Record(t, dir, "support", cmdtest.Agent(helpful))
	replay, rep := cmdtest.Replay(t, dir, rec, cmdtest.Agent("You are a terse support agent."))
	if rep.Faithful() {
		t.Fatal("the edited agent replayed faithfully")
	}
	srv := httptest.NewServer(view.Handler(cmdtest.StoreFunc(dir)))
	t.Cleanup(srv.Close)
	return &fixture{dir: dir, rec: rec, replay: replay, srv: srv}
}

// get fetches path and decodes its JSON answer into v (when not nil),
// failing unless the status is want.
func (f *fixture) get(t *testing.T, path string, want int, v any) string {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s, want %d", path, resp.StatusCode, body, want)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, body)
		}
	}
	return string(body)
}

func TestRunListHasEveryRunAndItsReplays(t *testing.T) {
	f := newFixture(t)
	var doc view.RunsDoc
	f.get(t, "/api/runs", 200, &doc)
	if len(doc.Runs) != 2 || doc.Store == "" {
		t.Fatalf("runs = %+v", doc)
	}
	byID := map[string]spanlog.RunInfo{}
	for _, r := range doc.Runs {
		byID[r.TraceID] = r
	}
	if r := byID[f.replay]; r.ReplayOf != f.rec || r.Ended == nil || r.Ended.Verdict != "diverged" {
		t.Errorf("the replay is listed as %+v", r)
	}
	if r := byID[f.rec]; r.Status != spanlog.StatusComplete || r.Boundaries != 7 {
		t.Errorf("the recording is listed as %+v", r)
	}
}

func TestRunDocumentIsTheTimelineWithItsLinks(t *testing.T) {
	f := newFixture(t)
	var rec, rep view.RunDoc
	f.get(t, "/api/runs/"+f.rec[:8], 200, &rec) // a prefix will do
	if rec.Run.TraceID != f.rec || len(rec.Boundaries) != 7 {
		t.Fatalf("run = %+v with %d boundaries", rec.Run, len(rec.Boundaries))
	}
	if b := rec.Boundaries[2]; b.Kind != boundary.KindLLM || b.DurationNS <= 0 || b.InputTokens == nil || *b.InputTokens != 12 {
		t.Errorf("seq 2 = %+v", b)
	}
	if rec.Boundaries[4].Status != "error" {
		t.Errorf("seq 4 (a failed tool call) has status %q", rec.Boundaries[4].Status)
	}
	if len(rec.Replays) != 1 || rec.Replays[0].TraceID != f.replay || rec.Original != nil {
		t.Errorf("replays = %+v, original = %+v", rec.Replays, rec.Original)
	}
	f.get(t, "/api/runs/"+f.replay, 200, &rep)
	if rep.Original == nil || rep.Original.TraceID != f.rec || rep.Boundaries[2].Status != "diverged" {
		t.Errorf("replay: original %+v, seq 2 %+v", rep.Original, rep.Boundaries[2])
	}
}

func TestBoundaryDocumentReadsAnLLMCallAsAConversation(t *testing.T) {
	f := newFixture(t)
	var doc view.BoundaryDoc
	f.get(t, "/api/runs/"+f.rec+"/boundaries/6", 200, &doc)
	if doc.Boundary.Seq != 6 || !bytes.Contains(doc.Boundary.Request, []byte("delayed at the depot")) {
		t.Fatalf("boundary = %+v", doc.Boundary)
	}
	c := doc.Conversation
	if c == nil || c.Source != "payload" || len(c.Input) != 3 || len(c.Output) != 1 {
		t.Fatalf("conversation = %+v", c)
	}
	roles := []string{c.Input[0].Role, c.Input[1].Role, c.Input[2].Role, c.Output[0].Role}
	if strings.Join(roles, ",") != "system,user,tool,assistant" {
		t.Errorf("roles = %v", roles)
	}
	if p := c.Input[0].Parts[0]; p.Type != "text" || p.Content != helpful {
		t.Errorf("system part = %+v", p)
	}
	if p := c.Output[0].Parts[0]; p.Type != "text" || p.Content != "answer to 3 messages" {
		t.Errorf("answer = %+v", p)
	}
	// A tool call is no conversation; a failed one has its error.
	var tool view.BoundaryDoc
	f.get(t, "/api/runs/"+f.rec+"/boundaries/4", 200, &tool)
	if tool.Conversation != nil || tool.Boundary.Error != "order B-2 not found" || tool.Boundary.Response != nil {
		t.Errorf("seq 4 = %+v, conversation %+v", tool.Boundary, tool.Conversation)
	}
}

func TestDivergenceOfAReplayIsItsComparisonWithTheRecording(t *testing.T) {
	f := newFixture(t)
	var d view.DivergenceDoc
	f.get(t, "/api/runs/"+f.replay+"/divergence", 200, &d)
	c := d.Comparison
	if d.Original != f.rec || c.Identical || c.A.TraceID != f.rec || c.B.TraceID != f.replay {
		t.Fatalf("divergence = %+v", d)
	}
	e := c.First()
	if e.SeqA != 2 || e.SeqB != 2 || len(e.RequestDiff) != 1 || e.RequestDiff[0].Path != "messages[0].content" {
		t.Errorf("first divergence = %+v", e)
	}
	body := f.get(t, "/api/runs/"+f.rec+"/divergence", 404, nil)
	if !strings.Contains(body, "not a replay") {
		t.Errorf("divergence of a recording: %s", body)
	}
	// Any two runs compare as agentrr diff compares them.
	var cmp struct {
		Identical       bool `json:"identical"`
		FirstDivergence int  `json:"first_divergence"`
		Removed         int  `json:"removed"`
	}
	f.get(t, "/api/compare?a="+f.rec+"&b="+f.replay, 200, &cmp)
	if cmp.Identical || cmp.FirstDivergence != 2 || cmp.Removed != 4 {
		t.Errorf("compare = %+v", cmp)
	}
	f.get(t, "/api/compare?a="+f.rec+"&b="+f.rec, 200, &cmp)
	if !cmp.Identical {
		t.Error("a run differs from itself")
	}
	f.get(t, "/api/compare?a="+f.rec, 400, nil)
}

func TestWhyAnswersWhereARequestsTextCameFrom(t *testing.T) {
	f := newFixture(t)
	var w view.WhyDoc
	f.get(t, "/api/runs/"+f.rec+"/why?seq=6", 200, &w)
	if w.TraceID != f.rec || w.Seq != 6 || w.Searched != 6 {
		t.Fatalf("why = %+v", w)
	}
	found := map[string]int64{}
	for _, s := range w.Strings {
		if s.Found > 0 {
			found[s.Path] = s.Fragments[0].Sources[0].Seq
		}
	}
	if len(found) != 1 || found["messages[2].content"] != 3 {
		t.Errorf("found %v, want messages[2].content from seq 3 (the tool) alone", found)
	}
	f.get(t, "/api/runs/"+f.rec+"/why?seq=6&path=messages[0].content&min=20", 200, &w)
	if len(w.Strings) != 1 || w.Found != 0 || w.MinLength != 20 || w.Strings[0].SentBefore == nil || w.Strings[0].SentBefore.Seq != 2 {
		t.Errorf("the system prompt: %+v", w.Strings)
	}
	for _, bad := range []string{"?seq=6&path=messages[9]", "?seq=6&min=0", "?seq=x", "?seq=99"} {
		f.get(t, "/api/runs/"+f.rec+"/why"+bad, 400, nil)
	}
}

func TestErrorsSayWhatIsWrong(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/api/runs/ffffffffffffffffffffffffffffffff", 404, "no such run"},
		{"/api/runs/xyz", 400, "not hexadecimal"},
		{"/api/runs/" + f.rec + "/boundaries/99", 400, "seq 99 is out of range"},
		{"/api/runs/" + f.rec + "/boundaries/-1", 400, "want a boundary's seq"},
		{"/api/nothing", 404, "no such API"},
	} {
		var e struct{ Error string }
		f.get(t, tc.path, tc.code, &e)
		if !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: error %q, want %q", tc.path, e.Error, tc.want)
		}
	}
}

// A run being recorded is listed and shown as such; once its recorder ends
// it, the same URLs show it whole: what the page's polling relies on.
func TestARunBeingRecordedShowsUpWhenItEnds(t *testing.T) {
	dir := t.TempDir()
	store, err := spanlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := cmdtest.NewTraceID()
	w, err := cmdtest.StartRecording(store, spanlog.RunMeta{TraceID: id, Name: "live", PID: 4242}, cmdtest.SampleBoundaries(3))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: httptest.NewServer(view.Handler(cmdtest.StoreFunc(dir)))}
	defer f.srv.Close()
	var doc view.RunDoc
	f.get(t, "/api/runs/"+id, 200, &doc)
	if doc.Run.Status != spanlog.StatusRecording || len(doc.Boundaries) != 0 {
		t.Fatalf("a run being recorded: %+v", doc.Run)
	}
	var st spanlog.RunInfo
	f.get(t, "/api/runs/"+id+"/status", 200, &st)
	if st.Status != spanlog.StatusRecording {
		t.Fatalf("status = %+v", st)
	}
	f.get(t, "/api/runs/"+id+"/boundaries/0", 409, nil)
	if err := w.Finish(spanlog.RunEnd{End: time.Now()}); err != nil {
		t.Fatal(err)
	}
	f.get(t, "/api/runs/"+id+"/status", 200, &st)
	if st.Status != spanlog.StatusComplete || st.Boundaries != 3 {
		t.Fatalf("status after the end = %+v", st)
	}
	f.get(t, "/api/runs/"+id, 200, &doc)
	if len(doc.Boundaries) != 3 {
		t.Errorf("after the end: %d boundaries", len(doc.Boundaries))
	}
}

func TestOnlyLoopbackHostsAreAnswered(t *testing.T) {
	f := newFixture(t)
	for host, want := range map[string]int{
		"evil.example":     403, // a name rebound to 127.0.0.1
		"evil.example:80":  403,
		"192.168.1.7:7777": 403,
		"localhost:7777":   200,
		"127.0.0.1":        200,
		"[::1]:7777":       200,
	} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/runs", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
}

// externalRef finds references a page would load from elsewhere.
var externalRef = regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?\s*(https?:)?//|@import|url\(\s*["']?(https?:)?//|fetch\(\s*["']https?:`)

func TestThePageLoadsNothingFromElsewhere(t *testing.T) {
	f := newFixture(t)
	resp, err := http.Get(f.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if !bytes.Contains(page, []byte(`<script src="/assets/app.js">`)) {
		t.Fatalf("page:\n%s", page)
	}
	for _, asset := range []string{"/", "/assets/app.js", "/assets/app.css"} {
		body := f.get(t, asset, 200, nil)
		if m := externalRef.FindString(body); m != "" {
			t.Errorf("%s refers to elsewhere: %q", asset, m)
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
			t.Errorf("%s holds an absolute URL", asset)
		}
	}
}

func TestReportIsOneSelfContainedFile(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	info, err := view.WriteReport(&buf, cmdtest.StoreFunc(f.dir), f.replay[:10], time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if info.Run != f.replay || info.Original != f.rec || info.Boundaries != 3+7 || info.WhyOmitted {
		t.Errorf("info = %+v", info)
	}
	page := buf.String()
	if m := externalRef.FindString(page); m != "" {
		t.Errorf("the report refers to elsewhere: %q", m)
	}
	if strings.Contains(page, `src="`) || strings.Contains(page, "<link") {
		t.Error("the report loads a script or style")
	}
	if !strings.Contains(page, `<meta http-equiv="Content-Security-Policy" content="default-src 'none';`) {
		t.Error("no Content Security Policy")
	}
	data := embeddedData(t, page)
	for _, key := range []string{
		"/api/runs", "/api/runs/" + f.replay, "/api/runs/" + f.rec, "/api/runs/" + f.replay + "/divergence",
		"/api/runs/" + f.rec + "/boundaries/6", "/api/runs/" + f.replay + "/boundaries/2", "/api/runs/" + f.rec + "/why?seq=6",
		"/api/compare?a=" + f.rec + "&b=" + f.replay,
	} {
		if _, ok := data.Docs[key]; !ok {
			t.Errorf("the report lacks %s", key)
		}
	}
}

type reportData struct {
	Report view.ReportInfo            `json:"report"`
	Docs   map[string]json.RawMessage `json:"docs"`
}

func embeddedData(t *testing.T, page string) reportData {
	t.Helper()
	const open = `<script type="application/json" id="agentrr-data">`
	i := strings.Index(page, open)
	j := strings.Index(page[i:], "</script>")
	if i < 0 || j < 0 {
		t.Fatal("no embedded data")
	}
	var d reportData
	if err := json.Unmarshal([]byte(page[i+len(open):i+j]), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// Text from the store never ends the report's script element, and values
// the recorder redacted are shown redacted: the view holds only what the
// store holds.
func TestReportAndViewShowOnlyWhatTheStoreHolds(t *testing.T) {
	dir := t.TempDir()
	const secret = "hunter2-correct-horse"
	id := cmdtest.Record(t, dir, "hostile", func(ctx context.Context) error {
		_, err := otelrr.Tool(ctx, "login", map[string]string{"user": "ann", "password": secret}, func(context.Context, map[string]string) (string, error) {
			return "</script><script>alert('pwned')</script> welcome <!-- ann", nil
		})
		return err
	}, otelrr.WithRedaction(otelrr.RedactKey("password")))
	var buf bytes.Buffer
	if _, err := view.WriteReport(&buf, cmdtest.StoreFunc(dir), id, time.Now()); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if strings.Contains(page, "alert('pwned')</script>") || strings.Contains(page, "<!-- ann") {
		t.Error("text from the store reached the report's markup unescaped")
	}
	if strings.Contains(page, secret) {
		t.Error("the report holds the redacted password")
	}
	data := embeddedData(t, page)
	if b := string(data.Docs["/api/runs/"+id+"/boundaries/0"]); !strings.Contains(b, "[redacted") || !strings.Contains(b, "pwned") {
		t.Errorf("boundary 0 in the report: %s", b)
	}
	srv := httptest.NewServer(view.Handler(cmdtest.StoreFunc(dir)))
	defer srv.Close()
	f := &fixture{srv: srv}
	if body := f.get(t, "/api/runs/"+id+"/boundaries/0", 200, nil); strings.Contains(body, secret) || !strings.Contains(body, "[redacted") {
		t.Errorf("the view shows %s", body)
	}
}

// A fork shows as one: where it left its recording, and which of its
// boundaries ran live.
func TestAForkShowsWhereItWentLive(t *testing.T) {
	dir := t.TempDir()
	rec := cmdtest.Record(t, dir, "support", cmdtest.Agent(helpful))
	fork, _ := cmdtest.Replay(t, dir, rec, cmdtest.Agent(helpful), replayer.ForkAt(3), replayer.AllLiveTools())
	f := &fixture{srv: httptest.NewServer(view.Handler(cmdtest.StoreFunc(dir)))}
	defer f.srv.Close()
	var doc view.RunDoc
	f.get(t, "/api/runs/"+fork, 200, &doc)
	if doc.Run.ReplayOf != rec || doc.Run.Ended == nil || doc.Run.Ended.ForkSeq == nil || *doc.Run.Ended.ForkSeq != 3 {
		t.Fatalf("fork = %+v, ended %+v", doc.Run, doc.Run.Ended)
	}
	if fmt.Sprint(doc.Live) != "[3 4 5 6]" {
		t.Errorf("live = %v, want seqs 3-6", doc.Live)
	}
	var orig view.RunDoc
	f.get(t, "/api/runs/"+rec, 200, &orig)
	if len(orig.Replays) != 1 || orig.Replays[0].TraceID != fork || orig.Live != nil {
		t.Errorf("the recording's replays = %+v, live %v", orig.Replays, orig.Live)
	}
}
