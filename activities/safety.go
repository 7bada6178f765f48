package activities

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/metadb"
	"github.com/rewindhq/rewind/internal/runtime"
)

// The activities of a safe change (R15–R17): the start check before
// anything is touched, the snapshot before the point of no return, stopping
// every component before a metadata downgrade, and the durable end of a
// drain. Each loads the deployment from the store itself, so configuration
// (and the secrets in it) never travels in workflow payloads.

// PreflightRequest names the image (and DAG bundle) a change will start.
type PreflightRequest struct {
	DeploymentID  string `json:"deploymentId"`
	Image         Image  `json:"image"`
	BundleVersion string `json:"bundleVersion,omitempty"` // unpacked, not yet current
	Revision      int    `json:"revision"`
	// Downgrade: the change is a Runtime downgrade, whose checks always run
	// (the metadata they may read is newer than when they last passed).
	Downgrade bool `json:"downgrade,omitempty"`
}

// Preflight starts the target image once, in throwaway containers with the
// deployment's stored configuration, and runs the configured start checks
// against the DAGs it will serve. A target that cannot start or parse is
// refused (PreflightFailed) with its output, before any step changed the
// deployment. Checks that passed recently with identical containers are
// not run again (preflight_reuse.go).
func (a *HostActivities) Preflight(ctx context.Context, req PreflightRequest) ([]PreflightCheck, error) {
	ctx, done := a.hostStep(ctx, "preflight of "+req.Image.Ref)
	res, err := a.preflight(ctx, req)
	return checksOf(res), done(err)
}

func (a *HostActivities) preflight(ctx context.Context, req PreflightRequest) ([]runtime.PreflightCheck, error) {
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return nil, refuse(err)
	}
	checks := a.Config.PreflightCommands()
	if len(checks) == 0 {
		return nil, nil
	}
	folder := ""
	if req.BundleVersion != "" && d.DagSource == domain.DagSourceBundle {
		folder = a.Runtime.Config().MountPath + "/bundles/" + req.BundleVersion
	}
	key := a.preflightKey(ctx, d, req, folder, checks)
	if res, ok := a.reusePreflight(ctx, d, key, checks); ok {
		return res, nil
	}
	res, err := a.Runtime.Preflight(ctx, d, runtime.Image(req.Image), folder, checks, req.Revision)
	if err == nil {
		a.rememberPreflight(ctx, d, key, req.Revision)
	}
	return res, refuse(err)
}

// SnapshotRequest asks for the metadata snapshot of one revision.
type SnapshotRequest struct {
	DeploymentID string `json:"deploymentId"`
	Revision     int    `json:"revision"`
}

// SnapshotMetadata dumps the deployment's metadata database before its
// metadata downgrade and records the snapshot on the revision (R16). A
// deployment that names no PostgreSQL metadata database gets no snapshot
// (an empty result): the downgrade stays a point of no return, as the plan
// said.
func (a *HostActivities) SnapshotMetadata(ctx context.Context, req SnapshotRequest) (Snapshot, error) {
	ctx, done := a.snapshotStep(ctx, "metadata snapshot")
	snap, err := a.snapshotMetadata(ctx, req)
	return snapshotOf(snap), done(err)
}

func (a *HostActivities) snapshotMetadata(ctx context.Context, req SnapshotRequest) (metadb.Snapshot, error) {
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return metadb.Snapshot{}, refuse(err)
	}
	db := metadb.For(d)
	if db == "" {
		return metadb.Snapshot{}, nil
	}
	rel := filepath.Join(d.ID, "r"+strconv.Itoa(req.Revision)+".dump")
	var snap metadb.Snapshot
	if pc, ok := a.pgClient(); ok {
		res, err := a.Runtime.PgDump(ctx, d, pc, db, rel, req.Revision)
		if err != nil {
			return snap, refuse(err)
		}
		snap = metadb.Snapshot{Tool: pc.Image + " (volume " + pc.Volume + ")", TakenAt: res.FinishedAt.UTC()}
	} else if snap, err = metadb.Dump(ctx, db, filepath.Join(snapshotDir(a.Config), rel)); err != nil {
		return snap, refuse(err)
	}
	if err := a.Store.SetSnapshot(ctx, d.ID, req.Revision, rel); err != nil {
		return snap, refuse(err)
	}
	snap.Path = rel
	activity.GetLogger(ctx).Info("metadata snapshot taken", "deployment", d.ID, "revision", req.Revision,
		"snapshot", rel, "bytes", snap.Bytes, "server", snap.ServerVersion, "tool", snap.Tool)
	return snap, nil
}

