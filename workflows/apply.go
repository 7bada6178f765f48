package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/internal/store"
)

// Apply steps, shared by deploys and rollbacks, in order.
const (
	StepPull       = "pull image"
	StepDowngrade  = "metadata downgrade"
	StepUnpack     = "unpack DAG bundle"
	StepSwapBundle = "swap DAG bundle"
	StepSwap       = "swap components"
	StepVerify     = "verify"
)

var applySteps = []string{StepPull, StepDowngrade, StepUnpack, StepSwapBundle, StepSwap, StepVerify}

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
	// person should look.
	downgradeOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute, HeartbeatTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
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

// ApplyReport is what a change did: the image pulled, the containers
// swapped, the metadata downgrade; the unexported fields drive compensation.
type ApplyReport struct {
	Image             *runtime.Image        `json:"image,omitempty"`
	Swap              *runtime.SwapReport   `json:"swap,omitempty"`
	Downgrade         *runtime.OneOffResult `json:"metadataDowngrade,omitempty"`
	bundleSwapped     bool
	componentsTouched bool
	pointOfNoReturn   bool
}

// apply runs the shared steps, updating rev with what the pull resolved.
func apply(ctx workflow.Context, t *tracker, spec applySpec, rev *domain.Revision) (*ApplyReport, error) {
	out := &ApplyReport{}
	pctx := workflow.WithActivityOptions(ctx, pullOptions)
	dctx := workflow.WithActivityOptions(ctx, dockerOptions)

	if !spec.images {
		t.skip(StepPull, "the image does not change")
	} else if err := t.run(ctx, StepPull, func() error {
		req := activities.PullRequest{DeploymentID: rev.DeploymentID, Ref: rev.ImageRef}
		if spec.byDigest {
			req.Digest = rev.ImageDigest
		} else {
			req.Number = rev.Number
		}
		var img runtime.Image
		if err := workflow.ExecuteActivity(pctx, acts.PullImage, req).Get(ctx, &img); err != nil {
			return err
		}
		out.Image = &img
		rev.ImageDigest, rev.RuntimeVersion, rev.AirflowVersion = img.Digest, img.RuntimeVersion, img.AirflowVersion
		t.revision(*rev)
		t.detail(StepPull, fmt.Sprintf("%s (Runtime %s)", img.Digest, orUnknown(img.RuntimeVersion)))
		return nil
	}); err != nil {
		return out, err
	}

	if !spec.downgrade || spec.prev == nil {
		t.skip(StepDowngrade, "not a Runtime downgrade")
	} else if err := t.run(ctx, StepDowngrade, func() error {
		out.pointOfNoReturn = true // from its first attempt the database may have changed
		req := activities.DowngradeRequest{DeploymentID: rev.DeploymentID, NewerImage: pinned(spec.prev), AirflowVersion: rev.AirflowVersion}
		var res runtime.OneOffResult
		if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, downgradeOptions), acts.MetadataDowngrade, req).Get(ctx, &res); err != nil {
			return err
		}
		out.Downgrade = &res
		t.detail(StepDowngrade, fmt.Sprintf("ran with %s: exit %d", req.NewerImage, res.ExitCode))
		return nil
	}); err != nil {
		return out, err
	}

	breq := activities.BundleRequest{DeploymentID: rev.DeploymentID, Version: rev.DagBundleVersion, Digest: rev.DagBundleDigest}
	if !spec.bundles || rev.DagBundleVersion == "" {
		t.skip(StepUnpack, "the DAG bundle does not change")
		t.skip(StepSwapBundle, "the DAG bundle does not change")
	} else {
		if err := t.run(ctx, StepUnpack, func() error {
			return workflow.ExecuteActivity(dctx, acts.UnpackBundle, breq).Get(ctx, nil)
		}); err != nil {
			return out, err
		}
		if err := t.run(ctx, StepSwapBundle, func() error {
			out.bundleSwapped = true
			return workflow.ExecuteActivity(dctx, acts.SwapBundle, breq).Get(ctx, nil)
		}); err != nil {
			return out, err
		}
		t.detail(StepSwapBundle, "current → "+rev.DagBundleVersion)
	}

	if out.Image == nil {
		t.skip(StepSwap, "the image does not change")
	} else if err := t.run(ctx, StepSwap, func() error {
		out.componentsTouched = true
		var rep runtime.SwapReport
		req := activities.SwapRequest{Deployment: spec.deployment, Image: *out.Image, Revision: rev.Number, Downgrade: spec.downgrade}
		if err := workflow.ExecuteActivity(dctx, acts.SwapComponents, req).Get(ctx, &rep); err != nil {
			return err
		}
		out.Swap = &rep
		t.detail(StepSwap, swapSummary(rep))
		return nil
	}); err != nil {
		return out, err
	}

	err := t.run(ctx, StepVerify, func() error {
		req := activities.VerifyRequest{DeploymentID: rev.DeploymentID, Components: componentNames(spec.deployment)}
		if out.Image != nil {
			req.ImageID = out.Image.ID
		}
		if spec.bundles {
			req.BundleVersion = rev.DagBundleVersion
		}
		return workflow.ExecuteActivity(dctx, acts.Verify, req).Get(ctx, nil)
	})
	return out, err
}

