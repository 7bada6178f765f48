package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

// Apply steps, shared by deploys and rollbacks, in order. Everything up to
// the preflight only prepares (an image pulled, a bundle unpacked beside the
// current one); the snapshot is the last step before the point of no
// return; from "stop components" on the deployment changes.
const (
	StepPull       = "pull image"
	StepUnpack     = "unpack DAG bundle"
	StepPreflight  = "preflight"
	StepSnapshot   = "metadata snapshot"
	StepStop       = "stop components"
	StepDowngrade  = "metadata downgrade"
	StepSwapBundle = "swap DAG bundle"
	StepSwap       = "swap components"
	StepVerify     = "verify"
)

var applySteps = []string{StepPull, StepUnpack, StepPreflight, StepSnapshot, StepStop, StepDowngrade, StepMigrate, StepSwapBundle, StepSwap, StepVerify}

// Activity options per kind of work. Start-to-close bounds one attempt;
// heartbeats make a stuck pull or a dead worker show up as a retry in the
// Temporal UI rather than a hang; schedule-to-close bounds the retrying.
var (
	pullOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute, HeartbeatTimeout: 20 * time.Second, ScheduleToCloseTimeout: 2 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	}
	dockerOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute, HeartbeatTimeout: 20 * time.Second, ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	}
	// The metadata downgrade changes the database: a few attempts, then a
	// person should look. A retry waits for the migration an earlier attempt
	// started (it is never stopped), so the attempts bound the wait, not the
	// migration.
	downgradeOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 35 * time.Minute, HeartbeatTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
	}
	// The swap gives up for good by itself once its replacements failed
	// their health checks HealthAttempts times (Unhealthy); these attempts
	// bound everything else (an Engine that does not answer) so no change
	// holds its deployment for more than about an hour.
	swapOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute, HeartbeatTimeout: 20 * time.Second, ScheduleToCloseTimeout: time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10},
	}
	// Snapshots and restores run pg_dump / pg_restore: as long as the
	// database is large, heartbeating all along.
	snapshotOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour, HeartbeatTimeout: 30 * time.Second, ScheduleToCloseTimeout: 6 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5},
	}
)

// applySpec is what one change puts in place.
type applySpec struct {
	deployment domain.Deployment
	prev       *domain.Revision // current before the change; nil on a first deploy
	images     bool             // the image changes
	bundles    bool             // the DAG bundle changes
	// rollback only: pull by the recorded digest, and on a downgrade run the
	// metadata downgrade with the newer image first (R11).
	byDigest  bool
	downgrade bool
}

// ApplyReport is what a change did: the image pulled, the start checks,
// the snapshot, the containers stopped and swapped, the metadata downgrade;
// the unexported fields drive compensation.
type ApplyReport struct {
	Image     *activities.Image           `json:"image,omitempty"`
	Preflight []activities.PreflightCheck `json:"preflight,omitempty"`
	Snapshot  *activities.Snapshot        `json:"metadataSnapshot,omitempty"`
	Stopped   *activities.StopReport      `json:"stopped,omitempty"`
	Swap      *activities.SwapReport      `json:"swap,omitempty"`
	Downgrade *activities.OneOffResult    `json:"metadataDowngrade,omitempty"`
	Migrate   *activities.OneOffResult    `json:"metadataMigrate,omitempty"`

	version           workflow.Version // which order the change ran in
	bundleSwapped     bool
	componentsTouched bool
	pointOfNoReturn   bool
	migrating         bool // the point of no return is a migration (R21), not a downgrade
	// finishDespiteCancel: past a point of no return nothing can undo, the
	// rest of the change, its finish included, ignores a cancel.
	finishDespiteCancel bool
}

// The orders a change's steps have run in (workflow.GetVersion "apply-order").
const (
	applyOrderV0   = workflow.DefaultVersion // before R16: downgrade while the newer version runs
	applyOrderSafe = 1                       // preflight, snapshot, stop everything, then downgrade
	// applyOrderStopFirst (issue 27): stop everything, then snapshot (the
	// dump holds all the newer version wrote), then downgrade; the
	// downgrade activity itself says whether it reached the point of no
	// return; Docker steps wait for their cancellation before compensation.
	applyOrderStopFirst = 2
)

// finishPastNoReturnChange guards finishing a change past a point of no
// return that no snapshot can undo, even when it is cancelled.
const finishPastNoReturnChange = "finish-past-no-return"

