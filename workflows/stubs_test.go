package workflows_test

import (
	"context"
	"time"

	"crypto/sha256"
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/workflows"
)

// dockerStub is a test double of the Docker Engine and bundle-root steps,
// for the workflow unit tests only: it lets them fail any step on demand to
// test compensation. The real activities run against a real Engine and
// registry in the integration tests (internal/runtime, internal/cli).
type dockerStub struct {
	failAt    string         // activity whose first call fails for good (later calls, e.g. compensation, succeed)
	transient map[string]int // activity → attempts that fail before one succeeds
	calls     []string       // every call, in order
	swaps     []activities.SwapRequest
	bundles   []string // versions `current` was pointed at, in order
	snapshot  bool     // the deployment names a metadata database: snapshots are taken
	restored  []string // snapshots put back, in order
	drains    []workflows.DrainDeadline
	// refuseDowngrade: the metadata downgrade refuses before its one-off
	// exists (a target without an Airflow version), as the real one does.
	refuseDowngrade bool
	workers         []string // running worker containers the host reports to a plan
	noAnswer        bool     // the host's plan step fails every attempt (a registry down)
}

func (d *dockerStub) enter(name string) error {
	d.calls = append(d.calls, name)
	if d.transient[name] > 0 {
		d.transient[name]--
		return fmt.Errorf("stub: %s is briefly unavailable", name)
	}
	if d.failAt == name {
		d.failAt = ""
		return temporal.NewNonRetryableApplicationError("stub: "+name+" failed for good", "StubFailure", nil)
	}
	return nil
}

// stubImage makes an image whose tag is its Runtime version: r:8.0.0 runs
// Runtime 8.0.0. Below Runtime 5 it carries Airflow 2.2.5, a tag ending in
// -af3 Airflow 3.0.2, else 2.9.3.
func stubImage(ref string) activities.Image {
	tag := ref[strings.LastIndex(ref, ":")+1:]
	airflow := "2.9.3"
	if strings.HasPrefix(tag, "4.") {
		airflow = "2.2.5"
	}
	if strings.HasSuffix(tag, "-af3") {
		airflow = "3.0.2"
	}
	return activities.Image{Ref: ref, Digest: fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(ref))), ID: "id-" + tag, RuntimeVersion: tag, AirflowVersion: airflow}
}

func stubDocker(env *testsuite.TestWorkflowEnvironment, host *activities.HostActivities, d *dockerStub) {
	env.OnActivity(host.PullImage, mock.Anything, mock.Anything).Return(func(ctx context.Context, req activities.PullRequest) (activities.Image, error) {
		if err := d.enter("PullImage"); err != nil {
			return activities.Image{}, err
		}
		img := stubImage(req.Ref)
		if req.Digest != "" && req.Digest != img.Digest {
			return img, temporal.NewNonRetryableApplicationError("digest moved", "DigestMismatch", nil)
		}
		if req.Number > 0 { // what the real activity records
			return img, host.Store.SetImage(ctx, req.DeploymentID, req.Number, img.Digest, img.RuntimeVersion, img.AirflowVersion)
		}
		return img, nil
	})
	env.OnActivity(host.MetadataDowngrade, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.DowngradeRequest) (activities.OneOffResult, error) {
		if err := d.enter("MetadataDowngrade"); err != nil {
			return activities.OneOffResult{}, err
		}
		if d.refuseDowngrade {
			return activities.OneOffResult{}, activities.DowngradeNotStarted(temporal.NewNonRetryableApplicationError(
				"cannot downgrade the metadata: the target's Airflow version is unknown", "InvalidInput", nil))
		}
		d.calls[len(d.calls)-1] += " with " + req.NewerImage
		return activities.OneOffResult{Output: "downgraded to " + req.AirflowVersion}, nil
	})
	env.OnActivity(host.MetadataMigrate, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.MigrateRequest) (activities.OneOffResult, error) {
		if err := d.enter("MetadataMigrate"); err != nil {
			return activities.OneOffResult{}, err
		}
		d.calls[len(d.calls)-1] += " with " + req.NewerImage
		return activities.OneOffResult{Output: "migrated"}, nil
	})
	env.OnActivity(host.UnpackBundle, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.BundleRequest) (string, error) {
		return "/bundles/" + req.Version, d.enter("UnpackBundle")
	})
	env.OnActivity(host.SwapBundle, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.BundleRequest) error {
		if err := d.enter("SwapBundle"); err != nil {
			return err
		}
		d.bundles = append(d.bundles, req.Version)
		return nil
	})
	env.OnActivity(host.SwapComponents, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.SwapRequest) (activities.SwapReport, error) {
		if err := d.enter("SwapComponents"); err != nil {
			return activities.SwapReport{}, err
		}
		d.swaps = append(d.swaps, req)
		rep := activities.SwapReport{DeploymentID: req.DeploymentID, Revision: req.Revision, Image: req.Image.Ref, Downgrade: req.Downgrade}
		old := activities.ContainerRef{Name: "rewind-" + req.DeploymentID + "-worker", ID: fmt.Sprintf("c%d", len(d.swaps)), Component: "worker"}
		if req.Downgrade {
			rep.Killed = append(rep.Killed, old)
		} else {
			deadline := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			old.DrainDeadline = &deadline
			rep.Drained = append(rep.Drained, old)
		}
		return rep, nil
	})
	env.OnActivity(host.Preflight, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.PreflightRequest) ([]activities.PreflightCheck, error) {
		if err := d.enter("Preflight"); err != nil {
			return nil, err
		}
		return []activities.PreflightCheck{{Command: "airflow version"}}, nil
	})
	env.OnActivity(host.SnapshotMetadata, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.SnapshotRequest) (activities.Snapshot, error) {
		if err := d.enter("SnapshotMetadata"); err != nil || !d.snapshot {
			return activities.Snapshot{}, err
		}
		return activities.Snapshot{Path: fmt.Sprintf("%s/r%d.dump", req.DeploymentID, req.Revision), Bytes: 1234, ServerVersion: "15.8"}, nil
	})
	env.OnActivity(host.StopComponents, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.StopRequest) (activities.StopReport, error) {
		return activities.StopReport{}, d.enter("StopComponents")
	})
	env.OnActivity(host.RestoreMetadata, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.RestoreRequest) error {
		if err := d.enter("RestoreMetadata"); err != nil {
			return err
		}
		d.restored = append(d.restored, req.Snapshot)
		return nil
	})
	env.OnWorkflow(workflows.DrainDeadlineWorkflowName, mock.Anything, mock.Anything).Return(func(_ workflow.Context, in workflows.DrainDeadline) (string, error) {
		d.drains = append(d.drains, in)
		return "", nil
	})
	// A plan's question to the host: the image is cached, d.workers run.
	env.OnActivity(host.InspectRollback, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.RollbackHostCheck) (activities.RollbackHostFacts, error) {
		if d.noAnswer {
			return activities.RollbackHostFacts{}, fmt.Errorf("stub: registry 127.0.0.1:5000 does not answer")
		}
		return activities.RollbackHostFacts{Host: "local", ImageLocal: true, Workers: append([]string{}, d.workers...)}, nil
	})
	env.OnActivity(host.Verify, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.VerifyRequest) error {
		return d.enter("Verify")
	})
}
