package cli

import (
	"context"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/workflows"
)

// A change's bookkeeping rides on the commands it issues anyway (version
// "starts-together"), read from a real rollback's history on the dev
// server: the started notification goes out with the pull, the finished
// notification and the log export go out together and have both started
// before the change ends, and the last step's end is exported by the
// export child, not by an activity still running when the change ends.
func TestBookkeepingRidesOnTheChangesCommands(t *testing.T) {
	s := startServer(t)
	itest.StartWorker(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("trips")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")
		res := m.rollbackJSON(dep, "--to", "1", "--description", "round trips")
		wf, run := res.Revision.WorkflowID, res.Revision.RunID

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var events []*historypb.HistoryEvent
		it := s.Client.GetWorkflowHistory(ctx, wf, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, e)
		}
		// The workflow task that issued each command, by what it issued.
		issuedBy := map[string]int64{}
		started := map[string]bool{}
		exportsAfterFinish, finishScheduled, closed := 0, false, false
		// Since issue 31 (version store-local) the revision is marked
		// deployed by a local activity: the run's last LocalActivity marker
		// (its payload may be encrypted, so it is found by position).
		var lastLocal int64
		for _, e := range events {
			if e.GetEventType() == enumspb.EVENT_TYPE_MARKER_RECORDED && e.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" {
				lastLocal = e.GetEventId()
			}
		}
		for _, e := range events {
			if lastLocal > 0 && e.GetEventId() == lastLocal {
				finishScheduled = true
			}
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				a := e.GetActivityTaskScheduledEventAttributes()
				name := a.GetActivityType().GetName()
				if _, ok := issuedBy[name]; !ok {
					issuedBy[name] = a.GetWorkflowTaskCompletedEventId()
				}
				if name == "FinishRevision" {
					finishScheduled = true
				} else if name == "ExportEvents" && finishScheduled {
					exportsAfterFinish++
				}
			case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
				a := e.GetStartChildWorkflowExecutionInitiatedEventAttributes()
				issuedBy[a.GetWorkflowId()] = a.GetWorkflowTaskCompletedEventId()
			case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
				if !closed {
					started[e.GetChildWorkflowExecutionStartedEventAttributes().GetWorkflowExecution().GetWorkflowId()] = true
				}
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
				closed = true
			}
		}
		notifyStarted := workflows.NotifyWorkflowID(wf, run, notify.Started)
		notifyFinished := workflows.NotifyWorkflowID(wf, run, notify.Finished)
		export := workflows.ExportWorkflowID(wf, run)
		for _, id := range []string{notifyStarted, notifyFinished, export} {
			if issuedBy[id] == 0 || !started[id] {
				t.Fatalf("child %s: issued by workflow task %d, started before the change ended: %v", id, issuedBy[id], started[id])
			}
		}
		if issuedBy[notifyStarted] != issuedBy["PullImage"] {
			t.Errorf("the started notification was issued by workflow task %d, the pull by %d: want one", issuedBy[notifyStarted], issuedBy["PullImage"])
		}
		if issuedBy[notifyFinished] != issuedBy[export] {
			t.Errorf("the finished notification was issued by workflow task %d, the export by %d: want one", issuedBy[notifyFinished], issuedBy[export])
		}
		if !finishScheduled || exportsAfterFinish != 0 {
			t.Errorf("FinishRevision scheduled: %v; export activities after it: %d, want 0 (the export child has the last step)", finishScheduled, exportsAfterFinish)
		}
	})
}