// apply runs the shared steps, updating rev with what the pull resolved.
// Histories recorded before safe downgrades replay through applyV0.
func apply(ctx workflow.Context, t *tracker, spec applySpec, rev *domain.Revision) (*ApplyReport, error) {
	ctx = withHost(ctx, spec.deployment.Host)
	v := workflow.GetVersion(ctx, "apply-order", applyOrderV0, applyOrderStopFirst)
	if v == applyOrderV0 {
		return applyV0(ctx, t, spec, rev)
	}
	if v >= applyOrderStopFirst {
		ctx = waitingForCancellation(ctx)
	}
	out := &ApplyReport{version: v}
	if err := pull(ctx, t, spec, rev, out); err != nil {
		return out, err
	}
	spec.downgrade = deployDowngrades(ctx, spec, rev, out)
	dctx := onHost(ctx, dockerOptions)
	breq := activities.BundleRequest{DeploymentID: rev.DeploymentID, Version: rev.DagBundleVersion, Digest: rev.DagBundleDigest}
	bundles := spec.bundles && rev.DagBundleVersion != ""
	if !bundles {
		t.skip(StepUnpack, "the DAG bundle does not change")
	} else if err := t.run(ctx, StepUnpack, func() error {
		return workflow.ExecuteActivity(dctx, hostActs.UnpackBundle, breq).Get(ctx, nil)
	}); err != nil {
		return out, err
	}
	if err := preflight(ctx, t, spec, rev, out, bundles); err != nil {
		return out, err
	}
	if err := downgradeSafely(ctx, t, spec, rev, out); err != nil {
		return out, err
	}
	if spec.downgrade && spec.prev != nil {
		t.skip(StepMigrate, "a downgrade")
	} else if err := migrateSafely(ctx, t, spec, rev, out); err != nil {
		return out, err
	}
	if out.pointOfNoReturn && !out.migrating && out.Snapshot == nil &&
		workflow.GetVersion(ctx, finishPastNoReturnChange, workflow.DefaultVersion, 1) == 1 {
		// The metadata is downgraded and no snapshot can undo it: a cancel
		// from here on (a cancelled fleet's, issue 30) would leave the
		// newer version stopped and the older one not started, so the
		// change finishes instead. Changes recorded before cancelled here.
		ctx, _ = workflow.NewDisconnectedContext(ctx)
		dctx = onHost(ctx, dockerOptions)
		out.finishDespiteCancel = true
	}
	if !bundles {
		t.skip(StepSwapBundle, "the DAG bundle does not change")
	} else {
		if err := t.run(ctx, StepSwapBundle, func() error {
			out.bundleSwapped = true
			return workflow.ExecuteActivity(dctx, hostActs.SwapBundle, breq).Get(ctx, nil)
		}); err != nil {
			return out, err
		}
		t.detail(StepSwapBundle, "current → "+rev.DagBundleVersion)
	}
	if out.Image == nil {
		t.skip(StepSwap, "the image does not change")
	} else if err := t.run(ctx, StepSwap, func() error {
		out.componentsTouched = true
		var rep activities.SwapReport
		req := activities.SwapRequest{DeploymentID: rev.DeploymentID, Image: *out.Image, Revision: rev.Number, Downgrade: spec.downgrade}
		err := workflow.ExecuteActivity(onHost(ctx, swapOptions), hostActs.SwapComponents, req).Get(ctx, &rep)
		if err != nil {
			return err
		}
		out.Swap = &rep
		t.detail(StepSwap, swapSummary(rep))
		return nil
	}); err != nil {
		return out, err
	}
	if out.Swap != nil {
		enforceDrains(ctx, t, rev.DeploymentID, *out.Swap)
	}
	err := t.run(ctx, StepVerify, func() error {
		req := activities.VerifyRequest{DeploymentID: rev.DeploymentID, Components: componentNames(spec.deployment)}
		if out.Image != nil {
			req.ImageID = out.Image.ID
		}
		if spec.bundles {
			req.BundleVersion = rev.DagBundleVersion
		}
		return workflow.ExecuteActivity(dctx, hostActs.Verify, req).Get(ctx, nil)
	})
	return out, err
}