// compensate puts back the previous bundle and components after a change
// failed for good. After the metadata downgrade it does not: the database
// now matches the older Runtime, and restarting the newer image on it would
// be worse than the failed state; the revision says so and a person acts.
func compensate(ctx workflow.Context, t *tracker, spec applySpec, out *ApplyReport, rev domain.Revision) string {
	if out == nil || spec.prev == nil {
		return ""
	}
	if out.pointOfNoReturn {
		return "not compensated: the metadata downgrade had started (point of no return); finish the rollback by retrying it"
	}
	if !out.bundleSwapped && !out.componentsTouched {
		return ""
	}
	cctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	dctx := workflow.WithActivityOptions(cctx, dockerOptions)
	var notes []string
	if out.componentsTouched {
		var img runtime.Image
		prev := spec.prev
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(cctx, pullOptions), acts.PullImage,
			activities.PullRequest{DeploymentID: prev.DeploymentID, Ref: prev.ImageRef, Digest: prev.ImageDigest}).Get(cctx, &img)
		if err == nil {
			err = workflow.ExecuteActivity(dctx, acts.SwapComponents, activities.SwapRequest{Deployment: spec.deployment, Image: img, Revision: prev.Number}).Get(cctx, nil)
		}
		if err != nil {
			notes = append(notes, "components could not be put back: "+err.Error())
		} else {
			note := fmt.Sprintf("components put back on revision %d", prev.Number)
			t.compensated(StepSwap, note)
			notes = append(notes, note)
		}
	}
	if out.bundleSwapped && spec.prev.DagBundleVersion != "" {
		err := workflow.ExecuteActivity(dctx, acts.SwapBundle, activities.BundleRequest{DeploymentID: rev.DeploymentID, Version: spec.prev.DagBundleVersion}).Get(cctx, nil)
		if err != nil {
			notes = append(notes, "DAG bundle could not be put back: "+err.Error())
		} else {
			note := "DAG bundle put back on " + spec.prev.DagBundleVersion
			t.compensated(StepSwapBundle, note)
			notes = append(notes, note)
		}
	}
	if len(notes) > 0 {
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"kind": t.p.Kind}).Counter("rewind_compensations").Inc(1)
	}
	return strings.Join(notes, "; ")
}

// finishFailed marks the revision FAILED with the reason; on a disconnected
// context so even a cancelled change leaves no revision INITIALIZED.
func finishFailed(ctx workflow.Context, rev domain.Revision, why string) {
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	dctx = workflow.WithActivityOptions(dctx, storeOptions)
	err := workflow.ExecuteActivity(dctx, acts.FinishRevision, store.Finish{DeploymentID: rev.DeploymentID, Number: rev.Number,
		Status: domain.StatusFailed, Reason: clipReason(why), At: workflow.Now(dctx)}).Get(dctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("could not mark the revision FAILED", "revision", rev.Number, "error", err)
	}
}

func pinned(r *domain.Revision) string {
	return runtime.Image{Ref: r.ImageRef, Digest: r.ImageDigest}.Pinned()
}

func componentNames(d domain.Deployment) []string {
	out := make([]string, 0, len(d.Components))
	for _, c := range d.Components {
		out = append(out, c.Name)
	}
	return out
}

func swapSummary(r runtime.SwapReport) string {
	return fmt.Sprintf("created %d, replaced %d, unchanged %d, drained %s, killed %s",
		len(r.Created), len(r.Replaced), len(r.Unchanged), names(r.Drained), names(r.Killed))
}

func names(cs []runtime.ContainerRef) string {
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
