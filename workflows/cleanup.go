package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/eslog"
)

// CleanupScheduleID is the Temporal Schedule that runs CleanupWorkflow.
const CleanupScheduleID = "rewind-cleanup"

// CleanupInput is CleanupWorkflow's input. All fields are optional: the
// schedule starts it empty, and the worker's configuration decides. After,
// Cutoff and Totals carry a cleanup across continue-as-new.
type CleanupInput struct {
	OlderThanDays int `json:"olderThanDays,omitempty"`
	BatchSize     int `json:"batchSize,omitempty"`     // deployments per batch (500)
	BatchesPerRun int `json:"batchesPerRun,omitempty"` // batches before continue-as-new (50)
	// HostWaitSeconds bounds the wait for each host's worker (default: the
	// worker's REWIND_CLEANUP_HOST_WAIT).
	HostWaitSeconds int            `json:"hostWaitSeconds,omitempty"`
	Cutoff          *time.Time     `json:"cutoff,omitempty"`
	After           string         `json:"after,omitempty"`
	Totals          *CleanupResult `json:"totals,omitempty"`
}

// CleanupResult is what a whole cleanup removed (R12).
type CleanupResult struct {
	Enabled       bool      `json:"enabled"`
	Cutoff        time.Time `json:"cutoff"`
	Batches       int       `json:"batches"`
	Deployments   int       `json:"deployments"`
	Revisions     int       `json:"revisions"`
	BundleDirs    int       `json:"bundleDirs"`
	BundleObjects int       `json:"bundleObjects"`
	Images        int       `json:"images"`
	Snapshots     int       `json:"snapshots,omitempty"`
	BytesFreed    int64     `json:"bytesFreed"`
	// SetAside: artifacts given up on (see `rewind cleanup --status`);
	// Failed: attempts that failed and are left for a later batch.
	SetAside int `json:"setAside,omitempty"`
	Failed   int `json:"failed,omitempty"`
	// Hosts is what each host's worker removed (cleanups since per-host
	// cleanup); the counts above include it.
	Hosts []HostCleanup `json:"hosts,omitempty"`
}

// defaultBatchesPerRun bounds one run's history; the rest continues as new.
const defaultBatchesPerRun = 50

var cleanupOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: 30 * time.Second, ScheduleToCloseTimeout: 6 * time.Hour,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
}

