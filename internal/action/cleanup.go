package action

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/namespace"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// The retention cleanup and the test notification, as `rewind cleanup` and
// `rewind notify test` run them store-direct and rewind serve runs them for
// the remote CLI: one implementation, so both paths say the same. Every
// function here is administration; callers check system.admin first.

// CleanupStarted is a cleanup the schedule was asked to start now.
type CleanupStarted struct {
	WorkflowID string `json:"workflowId"`
	Paused     bool   `json:"paused"` // the schedule is paused (REWIND_CLEANUP_ENABLED=false)
	Note       string `json:"note,omitempty"`
}

// TriggerCleanup asks the cleanup schedule for a run now and waits (up to
// 30s) until the schedule has started it, to name its workflow.
func TriggerCleanup(ctx context.Context, tc client.Client) (CleanupStarted, error) {
	h := tc.ScheduleClient().GetHandle(ctx, workflows.CleanupScheduleID)
	desc, err := h.Describe(ctx)
	if err != nil {
		return CleanupStarted{}, scheduleMissing(err)
	}
	before := len(desc.Info.RecentActions)
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		return CleanupStarted{}, err
	}
	var run *client.ScheduleWorkflowExecution
	for deadline := time.Now().Add(30 * time.Second); run == nil; time.Sleep(200 * time.Millisecond) {
		d, err := h.Describe(ctx)
		if err != nil {
			return CleanupStarted{}, err
		}
		if n := len(d.Info.RecentActions); n > before || (n == 10 && d.Info.RecentActions[n-1].ActualTime.After(time.Now().Add(-time.Minute))) {
			run = d.Info.RecentActions[n-1].StartWorkflowResult
		}
		if time.Now().After(deadline) {
			return CleanupStarted{}, fmt.Errorf("the schedule did not start a cleanup within 30s")
		}
	}
	return CleanupStarted{WorkflowID: run.WorkflowID, Paused: desc.Schedule.State.Paused, Note: desc.Schedule.State.Note}, nil
}

func scheduleMissing(err error) error {
	return domain.Errorf(domain.NotFound, "schedule %s not found: start a worker, which creates it (%v)", workflows.CleanupScheduleID, err)
}

// CleanupRun is one cleanup workflow's state: running, completed (with
// its result) or failed.
type CleanupRun struct {
	WorkflowID string                   `json:"workflowId"`
	State      string                   `json:"state"` // running | completed | failed
	Result     *workflows.CleanupResult `json:"result,omitempty"`
	Error      string                   `json:"error,omitempty"`
}

// CleanupRunOf reads a cleanup workflow; any other workflow is NotFound,
// so this reads nothing but cleanups.
func CleanupRunOf(ctx context.Context, tc client.Client, workflowID string) (CleanupRun, error) {
	desc, err := tc.DescribeWorkflowExecution(ctx, workflowID, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) || (err == nil && desc.GetWorkflowExecutionInfo().GetType().GetName() != workflows.CleanupWorkflowName) {
		return CleanupRun{}, domain.Errorf(domain.NotFound, "no cleanup workflow %s", workflowID)
	}
	if err != nil {
		return CleanupRun{}, err
	}
	r := CleanupRun{WorkflowID: workflowID, State: "running"}
	if desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return r, nil
	}
	var res workflows.CleanupResult
	if err := tc.GetWorkflow(ctx, workflowID, "").Get(ctx, &res); err != nil {
		r.State, r.Error = "failed", Message(err)
		return r, nil
	}
	r.State, r.Result = "completed", &res
	return r, nil
}

