package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
)

// Summaries is a worker interceptor that gives every activity a change
// schedules a one-line summary — "pull 127.0.0.1:5000/…@sha256:…", "swap
// 3 components to … (Runtime 9.1.0)" — which the Temporal UI shows on the
// event and the pending activity. One place instead of one line per call:
// the summary is user metadata on the command, which replay does not
// compare, so adding or rewording one needs no versioning.
func Summaries() interceptor.WorkerInterceptor { return &summaries{} }

type summaries struct {
	interceptor.WorkerInterceptorBase
}

func (s *summaries) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &summaryInbound{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type summaryInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (i *summaryInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	return i.Next.Init(&summaryOutbound{WorkflowOutboundInterceptorBase: interceptor.WorkflowOutboundInterceptorBase{Next: outbound}})
}

type summaryOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
}

func (o *summaryOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	if opts := workflow.GetActivityOptions(ctx); opts.Summary == "" {
		var arg any
		if len(args) > 0 {
			arg = args[0]
		}
		opts.Summary = ActivitySummary(activityType, arg)
		ctx = workflow.WithActivityOptions(ctx, opts)
	}
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

// ActivitySummary is the line an activity shows: what it does to what.
func ActivitySummary(activityType string, arg any) string {
	switch r := arg.(type) {
	case activities.PullRequest:
		return "pull " + withDigest(r.Ref, r.Digest)
	case activities.PreflightRequest:
		return fmt.Sprintf("preflight %s%s on %s", withDigest(r.Image.Ref, r.Image.Digest), runtimeOf(r.Image.RuntimeVersion), r.DeploymentID)
	case activities.SwapRequest:
		verb := "swap the components of " + r.DeploymentID
		if r.Downgrade {
			verb = "swap (downgrade) the components of " + r.DeploymentID
		}
		return fmt.Sprintf("%s to %s%s", verb, withDigest(r.Image.Ref, r.Image.Digest), runtimeOf(r.Image.RuntimeVersion))
	case activities.BundleRequest:
		if activityType == "UnpackBundle" {
			return "unpack DAG bundle " + r.Version + " of " + r.DeploymentID
		}
		return "point " + r.DeploymentID + "'s current DAGs at bundle " + r.Version
	case activities.VerifyRequest:
		return fmt.Sprintf("verify %s of %s", strings.Join(r.Components, ", "), r.DeploymentID)
	case activities.SnapshotRequest:
		return "snapshot the metadata database of " + r.DeploymentID
	case activities.StopRequest:
		return "stop every component of " + r.DeploymentID + " (nothing newer may run on downgraded metadata)"
	case activities.DowngradeRequest:
		return fmt.Sprintf("airflow db downgrade of %s to Airflow %s, run with %s", r.DeploymentID, r.AirflowVersion, r.NewerImage)
	case activities.MigrateRequest:
		return fmt.Sprintf("airflow db migrate of %s, run with %s before its components start", r.DeploymentID, r.NewerImage)
	case activities.RestoreRequest:
		return "restore the metadata of " + r.DeploymentID + " from " + r.Snapshot
	case activities.DeployCheck:
		return fmt.Sprintf("validate a %s deploy of %s requested by %s", r.Type, r.DeploymentID, r.RequestedBy)
	case activities.RollbackCheck:
		return fmt.Sprintf("validate a rollback of %s to revision %d requested by %s", r.DeploymentID, r.Revision, r.RequestedBy)
	case activities.FinishRequest:
		return fmt.Sprintf("mark revision %d of %s %s", r.Number, r.DeploymentID, r.Status)
	case activities.DrainRequest:
		return "enforce the drain deadline of a worker of " + r.DeploymentID
	case activities.ProbeRequest:
		return fmt.Sprintf("probe %s's scheduler (baking revision %d)", r.DeploymentID, r.Revision)
	case activities.CleanupBatchRequest:
		return fmt.Sprintf("cleanup: %d deployments after %q, revisions before %s", r.Limit, r.After, r.Cutoff.UTC().Format("2006-01-02"))
	case domain.Revision:
		return fmt.Sprintf("record the new revision of %s (%s)", r.DeploymentID, r.Type)
	case []eslog.Event:
		if len(r) > 0 {
			return fmt.Sprintf("export %d log events (%s … %s)", len(r), r[0].Step, r[len(r)-1].Step)
		}
		return "export log events"
	}
	return activityType
}

func runtimeOf(v string) string {
	if v == "" {
		return ""
	}
	return " (Runtime " + v + ")"
}

// withDigest keeps the tag people recognise and adds the digest that runs.
func withDigest(ref, digest string) string {
	if digest == "" {
		return ref
	}
	return strings.SplitN(ref, "@", 2)[0] + "@" + digest
}