// deployDowngrades applies R20's one rule for downgrades to a deploy, now
// that the pull has read the new image's versions: a lower Runtime version,
// or without Runtime versions on both sides a lower Airflow version, kills
// the workers and runs the metadata downgrade exactly like a rollback's
// (R11). A rollback's plan decided it already, by the same rule.
// Histories recorded before the rule (version "deploy-downgrade" 0) keep
// the deploys they ran, which never downgraded metadata.
func deployDowngrades(ctx workflow.Context, spec applySpec, rev *domain.Revision, out *ApplyReport) bool {
	if spec.byDigest || spec.prev == nil || out.Image == nil {
		return spec.downgrade
	}
	if workflow.GetVersion(ctx, "deploy-downgrade", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return spec.downgrade
	}
	down, _ := policy.IsVersionDowngrade(policy.Versions{Runtime: spec.prev.RuntimeVersion, Airflow: spec.prev.AirflowVersion},
		policy.Versions{Runtime: rev.RuntimeVersion, Airflow: rev.AirflowVersion})
	return down
}

func sourceNote(img activities.Image) string {
	if img.AirflowVersionSource == "" {
		return ""
	}
	return "; Airflow version from " + img.AirflowVersionSource
}

// pull makes the new image available and records what it resolved.
func pull(ctx workflow.Context, t *tracker, spec applySpec, rev *domain.Revision, out *ApplyReport) error {
	if !spec.images {
		t.skip(StepPull, "the image does not change")
		return nil
	}
	return t.run(ctx, StepPull, func() error {
		req := activities.PullRequest{DeploymentID: rev.DeploymentID, Ref: rev.ImageRef, AllowUnknownVersion: rev.AllowUnknownVersion}
		if spec.byDigest {
			req.Digest = rev.ImageDigest
		} else {
			req.Number = rev.Number
		}
		var img activities.Image
		if err := workflow.ExecuteActivity(onHost(ctx, pullOptions), hostActs.PullImage, req).Get(ctx, &img); err != nil {
			return err
		}
		out.Image = &img
		rev.ImageDigest, rev.RuntimeVersion, rev.AirflowVersion = img.Digest, img.RuntimeVersion, img.AirflowVersion
		rev.RuntimeVersionSource, rev.AirflowVersionSource = img.RuntimeVersionSource, img.AirflowVersionSource
		t.revision(*rev)
		t.detail(StepPull, fmt.Sprintf("%s (Runtime %s, Airflow %s%s)", img.Digest, orUnknown(img.RuntimeVersion), orUnknown(img.AirflowVersion), sourceNote(img)))
		return nil
	})
}

// preflight starts what the change will run — the new image, or the current
// one with new DAGs — once, before anything is touched.
func preflight(ctx workflow.Context, t *tracker, spec applySpec, rev *domain.Revision, out *ApplyReport, bundles bool) error {
	img := out.Image
	if img == nil && spec.prev != nil && bundles {
		img = &activities.Image{Ref: spec.prev.ImageRef, Digest: spec.prev.ImageDigest}
	}
	if img == nil {
		t.skip(StepPreflight, "nothing new to start")
		return nil
	}
	return t.run(ctx, StepPreflight, func() error {
		req := activities.PreflightRequest{DeploymentID: rev.DeploymentID, Image: *img, Revision: rev.Number, Downgrade: spec.downgrade}
		if bundles {
			req.BundleVersion = rev.DagBundleVersion
		}
		var res []activities.PreflightCheck
		if err := workflow.ExecuteActivity(onHost(ctx, dockerOptions), hostActs.Preflight, req).Get(ctx, &res); err != nil {
			return err
		}
		out.Preflight = res
		var cmds []string
		for _, c := range res {
			cmds = append(cmds, "`"+c.Command+"`")
		}
		switch {
		case len(cmds) == 0:
			t.detail(StepPreflight, "no start checks configured")
		case res[0].Reused && res[0].PassedAt != nil:
			t.detail(StepPreflight, fmt.Sprintf("%s passed %s for revision %d at %s with identical check containers; not run again (REWIND_PREFLIGHT_REUSE)",
				img.Ref, strings.Join(cmds, ", "), res[0].PassedRevision, res[0].PassedAt.UTC().Format(time.RFC3339)))
		default:
			t.detail(StepPreflight, img.Ref+" passed "+strings.Join(cmds, ", "))
		}
		return nil
	})
}