// StatusRow is one line of `rewind cleanup --status`.
type StatusRow struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// CleanupStatus is the schedule, its next runs, the last run's result and
// what cleanup set aside, as the rows `rewind cleanup --status` prints.
func CleanupStatus(ctx context.Context, tc client.Client, st *store.Store) ([]StatusRow, error) {
	d, err := tc.ScheduleClient().GetHandle(ctx, workflows.CleanupScheduleID).Describe(ctx)
	if err != nil {
		return nil, scheduleMissing(err)
	}
	state := "active"
	if d.Schedule.State.Paused {
		state = "paused"
	}
	rows := []StatusRow{{"schedule", workflows.CleanupScheduleID}, {"state", state}, {"note", d.Schedule.State.Note}}
	for i, t := range d.Info.NextActionTimes {
		if i == 3 || d.Schedule.State.Paused {
			break
		}
		rows = append(rows, StatusRow{"next run", Stamp(t)})
	}
	if n := len(d.Info.RecentActions); n > 0 && d.Info.RecentActions[n-1].StartWorkflowResult != nil {
		last := d.Info.RecentActions[n-1]
		rows = append(rows, StatusRow{"last run", Stamp(last.ActualTime) + " " + last.StartWorkflowResult.WorkflowID})
		run, err := CleanupRunOf(ctx, tc, last.StartWorkflowResult.WorkflowID)
		switch {
		case err != nil:
			rows = append(rows, StatusRow{"last result", err.Error()})
		case run.State == "running":
			rows = append(rows, StatusRow{"last result", "running"})
		case run.State == "failed":
			rows = append(rows, StatusRow{"last result", "failed: " + run.Error})
		default:
			rows = append(rows, StatusRow{"last result", CleanupSummary(*run.Result)})
		}
	} else {
		rows = append(rows, StatusRow{"last run", "never"})
	}
	// What waits for a host's worker: a host down (or retired) at the last
	// run keeps its garbage here until a worker of it runs a cleanup.
	pending, err := st.PendingGarbageByHost(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pending {
		where := "on host " + p.Host
		if p.Host == "" {
			where = "shared (bundle objects)"
		}
		rows = append(rows, StatusRow{"pending", fmt.Sprintf("%d artifacts %s", p.Pending, where)})
	}
	aside, n, err := st.SetAsideGarbage(ctx, 20)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		rows = append(rows, StatusRow{"set aside", "none"})
	} else {
		rows = append(rows, StatusRow{"set aside", fmt.Sprintf("%d artifacts (retry them with `rewind cleanup --release` once fixed)", n)})
	}
	for _, a := range aside {
		where := a.Ref
		if a.DeploymentID != "" {
			where = a.DeploymentID + " " + a.Ref
		}
		if a.Host != "" {
			where += " on host " + a.Host
		}
		rows = append(rows, StatusRow{"  " + a.Kind, fmt.Sprintf("%s: %d attempts, last: %s", where, a.Attempts, a.LastError)})
	}
	return rows, nil
}

// CleanupSummary says what a cleanup removed.
func CleanupSummary(r workflows.CleanupResult) string {
	if !r.Enabled {
		return "cleanup is switched off (REWIND_CLEANUP_ENABLED=false): nothing deleted"
	}
	out := fmt.Sprintf("removed %d revisions older than %s, %d DAG bundle directories, %d bundle objects, %d images, %d metadata snapshots (%.1f MB freed) in %d deployments",
		r.Revisions, Stamp(r.Cutoff), r.BundleDirs, r.BundleObjects, r.Images, r.Snapshots, float64(r.BytesFreed)/(1<<20), r.Deployments)
	if r.Failed > 0 {
		out += fmt.Sprintf("; %d artifacts could not be removed (%d set aside: see `rewind cleanup --status`)", r.Failed, r.SetAside)
	}
	for _, h := range r.Hosts {
		switch {
		case h.Waiting:
			out += fmt.Sprintf("; host %s had no worker: its garbage waits for the next cleanup", h.Host)
		case h.Error != "":
			out += fmt.Sprintf("; host %s failed (%s): its garbage waits for the next cleanup", h.Host, h.Error)
		}
	}
	return out
}

// Stamp is a time as the CLI prints it.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// ScheduleReset is the cleanup schedule as ResetCleanupSchedule wrote it.
type ScheduleReset struct {
	Cron    string `json:"cron"`
	Enabled bool   `json:"enabled"`
}

// ResetCleanupSchedule rewrites the schedule from cfg (workers only create
// it, never overwrite it).
func ResetCleanupSchedule(ctx context.Context, tc client.Client, cfg *config.Config) (ScheduleReset, error) {
	if err := namespace.ResetCleanupSchedule(ctx, tc, cfg); err != nil {
		return ScheduleReset{}, err
	}
	return ScheduleReset{Cron: cfg.CleanupCron, Enabled: cfg.CleanupEnabled}, nil
}

// NotifyTested is a test notification's delivery.
type NotifyTested struct {
	WorkflowID string `json:"workflowId"`
	Delivered  int    `json:"delivered"`
}

// NotifyTest sends a sample notification to the webhooks of deploymentID
// (and the installation's), through the worker, and waits for it.
func NotifyTest(ctx context.Context, cfg *config.Config, tc client.Client, deploymentID, requester string) (NotifyTested, error) {
	if deploymentID != "" {
		if err := domain.CheckDeploymentID(deploymentID); err != nil {
			return NotifyTested{}, err
		}
	}
	id := fmt.Sprintf("notify-test/%d", time.Now().UnixNano())
	n := notify.Notification{Event: notify.Test, Kind: "test", DeploymentID: deploymentID, RequestedBy: requester, WorkflowID: id, RunID: "test", At: time.Now().UTC()}
	n.Text = "rewind: a test notification from " + n.RequestedBy
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: cfg.TaskQueue}, workflows.NotifyWorkflowName, n)
	if err != nil {
		return NotifyTested{}, err
	}
	var delivered int
	if err := run.Get(ctx, &delivered); err != nil {
		return NotifyTested{}, err
	}
	return NotifyTested{WorkflowID: id, Delivered: delivered}, nil
}
