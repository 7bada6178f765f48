package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// storeLocalChange (issue 31) is the version from which a rollback runs
// its short store steps — the rules and the plan (ValidateRollback,
// ConfirmRollbackPlan), recording the revision (RecordRevision) and marking
// it DEPLOYED or FAILED (FinishRevision) — and a deploy its record and its
// end as local activities: on the
// worker that runs the workflow task, in that task, with the result kept in
// the history as one marker. Each was an activity on the shared queue,
// which cost a round trip through the server (schedule, dispatch, start,
// complete, a new workflow task: 12–20 ms and five events) for a few
// milliseconds of database work. The workflow's own worker has the store
// (it registers the store activities on the shared queue beside the
// workflows, internal/app), so nothing moves to another process.
//
// They qualify because each is short (reads and one write on the store),
// idempotent (a retried RecordRevision returns the row its first attempt
// made; FinishRevision sets what it set; validation records nothing but the
// signature's first use by this very run) and bounded (storeLocalOptions).
// A worker that dies during one loses its workflow task: the next worker
// replays to that point and runs the step again, which idempotence makes
// safe. Everything that talks to Docker, heartbeats or may run long stays
// an activity on its host's queue; so does the export of log events, which
// waits for Elasticsearch, and a deploy's validation (ValidateDeploy): it
// checks a bundle of up to REWIND_BUNDLE_MAX_BYTES, heartbeating, and reads
// the scheduler's import errors from the Engine for a deployment that bakes.
//
// Histories recorded before replay with the activities they scheduled.
const storeLocalChange = "store-local"

// storeLocalOptions bound a local store step like storeOptions bound the
// activity it replaces: 30 s an attempt (the rules may read a DAG bundle
// for the plan's diff; most steps take milliseconds), retried with backoff
// while the database is away, for an hour at most. Local activities never
// heartbeat; a worker that dies is noticed by the workflow task's timeout.
var storeLocalOptions = workflow.LocalActivityOptions{
	StartToCloseTimeout:    30 * time.Second,
	ScheduleToCloseTimeout: time.Hour,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    time.Minute,
	},
}

// storeSteps runs a change's short store steps: as activities on the
// shared queue, or, since storeLocalChange, as local activities.
type storeSteps struct{ local bool }

// localStoreSteps decides, once per run, how its store steps run.
func localStoreSteps(ctx workflow.Context) storeSteps {
	return storeSteps{local: workflow.GetVersion(ctx, storeLocalChange, workflow.DefaultVersion, 1) != workflow.DefaultVersion}
}

// run starts one store step with the options of its kind.
func (s storeSteps) run(ctx workflow.Context, activity any, args ...any) workflow.Future {
	if s.local {
		return workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, storeLocalOptions), activity, args...)
	}
	return workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeOptions), activity, args...)
}