// downgradeSafely is R16's order on a Runtime downgrade: snapshot the
// metadata database (when the deployment names it), stop every component
// of the newer version, then run the metadata downgrade with the newer
// image. The newer version never runs on downgraded metadata.
func downgradeSafely(ctx workflow.Context, t *tracker, spec applySpec, rev *domain.Revision, out *ApplyReport) error {
	if !spec.downgrade || spec.prev == nil {
		for _, s := range []string{StepSnapshot, StepStop, StepDowngrade} {
			t.skip(s, "not a downgrade")
		}
		return nil
	}
	takeSnapshot := func() error {
		return t.run(ctx, StepSnapshot, func() error {
			return snapshot(ctx, t, rev, out, "the downgrade is a point of no return")
		})
	}
	stopFirst := out.version >= applyOrderStopFirst
	if stopFirst {
		t.moveBefore(StepStop, StepSnapshot)
	} else if err := takeSnapshot(); err != nil {
		return err
	}
	if err := t.run(ctx, StepStop, func() error {
		out.componentsTouched = true
		var rep activities.StopReport
		err := workflow.ExecuteActivity(onHost(ctx, dockerOptions), hostActs.StopComponents,
			activities.StopRequest{DeploymentID: rev.DeploymentID}).Get(ctx, &rep)
		if err != nil {
			return err
		}
		out.Stopped = &rep
		t.detail(StepStop, fmt.Sprintf("stopped %s; killed %s", names(rep.Stopped), names(rep.Killed)))
		return nil
	}); err != nil {
		return err
	}
	if stopFirst {
		if err := takeSnapshot(); err != nil {
			return err
		}
	}
	return t.run(ctx, StepDowngrade, func() error {
		if !stopFirst {
			out.pointOfNoReturn = true // from its first attempt the database may have changed
		}
		req := activities.DowngradeRequest{DeploymentID: rev.DeploymentID, NewerImage: pinned(spec.prev), AirflowVersion: rev.AirflowVersion, Revision: rev.Number}
		// Cancelling the change must not cancel a migration half-way.
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		var res activities.OneOffResult
		if err := workflow.ExecuteActivity(onHost(dctx, downgradeOptions), hostActs.MetadataDowngrade, req).Get(dctx, &res); err != nil {
			// The activity says whether its one-off ever started; a refusal
			// before that (a version it cannot downgrade to) changed nothing
			// and is compensated like any failure. An attempt lost with its
			// worker may have started one: the point of no return.
			out.pointOfNoReturn = out.pointOfNoReturn || activities.DowngradeMayHaveStarted(err)
			return err
		}
		out.pointOfNoReturn = true
		out.Downgrade = &res
		t.detail(StepDowngrade, fmt.Sprintf("ran with %s: exit %d", req.NewerImage, res.ExitCode))
		return nil
	})
}

// compensate puts back what a change that failed for good had changed, in
// the order the change ran in.
func compensate(ctx workflow.Context, t *tracker, spec applySpec, out *ApplyReport, rev domain.Revision) string {
	if out == nil || spec.prev == nil {
		return ""
	}
	ctx = withHost(ctx, spec.deployment.Host)
	if out.version == applyOrderV0 {
		return compensateV0(ctx, t, spec, out, rev)
	}
	cctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	var notes []string
	if out.pointOfNoReturn && out.migrating && out.Snapshot == nil {
		// The older components ran on the migrating schema all along (R21,
		// Helm chart style): they are put back like on any failed upgrade,
		// and the schema stays where the migration left it.
		notes = append(notes, "the metadata stays migrated (the deployment names no metadata database to snapshot; point of no return)")
		t.compensated(StepMigrate, notes[0])
	} else if out.pointOfNoReturn {
		if out.Snapshot == nil {
			return "not compensated: the metadata downgrade had started (point of no return) and the deployment names no metadata database to snapshot; " +
				"the newer version stays stopped so it never runs on downgraded metadata; finish the rollback by retrying it"
		}
		step := StepDowngrade
		if out.migrating {
			step = StepMigrate
		}
		note, ok := restoreMetadata(cctx, t, step, rev, out.Snapshot.Path)
		notes = append(notes, note)
		if !ok {
			return strings.Join(notes, "; ")
		}
		// Every component was stopped for the restore: the older ones start
		// again below, on the metadata they left.
		out.componentsTouched = true
	}
	if !out.bundleSwapped && !out.componentsTouched {
		return strings.Join(notes, "; ")
	}
	notes = append(notes, putBack(cctx, t, spec, out, rev)...)
	if len(notes) > 0 {
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": t.p.Kind}).Counter("rewind_compensations").Inc(1)
	}
	return strings.Join(notes, "; ")
}