// CleanupWorkflow deletes revisions older than the configured age, except
// each deployment's most recent and current ones, and the bundles and local
// images only they referenced (R12). It pages through deployments in
// bounded, idempotent batches and continues as new every BatchesPerRun
// batches, so its history stays small however many deployments exist.
func CleanupWorkflow(ctx workflow.Context, in CleanupInput) (*CleanupResult, error) {
	t, err := newTracker(ctx, KindCleanup)
	if err != nil {
		return nil, err
	}
	if err = workflow.UpsertTypedSearchAttributes(ctx, AttrKind.ValueSet(KindCleanup)); err != nil {
		return nil, err
	}
	res := CleanupResult{}
	defer func() {
		t.finish(err)
		exportEvents(ctx, t)
	}()
	if in.Totals != nil {
		res = *in.Totals
	}
	actx := workflow.WithActivityOptions(ctx, cleanupOptions)
	hostsApart := workflow.GetVersion(ctx, cleanupHostsChange, workflow.DefaultVersion, 1) == 1
	if in.Cutoff == nil {
		var set activities.CleanupSettings
		if err = workflow.ExecuteActivity(actx, acts.CleanupSettings).Get(ctx, &set); err != nil {
			return nil, err
		}
		res.Enabled = set.Enabled
		if !set.Enabled {
			t.emit("settings", eslog.LevelInfo, "cleanup is switched off (REWIND_CLEANUP_ENABLED=false); nothing deleted", nil)
			return &res, nil
		}
		if in.HostWaitSeconds <= 0 {
			in.HostWaitSeconds = set.HostWaitSeconds
		}
		days := set.OlderThanDays
		if in.OlderThanDays > 0 {
			days = in.OlderThanDays
		}
		cutoff := workflow.Now(ctx).Add(-time.Duration(days) * 24 * time.Hour)
		in.Cutoff = &cutoff
		res.Cutoff = cutoff
		t.emit("settings", eslog.LevelInfo, fmt.Sprintf("deleting revisions created before %s (%d days)", cutoff.UTC().Format(time.RFC3339), days), nil)
	}
	if in.BatchSize <= 0 {
		in.BatchSize = 500
	}
	if in.BatchesPerRun <= 0 {
		in.BatchesPerRun = defaultBatchesPerRun
	}
	for i := 0; i < in.BatchesPerRun; i++ {
		step := fmt.Sprintf("batch %d", res.Batches+1)
		var b activities.CleanupBatchResult
		err = t.run(ctx, step, func() error {
			return workflow.ExecuteActivity(actx, acts.CleanupBatch, activities.CleanupBatchRequest{Cutoff: *in.Cutoff, After: in.After, Limit: in.BatchSize, HostsApart: hostsApart}).Get(ctx, &b)
		})
		if err != nil {
			return nil, err
		}
		res.Batches++
		res.Deployments += b.Deployments
		res.Revisions += b.Revisions
		res.count(b)
		t.detail(step, fmt.Sprintf("%d deployments, %d revisions, %d bundle dirs, %d bundle objects, %d images, %d snapshots, %d bytes; %d failed, %d set aside",
			b.Deployments, b.Revisions, b.BundleDirs, b.BundleObjects, b.Images, b.Snapshots, b.BytesFreed, b.Failed, b.SetAside))
		if b.LastDeployment == "" {
			if hostsApart {
				if err = collectOnHosts(ctx, t, hostWait(in.HostWaitSeconds), &res); err != nil {
					return nil, err
				}
			}
			level := eslog.LevelInfo
			if res.Failed > 0 {
				level = eslog.LevelWarn
			}
			t.emit("result", level, fmt.Sprintf("cleanup removed %d revisions, %d bundle dirs, %d bundle objects, %d images, %d snapshots, %d bytes; %d artifacts failed, %d set aside",
				res.Revisions, res.BundleDirs, res.BundleObjects, res.Images, res.Snapshots, res.BytesFreed, res.Failed, res.SetAside), nil)
			cleanupMetrics(ctx, res)
			return &res, nil
		}
		in.After = b.LastDeployment
	}
	in.Totals = &res
	t.continuedAsNew()
	return nil, workflow.NewContinueAsNewError(ctx, CleanupWorkflowName, in)
}

// count adds what one pass over the outbox removed to the totals.
func (r *CleanupResult) count(b activities.CleanupBatchResult) {
	r.BundleDirs += b.BundleDirs
	r.BundleObjects += b.BundleObjects
	r.Images += b.Images
	r.Snapshots += b.Snapshots
	r.BytesFreed += b.BytesFreed
	r.Failed += b.Failed
	r.SetAside += b.SetAside
}

// cleanupMetrics counts one whole cleanup run, once, at its end: a run
// that continued as new is not a finished cleanup.
func cleanupMetrics(ctx workflow.Context, res CleanupResult) {
	m := workflow.GetMetricsHandler(ctx)
	m.WithTags(map[string]string{"outcome": "done"}).Counter("rewind_cleanup_runs").Inc(1)
	for kind, n := range map[string]int{"revision": res.Revisions, "bundle-dir": res.BundleDirs, "bundle-object": res.BundleObjects,
		"image": res.Images, "snapshot": res.Snapshots, "failed": res.Failed, "set-aside": res.SetAside} {
		m.WithTags(map[string]string{"kind": kind}).Counter("rewind_cleanup_artifacts").Inc(int64(n))
	}
	m.Counter("rewind_cleanup_bytes_freed").Inc(res.BytesFreed)
}
