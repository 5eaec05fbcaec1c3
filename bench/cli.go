package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/agentrr/agentrr/bench/internal/payload"
	"github.com/agentrr/agentrr/boundary"
)

// buildBinaries builds bin/agentrr (unless agentrr names an existing
// binary) and the bench agent; it returns their paths.
func buildBinaries(repo, data, agentrr string) (string, string, error) {
	if agentrr == "" {
		agentrr = filepath.Join(repo, "bin", "agentrr")
		cmd := exec.Command("go", "build", "-o", agentrr, "./cmd/agentrr")
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("build agentrr: %v\n%s", err, out)
		}
	}
	agent := filepath.Join(data, "benchagent")
	cmd := exec.Command("go", "build", "-o", agent, "./cmd/benchagent")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("build the bench agent: %v\n%s", err, out)
	}
	return agentrr, agent, nil
}

// cliReplay is P3d: the wall time of `agentrr replay` of run t with the
// bench agent making t.n tool calls, process starts included; seconds.
func cliReplay(agentrr, agent string, t recorded) (float64, error) {
	return timed(exec.Command(agentrr, "--store", t.store, "replay", "--from-trace", t.id, "--", agent, "-n", strconv.Itoa(t.n)), "agentrr replay")
}

// timed runs cmd and returns its wall time in seconds, process start
// included. A failure is told as what failed, with the command's output.
func timed(cmd *exec.Cmd, what string) (float64, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	secs := time.Since(start).Seconds()
	if err != nil {
		return 0, fmt.Errorf("%s: %v\n%s", what, err, out.String())
	}
	return secs, nil
}

// hasCollect reports whether the agentrr binary has the collect command.
func hasCollect(agentrr string) bool {
	return exec.Command(agentrr, "collect", "--help").Run() == nil
}

// ingest is P5: OTLP/HTTP protobuf requests of batch boundary spans each
// (1 KB payloads) posted to `agentrr collect` by clients concurrent senders,
// each its own run, reqs requests each; spans durably acknowledged per
// second.
func ingest(agentrr, root string, clients, reqs, batch int) (float64, error) {
	store := filepath.Join(root, "ingest")
	os.RemoveAll(store)
	defer os.RemoveAll(store)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(agentrr, "--store", store, "collect", "--listen", addr)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	}()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("agentrr collect did not listen on %s: %s", addr, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	body, err := boundary.Canonical(payload.Text(1024, 1))
	if err != nil {
		return 0, err
	}
	// Every request is encoded before the clock starts.
	bodies := make([][][]byte, clients)
	for c := range clients {
		var tid [16]byte
		binary.BigEndian.PutUint64(tid[:8], uint64(time.Now().UnixNano()))
		binary.BigEndian.PutUint64(tid[8:], uint64(c)+1)
		for r := range reqs {
			b, err := otlpRequest(tid, int64(r*batch), batch, body)
			if err != nil {
				return 0, err
			}
			bodies[c] = append(bodies[c], b)
		}
	}
	client := &http.Client{Timeout: time.Minute}
	start := time.Now()
	werr := inParallel(clients, func(c int) error {
		for _, b := range bodies[c] {
			resp, err := client.Post("http://"+addr+"/v1/traces", "application/x-protobuf", bytes.NewReader(b))
			if err != nil {
				return err
			}
			var msg bytes.Buffer
			msg.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("collect answered %s: %s", resp.Status, strings.TrimSpace(msg.String()))
			}
		}
		return nil
	})
	secs := time.Since(start).Seconds()
	if werr != nil {
		return 0, werr
	}
	return float64(clients*reqs*batch) / secs, nil
}

// otlpRequest encodes an OTLP export request of n boundary spans of trace
// tid with seqs from first on, each with request and response body.
func otlpRequest(tid [16]byte, first int64, n int, body []byte) ([]byte, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "bench")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	now := pcommon.NewTimestampFromTime(time.Now())
	sig := boundary.Signature(boundary.KindTool, "search", body)
	hash := boundary.PayloadHash(body, body, "")
	for i := range n {
		seq := first + int64(i)
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID(tid))
		var sid [8]byte
		binary.BigEndian.PutUint64(sid[:], uint64(seq)+1)
		sp.SetSpanID(pcommon.SpanID(sid))
		sp.SetName("execute_tool search")
		sp.SetStartTimestamp(now)
		sp.SetEndTimestamp(now)
		a := sp.Attributes()
		a.PutStr(boundary.AttrKind, string(boundary.KindTool))
		a.PutInt(boundary.AttrSeq, seq)
		a.PutStr(boundary.AttrName, "search")
		a.PutStr(boundary.AttrRequest, string(body))
		a.PutInt(boundary.AttrRequestLength, int64(len(body)))
		a.PutStr(boundary.AttrResponse, string(body))
		a.PutInt(boundary.AttrResponseLength, int64(len(body)))
		a.PutStr(boundary.AttrSignature, sig)
		a.PutStr(boundary.AttrPayloadHash, hash)
	}
	return ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
}
