package activities

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/store"
)

// ImageRemover removes local images no kept revision needs; the Docker
// runtime is one.
type ImageRemover interface {
	RemoveImageByDigest(ctx context.Context, digest string) (freed int64, removed bool, err error)
}

// CleanupSettings are the worker's cleanup configuration (R12), read by the
// workflow through an activity so a schedule needs no copy of them.
type CleanupSettings struct {
	Enabled       bool `json:"enabled"`
	OlderThanDays int  `json:"olderThanDays"`
}

func (a *Activities) CleanupSettings(ctx context.Context) (CleanupSettings, error) {
	return CleanupSettings{Enabled: a.Config.CleanupEnabled, OlderThanDays: a.Config.CleanupOlderThanDays}, nil
}

// CleanupBatchRequest is one bounded step of a cleanup.
type CleanupBatchRequest struct {
	Cutoff time.Time `json:"cutoff"`
	After  string    `json:"after"` // deployment id cursor
	Limit  int       `json:"limit"` // deployments per batch
}

// CleanupBatchResult counts what one batch removed.
type CleanupBatchResult struct {
	LastDeployment string `json:"lastDeployment"` // "" when there are no more deployments
	Deployments    int    `json:"deployments"`
	Revisions      int    `json:"revisions"`
	BundleDirs     int    `json:"bundleDirs"`
	BundleObjects  int    `json:"bundleObjects"`
	Images         int    `json:"images"`
	BytesFreed     int64  `json:"bytesFreed"`
}

// CleanupBatch deletes the expired revisions of the next page of
// deployments and then every artifact no kept revision references. The
// store records those artifacts in an outbox in the same transaction as the
// deletion, and they leave it only once removed, so a batch retried after a
// crash deletes nothing twice and misses nothing; leftovers of earlier
// crashed runs are removed by the next batch.
func (a *Activities) CleanupBatch(ctx context.Context, req CleanupBatchRequest) (CleanupBatchResult, error) {
	stop := heartbeatWhile(ctx, "cleanup after "+req.After)
	defer stop()
	exp, err := a.Store.ExpireBatch(ctx, req.Cutoff, req.After, req.Limit)
	if err != nil {
		return CleanupBatchResult{}, refuse(err)
	}
	res := CleanupBatchResult{LastDeployment: exp.LastDeployment, Deployments: exp.Deployments, Revisions: exp.RevisionsDeleted}
	// A crash here leaves revisions deleted and their artifacts in the
	// outbox: the fault tests pause here to kill the worker.
	if err := a.Faults.inject(ctx, "CleanupBatch", "mid"); err != nil {
		return res, err
	}
	for {
		gs, err := a.Store.PendingGarbage(ctx, 200)
		if err != nil || len(gs) == 0 {
			return res, err
		}
		for _, g := range gs {
			if err := a.collect(ctx, g, &res); err != nil {
				return res, err
			}
		}
		if err := a.Store.DoneGarbage(ctx, gs); err != nil {
			return res, err
		}
	}
}

// collect removes one artifact, unless a revision has come to reference it
// since it became garbage (a new deploy of the same DAGs or image).
func (a *Activities) collect(ctx context.Context, g store.Garbage, res *CleanupBatchResult) error {
	if ref, err := a.Store.StillReferenced(ctx, g); err != nil || ref {
		return err
	}
	log := activity.GetLogger(ctx)
	switch g.Kind {
	case store.GarbageBundleDir:
		n := dirSize(bundle.VersionDir(a.Config.BundleRoot, g.DeploymentID, g.Ref))
		if err := bundle.RemoveVersion(a.Config.BundleRoot, g.DeploymentID, g.Ref); err != nil {
			return err
		}
		res.BundleDirs++
		res.BytesFreed += n
	case store.GarbageBundleObject:
		if err := a.Bundles.Delete(ctx, g.Ref); err != nil {
			return err
		}
		res.BundleObjects++
	case store.GarbageImage:
		if a.Images == nil {
			return nil
		}
		freed, removed, err := a.Images.RemoveImageByDigest(ctx, g.Ref)
		if err != nil {
			return err
		}
		if removed {
			res.Images++
			res.BytesFreed += freed
		}
	}
	log.Info("cleanup removed an artifact", "kind", g.Kind, "deployment", g.DeploymentID, "ref", g.Ref)
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	if _, err := os.Stat(dir); err != nil {
		return 0
	}
	return n
}
