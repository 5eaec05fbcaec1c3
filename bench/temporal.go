package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/agentrr/agentrr/bench/internal/payload"
)

// temporalDoc is the 1 KB input and result of every activity.
var temporalDoc = payload.Text(1024, 1)

// BenchWorkflow runs n activities one after the other, each with a 1 KB
// input and result: the Temporal shape of a run of n boundaries.
func BenchWorkflow(ctx workflow.Context, n int) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for range n {
		var out payload.Doc
		if err := workflow.ExecuteActivity(ctx, "search", temporalDoc).Get(ctx, &out); err != nil {
			return err
		}
	}
	return nil
}

// temporalHistory builds the history of BenchWorkflow(n): workflow start,
// then 6 events per activity (scheduled, started, completed, and the
// workflow task that follows), then completion. raw is the payload bytes
// it holds (inputs and results).
func temporalHistory(n int) (h *historypb.History, raw int, err error) {
	dc := converter.GetDefaultDataConverter()
	in, err := dc.ToPayloads(n)
	if err != nil {
		return nil, 0, err
	}
	doc, err := dc.ToPayloads(temporalDoc)
	if err != nil {
		return nil, 0, err
	}
	tq := &taskqueuepb.TaskQueue{Name: "bench"}
	ev := func(id int64, t enumspb.EventType) *historypb.HistoryEvent {
		return &historypb.HistoryEvent{EventId: id, EventType: t}
	}
	wft := func(id int64) []*historypb.HistoryEvent {
		s, st, c := ev(id, enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED), ev(id+1, enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED), ev(id+2, enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
		s.Attributes = &historypb.HistoryEvent_WorkflowTaskScheduledEventAttributes{WorkflowTaskScheduledEventAttributes: &historypb.WorkflowTaskScheduledEventAttributes{TaskQueue: tq}}
		st.Attributes = &historypb.HistoryEvent_WorkflowTaskStartedEventAttributes{WorkflowTaskStartedEventAttributes: &historypb.WorkflowTaskStartedEventAttributes{ScheduledEventId: id}}
		c.Attributes = &historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes{WorkflowTaskCompletedEventAttributes: &historypb.WorkflowTaskCompletedEventAttributes{ScheduledEventId: id, StartedEventId: id + 1}}
		return []*historypb.HistoryEvent{s, st, c}
	}
	start := ev(1, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
	start.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
		WorkflowType: &commonpb.WorkflowType{Name: "BenchWorkflow"}, TaskQueue: tq, Input: in,
	}}
	events := append([]*historypb.HistoryEvent{start}, wft(2)...)
	for i := range n {
		id := int64(5 + 6*i)
		s := ev(id, enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
		s.Attributes = &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
			ActivityId: strconv.FormatInt(id, 10), ActivityType: &commonpb.ActivityType{Name: "search"}, TaskQueue: tq, Input: doc,
			WorkflowTaskCompletedEventId: id - 1,
		}}
		st := ev(id+1, enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED)
		st.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{ScheduledEventId: id}}
		c := ev(id+2, enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
		c.Attributes = &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{ScheduledEventId: id, StartedEventId: id + 1, Result: doc}}
		events = append(events, s, st, c)
		events = append(events, wft(id+3)...)
		raw += 2 * len(doc.Payloads[0].Data)
	}
	last := int64(5 + 6*n)
	done := ev(last, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
	done.Attributes = &historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes{WorkflowExecutionCompletedEventAttributes: &historypb.WorkflowExecutionCompletedEventAttributes{WorkflowTaskCompletedEventId: last - 1}}
	events = append(events, done)
	return &historypb.History{Events: events}, raw, nil
}

// temporalResult is one Temporal replay of an n-activity history.
type temporalResult struct {
	memS, fileS float64
	sizeRatio   float64
}

// temporalRun replays the n-activity history with the Temporal Go SDK's
// WorkflowReplayer, from memory and from a JSON file (as downloaded with
// `temporal workflow show --output json`).
func temporalRun(root string, n int) (temporalResult, error) {
	var res temporalResult
	h, raw, err := temporalHistory(n)
	if err != nil {
		return res, err
	}
	res.sizeRatio = float64(proto.Size(h)) / float64(raw)
	replay := func(f func(worker.WorkflowReplayer) error) (float64, error) {
		r := worker.NewWorkflowReplayer()
		r.RegisterWorkflow(BenchWorkflow)
		start := time.Now()
		err := f(r)
		return time.Since(start).Seconds(), err
	}
	res.memS, err = replay(func(r worker.WorkflowReplayer) error { return r.ReplayWorkflowHistory(nil, h) })
	if err != nil {
		return res, fmt.Errorf("temporal replay: %w", err)
	}
	js, err := temporalproto.CustomJSONMarshalOptions{}.Marshal(h)
	if err != nil {
		return res, err
	}
	file := filepath.Join(root, fmt.Sprintf("temporal-%d.json", n))
	if err := os.WriteFile(file, js, 0o600); err != nil {
		return res, err
	}
	defer os.Remove(file)
	res.fileS, err = replay(func(r worker.WorkflowReplayer) error { return r.ReplayWorkflowHistoryFromJSONFile(nil, file) })
	if err != nil {
		return res, fmt.Errorf("temporal replay from %s: %w", file, err)
	}
	return res, nil
}
