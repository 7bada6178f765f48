package action

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/workflows"
)

// Progress is a rewind workflow's state as every client reads it — `rewind
// watch` store-direct or remotely, the API's progress endpoint, the Deploy
// History page: Temporal's status, the workflow's "progress" query (steps,
// attempts, details), the activities running or waiting now, and how it
// ended.
type Progress struct {
	WorkflowID        string              `json:"workflowId"`
	RunID             string              `json:"runId"`
	WorkflowType      string              `json:"workflowType"`
	Status            string              `json:"status"` // Temporal's: RUNNING, COMPLETED, FAILED, …
	Done              bool                `json:"done"`
	Progress          *workflows.Progress `json:"progress,omitempty"`
	PendingActivities []PendingActivity   `json:"pendingActivities"`
	Error             *domain.ErrorDetail `json:"error,omitempty"`
	// Result is the workflow's result once it COMPLETED (a DeployResult,
	// RollbackResult, …): what `rewind deploy --wait` prints remotely. It
	// carries only what workflow payloads carry: redacted deployments.
	Result json.RawMessage `json:"result,omitempty"`
}

// PendingActivity is one activity running (or waiting to retry) now.
type PendingActivity struct {
	Activity    string         `json:"activity"`
	State       string         `json:"state"`
	Attempt     int32          `json:"attempt"`
	LastFailure string         `json:"lastFailure,omitempty"`
	Heartbeat   map[string]any `json:"heartbeat,omitempty"`
	// TaskQueue is where it was scheduled; WaitingForHost names the host
	// whose worker it waits for (scheduled on a host queue, not started).
	TaskQueue      string `json:"taskQueue,omitempty"`
	WaitingForHost string `json:"waitingForHost,omitempty"`
}

// WaitingHost is the host a pending activity waits for a worker of, or "".
// A change runs on its deployment's one host, so the page marks its running
// steps as waiting for that host (progress.js does the same from the JSON).
func (p *Progress) WaitingHost() string {
	for _, a := range p.PendingActivities {
		if a.WaitingForHost != "" {
			return a.WaitingForHost
		}
	}
	return ""
}

// UnavailableError says a service rewind needs (Temporal) did not answer;
// its own message, which may name an address, is logged, not shown.
type UnavailableError struct{ Msg string }

func (e *UnavailableError) Error() string { return e.Msg }

// ReadProgress is the one reader of a workflow's progress. Who may read it
// is decided before (the API checks the caller may read the deployment).
type ReadProgress struct {
	Temporal client.Client
	// DataConverter decodes heartbeat details (and decrypts them when
	// payload keys are set).
	DataConverter converter.DataConverter
	Log           *slog.Logger
}