// pgClient is the PostgreSQL client image snapshots run in, when one is
// configured (REWIND_PG_CLIENT_IMAGE).
func (a *HostActivities) pgClient() (runtime.PgClient, bool) {
	if a.Config == nil || a.Config.PgClientImage == "" {
		return runtime.PgClient{}, false
	}
	return runtime.PgClient{Image: a.Config.PgClientImage, Volume: a.Config.SnapshotVolume}, true
}

// snapshotDir holds metadata snapshots, <data dir>/snapshots/<deployment>/r<n>.dump.
func snapshotDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "snapshots") }

// snapshotPath is where a snapshot rewind took lives; anything that could
// point elsewhere is refused.
func snapshotPath(cfg *config.Config, rel string) (string, error) {
	dep, file, ok := strings.Cut(rel, "/")
	if !ok || domain.CheckDeploymentID(dep) != nil || !strings.HasPrefix(file, "r") || !strings.HasSuffix(file, ".dump") ||
		strings.ContainsAny(file, "/\\") || strings.Contains(rel, "..") {
		return "", domain.Errorf(domain.InvalidInput, "snapshot %q is not one rewind took", rel)
	}
	return filepath.Join(snapshotDir(cfg), dep, file), nil
}

// RestoreRequest puts a revision's snapshot back.
type RestoreRequest struct {
	DeploymentID string `json:"deploymentId"`
	Snapshot     string `json:"snapshot"` // as SnapshotMetadata returned it
}

// RestoreMetadata restores the snapshot after a failed downgrade, so the
// newer version can run again on the metadata it left (R16). A metadata
// downgrade still running is killed first: restoring under a migration
// would corrupt both.
func (a *HostActivities) RestoreMetadata(ctx context.Context, req RestoreRequest) error {
	ctx, done := a.snapshotStep(ctx, "restoring the metadata snapshot")
	return done(a.restoreMetadata(ctx, req))
}

func (a *HostActivities) restoreMetadata(ctx context.Context, req RestoreRequest) error {
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return refuse(err)
	}
	db := metadb.For(d)
	if db == "" {
		return refuse(domain.Errorf(domain.InvalidState, "deployment %s no longer names its metadata database; restore %s by hand", d.ID, req.Snapshot))
	}
	path, err := snapshotPath(a.Config, req.Snapshot)
	if err != nil {
		return refuse(err)
	}
	if _, err := a.Runtime.KillOneOffs(ctx, d.ID); err != nil {
		return err
	}
	if pc, ok := a.pgClient(); ok {
		if _, err := a.Runtime.PgRestore(ctx, d, pc, db, req.Snapshot); err != nil {
			return refuse(err)
		}
	} else if err := metadb.Restore(ctx, db, path); err != nil {
		return refuse(err)
	}
	activity.GetLogger(ctx).Warn("metadata restored from snapshot", "deployment", d.ID, "snapshot", req.Snapshot)
	return nil
}

// StopRequest names the deployment whose components stop.
type StopRequest struct {
	DeploymentID string `json:"deploymentId"`
}

// StopComponents stops every component of the deployment and kills its
// workers before a metadata downgrade (R16, R11).
func (a *HostActivities) StopComponents(ctx context.Context, req StopRequest) (StopReport, error) {
	ctx, done := a.hostStep(ctx, "stopping components")
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return StopReport{}, done(refuse(err))
	}
	rep, err := a.Runtime.StopAll(ctx, d)
	return stopReportOf(rep), done(refuse(err))
}

// DrainRequest names a draining worker whose deadline has come.
type DrainRequest struct {
	DeploymentID string `json:"deploymentId"`
	ContainerID  string `json:"containerId"`
}

// EnforceDrainDeadline kills a draining worker still running at its
// deadline (R11); one that has exited is left alone.
func (a *HostActivities) EnforceDrainDeadline(ctx context.Context, req DrainRequest) (string, error) {
	k, killed, err := a.Runtime.EnforceDrainDeadline(ctx, req.DeploymentID, req.ContainerID)
	if err != nil {
		return "", refuse(err)
	}
	if !killed {
		return fmt.Sprintf("%s had finished draining", orID(k)), nil
	}
	activity.GetLogger(ctx).Warn("draining worker killed at its deadline", "deployment", req.DeploymentID, "container", k.Name, "exitCode", *k.ExitCode)
	return fmt.Sprintf("%s killed at its drain deadline (exit %d)", k.Name, *k.ExitCode), nil
}

func orID(k runtime.ContainerRef) string {
	if k.Name != "" {
		return k.Name
	}
	return k.ID
}