// restoreMetadata stops whatever the failed change started and puts the
// snapshot back; only then may the newer version start again.
func restoreMetadata(ctx workflow.Context, t *tracker, step string, rev domain.Revision, snapshot string) (string, bool) {
	sctx := onHost(ctx, snapshotOptions)
	err := workflow.ExecuteActivity(onHost(ctx, dockerOptions), hostActs.StopComponents,
		activities.StopRequest{DeploymentID: rev.DeploymentID}).Get(ctx, nil)
	if err == nil {
		err = workflow.ExecuteActivity(sctx, hostActs.RestoreMetadata, activities.RestoreRequest{DeploymentID: rev.DeploymentID, Snapshot: snapshot}).Get(ctx, nil)
	}
	if err != nil {
		return "compensation failed: metadata not restored from snapshot " + snapshot + ": " + err.Error() +
			"; the newer version stays stopped so it never runs on downgraded metadata", false
	}
	note := "metadata restored from snapshot " + snapshot
	t.compensated(step, note)
	return note, true
}

// putBack returns the previous revision's components and bundle.
func putBack(ctx workflow.Context, t *tracker, spec applySpec, out *ApplyReport, rev domain.Revision) []string {
	dctx := onHost(ctx, dockerOptions)
	prev := spec.prev
	var notes []string
	if out.componentsTouched {
		var img activities.Image
		err := workflow.ExecuteActivity(onHost(ctx, pullOptions), hostActs.PullImage,
			activities.PullRequest{DeploymentID: prev.DeploymentID, Ref: prev.ImageRef, Digest: prev.ImageDigest}).Get(ctx, &img)
		if err == nil {
			err = workflow.ExecuteActivity(onHost(ctx, swapOptions), hostActs.SwapComponents,
				activities.SwapRequest{DeploymentID: prev.DeploymentID, Image: img, Revision: prev.Number}).Get(ctx, nil)
		}
		if err != nil {
			notes = append(notes, "components could not be put back: "+err.Error())
		} else {
			note := fmt.Sprintf("components put back on revision %d", prev.Number)
			t.compensated(StepSwap, note)
			notes = append(notes, note)
		}
	}
	if out.bundleSwapped && prev.DagBundleVersion != "" {
		err := workflow.ExecuteActivity(dctx, hostActs.SwapBundle, activities.BundleRequest{DeploymentID: rev.DeploymentID, Version: prev.DagBundleVersion}).Get(ctx, nil)
		if err != nil {
			notes = append(notes, "DAG bundle could not be put back: "+err.Error())
		} else {
			note := "DAG bundle put back on " + prev.DagBundleVersion
			t.compensated(StepSwapBundle, note)
			notes = append(notes, note)
		}
	}
	return notes
}

// finishFailed marks the revision FAILED with the reason; on a disconnected
// context so even a cancelled change leaves no revision INITIALIZED.
func finishFailed(ctx workflow.Context, steps storeSteps, rev domain.Revision, why string) {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	err := steps.run(dctx, acts.FinishRevision, activities.FinishRequest{DeploymentID: rev.DeploymentID, Number: rev.Number,
		Status: domain.StatusFailed, Reason: clipReason(why), At: workflow.Now(dctx)}).Get(dctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("could not mark the revision FAILED", "revision", rev.Number, "error", err)
	}
}

func pinned(r *domain.Revision) string {
	return activities.Image{Ref: r.ImageRef, Digest: r.ImageDigest}.Pinned()
}

func componentNames(d domain.Deployment) []string {
	out := make([]string, 0, len(d.Components))
	for _, c := range d.Components {
		out = append(out, c.Name)
	}
	return out
}

func swapSummary(r activities.SwapReport) string {
	return fmt.Sprintf("created %d, replaced %d, unchanged %d, drained %s, killed %s",
		len(r.Created), len(r.Replaced), len(r.Unchanged), names(r.Drained), names(r.Killed))
}

func names(cs []activities.ContainerRef) string {
	if len(cs) == 0 {
		return "none"
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return strings.Join(out, ",")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// clipReason keeps a failure reason to a size a history row can show.
func clipReason(s string) string {
	if len(s) > 1000 {
		return s[:1000] + "…"
	}
	return s
}