// Run reads workflowID's run (the latest when runID is empty).
func (a *ReadProgress) Run(ctx context.Context, workflowID, runID string) (*Progress, error) {
	if workflowID == "" || len(workflowID) > 255 || strings.ContainsAny(workflowID, "\x00\r\n") {
		return nil, domain.Errorf(domain.InvalidInput, "workflow id must be 1-255 printable characters")
	}
	if len(runID) > 64 {
		return nil, domain.Errorf(domain.InvalidInput, "runId is too long")
	}
	tc := a.Temporal
	desc, err := tc.DescribeWorkflowExecution(ctx, workflowID, runID)
	var nf *serviceerror.NotFound
	var ia *serviceerror.InvalidArgument
	switch {
	case errors.As(err, &nf):
		return nil, domain.Errorf(domain.NotFound, "no workflow %s (deploys and rollbacks run as change/<deployment>)", workflowID)
	case errors.As(err, &ia):
		return nil, domain.Errorf(domain.InvalidInput, "the run id is not valid")
	case err != nil:
		if a.Log != nil {
			a.Log.Warn("progress: Temporal did not answer", "workflowId", workflowID, "error", err)
		}
		return nil, &UnavailableError{"Temporal did not answer; try again"}
	}
	info := desc.GetWorkflowExecutionInfo()
	if dep := workflows.DeploymentOfWorkflow(workflowID); dep != "" {
		if sa := info.GetSearchAttributes().GetIndexedFields()[workflows.AttrDeployment.GetName()]; sa != nil {
			var tagged string
			if converter.GetDefaultDataConverter().FromPayload(sa, &tagged) == nil && tagged != "" && tagged != dep {
				// Started by hand under another deployment's id: not this one's.
				return nil, domain.Errorf(domain.NotFound, "no workflow %s (deploys and rollbacks run as change/<deployment>)", workflowID)
			}
		}
	}
	runID = info.GetExecution().GetRunId()
	p := &Progress{WorkflowID: workflowID, RunID: runID, WorkflowType: info.GetType().GetName(),
		Status: strings.TrimPrefix(enumspb.WorkflowExecutionStatus_name[int32(info.GetStatus())], "WORKFLOW_EXECUTION_STATUS_"), PendingActivities: []PendingActivity{}}
	p.Done = info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if v, err := tc.QueryWorkflow(qctx, workflowID, runID, workflows.ProgressQuery); err == nil {
		var wp workflows.Progress
		if v.Get(&wp) == nil {
			p.Progress = &wp
		}
	}
	now := time.Now()
	for _, pa := range desc.GetPendingActivities() {
		act := PendingActivity{Activity: pa.GetActivityType().GetName(), Attempt: pa.GetAttempt(),
			State:     strings.TrimPrefix(enumspb.PendingActivityState_name[int32(pa.GetState())], "PENDING_ACTIVITY_STATE_"),
			TaskQueue: pa.GetActivityOptions().GetTaskQueue().GetName(), WaitingForHost: WaitingForHost(pa, now)}
		if f := pa.GetLastFailure(); f != nil {
			act.LastFailure = f.GetMessage()
		}
		if hb := pa.GetHeartbeatDetails(); hb != nil && a.DataConverter != nil {
			var d map[string]any
			if a.DataConverter.FromPayloads(hb, &d) == nil {
				act.Heartbeat = d
			}
		}
		p.PendingActivities = append(p.PendingActivities, act)
	}
	switch {
	case info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
		defer gcancel()
		var raw json.RawMessage
		if err := tc.GetWorkflow(gctx, workflowID, runID).Get(gctx, &raw); err == nil && len(raw) > 0 {
			p.Result = raw
		}
	case p.Done:
		gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
		defer gcancel()
		if err := tc.GetWorkflow(gctx, workflowID, runID).Get(gctx, nil); err != nil {
			d := Detail(err)
			if d.Type == "" {
				d = domain.ErrorDetail{Type: p.Status, Message: Message(err)}
			}
			p.Error = &d
		}
	}
	return p, nil
}

// WaitingForHost names the host whose worker a pending activity waits for:
// scheduled on a host queue (<queue>@<host>), not started, and not in a
// retry's backoff. "" otherwise. This is what `rewind watch` and the page
// show for a change on a host whose worker is down (issue 13).
func WaitingForHost(pa *workflowpb.PendingActivityInfo, now time.Time) string {
	if pa.GetState() != enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
		return ""
	}
	if next := pa.GetNextAttemptScheduleTime(); next != nil && next.AsTime().After(now) {
		return ""
	}
	_, host, ok := strings.Cut(pa.GetActivityOptions().GetTaskQueue().GetName(), "@")
	if !ok {
		return ""
	}
	return host
}

// Detail is err as a client receives it, when its type is one rewind
// names (a refusal of SPEC §3, a change in progress, a workflow's
// application error); Type is "" for anything else, which callers report
// as internal without its message.
func Detail(err error) domain.ErrorDetail {
	var cip *ChangeInProgressError
	if errors.As(err, &cip) {
		return domain.ErrorDetail{Type: string(domain.ChangeInProgress), Message: cip.Error(), WorkflowID: cip.WorkflowID, RunID: cip.RunID}
	}
	if t := ErrorType(err); t != "" {
		return domain.ErrorDetail{Type: t, Message: Message(err)}
	}
	return domain.ErrorDetail{}
}
