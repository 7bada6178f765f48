package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
)

// applyV0 is the order of a change before safe downgrades (R16): pull,
// metadata downgrade while the newer version still runs, bundle, swap,
// verify. Histories recorded then replay through it; new changes never
// take it (see apply).
func applyV0(ctx workflow.Context, t *tracker, spec applySpec, rev *domain.Revision) (*ApplyReport, error) {
	out := &ApplyReport{version: applyOrderV0}
	pctx := onHost(ctx, pullOptions)
	dctx := onHost(ctx, dockerOptions)

	if !spec.images {
		t.skip(StepPull, "the image does not change")
	} else if err := t.run(ctx, StepPull, func() error {
		req := activities.PullRequest{DeploymentID: rev.DeploymentID, Ref: rev.ImageRef}
		if spec.byDigest {
			req.Digest = rev.ImageDigest
		} else {
			req.Number = rev.Number
		}
		var img activities.Image
		if err := workflow.ExecuteActivity(pctx, hostActs.PullImage, req).Get(ctx, &img); err != nil {
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
		var res activities.OneOffResult
		if err := workflow.ExecuteActivity(onHost(ctx, downgradeOptions), hostActs.MetadataDowngrade, req).Get(ctx, &res); err != nil {
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
			return workflow.ExecuteActivity(dctx, hostActs.UnpackBundle, breq).Get(ctx, nil)
		}); err != nil {
			return out, err
		}
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
		if err := workflow.ExecuteActivity(dctx, hostActs.SwapComponents, req).Get(ctx, &rep); err != nil {
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
		return workflow.ExecuteActivity(dctx, hostActs.Verify, req).Get(ctx, nil)
	})
	return out, err
}

// compensateV0 is compensation as applyV0's changes had it: it puts back
// the previous bundle and components after a change failed for good. After the metadata downgrade it does not: the database
// now matches the older Runtime, and restarting the newer image on it would
// be worse than the failed state; the revision says so and a person acts.
func compensateV0(ctx workflow.Context, t *tracker, spec applySpec, out *ApplyReport, rev domain.Revision) string {
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
	dctx := onHost(cctx, dockerOptions)
	var notes []string
	if out.componentsTouched {
		var img activities.Image
		prev := spec.prev
		err := workflow.ExecuteActivity(onHost(cctx, pullOptions), hostActs.PullImage,
			activities.PullRequest{DeploymentID: prev.DeploymentID, Ref: prev.ImageRef, Digest: prev.ImageDigest}).Get(cctx, &img)
		if err == nil {
			err = workflow.ExecuteActivity(dctx, hostActs.SwapComponents, activities.SwapRequest{DeploymentID: prev.DeploymentID, Image: img, Revision: prev.Number}).Get(cctx, nil)
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
		err := workflow.ExecuteActivity(dctx, hostActs.SwapBundle, activities.BundleRequest{DeploymentID: rev.DeploymentID, Version: spec.prev.DagBundleVersion}).Get(cctx, nil)
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
