package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

// StepMigrate is R21's step: `airflow db migrate` with the newer image.
const StepMigrate = "metadata migrate"

// The ways a change that is no downgrade treats the metadata database
// (workflow.GetVersion "metadata-migrate").
const (
	migrateNever   = workflow.DefaultVersion // before R21: nothing migrated
	migrateUpgrade = 1                       // an Airflow upgrade (or a first deploy) migrates first
)

// migrateSafely is R21 on a change that raises the Airflow version, or a
// deployment's first: with the deployment's metadata database named, a
// snapshot first (restored if anything after it fails, as on a downgrade);
// then `airflow db migrate` once, in a one-off of the newer image with the
// stored configuration, after the preflight and before any of the newer
// image's components starts. The older components keep running meanwhile,
// as the Airflow Helm chart's migration job lets them, and their workers
// drain afterwards as on any upgrade (R11): the deployment keeps
// scheduling through the migration; a failure restores the snapshot under
// stopped components and puts the older ones back.
func migrateSafely(ctx workflow.Context, t *tracker, spec applySpec, rev *domain.Revision, out *ApplyReport) error {
	if out.Image == nil {
		t.skip(StepMigrate, "the image does not change")
		return nil
	}
	if workflow.GetVersion(ctx, "metadata-migrate", migrateNever, migrateUpgrade) == migrateNever {
		t.skip(StepMigrate, "not an Airflow upgrade")
		return nil
	}
	var cur *policy.Versions
	if spec.prev != nil {
		cur = &policy.Versions{Runtime: spec.prev.RuntimeVersion, Airflow: spec.prev.AirflowVersion}
	}
	if !policy.NeedsMigration(cur, policy.Versions{Runtime: rev.RuntimeVersion, Airflow: rev.AirflowVersion}) {
		t.skip(StepMigrate, "not an Airflow upgrade")
		return nil
	}
	if spec.prev != nil {
		if err := t.run(ctx, StepSnapshot, func() error {
			return snapshot(ctx, t, rev, out, "the migration is a point of no return")
		}); err != nil {
			return err
		}
		t.detail(StepStop, "the older components keep running during the migration (Helm chart style)")
	}
	return t.run(ctx, StepMigrate, func() error {
		out.pointOfNoReturn, out.migrating = true, true // from its first attempt the database may have changed
		req := activities.MigrateRequest{DeploymentID: rev.DeploymentID, NewerImage: out.Image.Pinned(), Revision: rev.Number}
		// Cancelling the change must not cancel a migration half-way.
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		var res activities.OneOffResult
		if err := workflow.ExecuteActivity(onHost(dctx, downgradeOptions), hostActs.MetadataMigrate, req).Get(dctx, &res); err != nil {
			return err
		}
		out.Migrate = &res
		from := "none (first deploy)"
		if spec.prev != nil {
			from = orUnknown(spec.prev.AirflowVersion)
		}
		t.detail(StepMigrate, fmt.Sprintf("Airflow %s → %s, ran with %s: exit %d%s", from, rev.AirflowVersion, req.NewerImage, res.ExitCode, attachedNote(res)))
		return nil
	})
}

// snapshot takes R16's metadata snapshot, when the deployment names its
// database; without one, why says what that costs.
func snapshot(ctx workflow.Context, t *tracker, rev *domain.Revision, out *ApplyReport, why string) error {
	var snap activities.Snapshot
	err := workflow.ExecuteActivity(onHost(ctx, snapshotOptions), hostActs.SnapshotMetadata,
		activities.SnapshotRequest{DeploymentID: rev.DeploymentID, Revision: rev.Number}).Get(ctx, &snap)
	if err != nil {
		return err
	}
	if snap.Path == "" {
		t.detail(StepSnapshot, "no metadata database named: "+why)
		return nil
	}
	out.Snapshot = &snap
	if snap.ServerVersion == "" { // taken by a client image's pg_dump
		t.detail(StepSnapshot, fmt.Sprintf("%s (pg_dump of %s)", snap.Path, snap.Tool))
		return nil
	}
	t.detail(StepSnapshot, fmt.Sprintf("%s (%d bytes, PostgreSQL %s)", snap.Path, snap.Bytes, snap.ServerVersion))
	return nil
}

func attachedNote(r activities.OneOffResult) string {
	if r.Attached {
		return " (attached to the run an earlier attempt started)"
	}
	return ""
}
