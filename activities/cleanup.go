package activities

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
)

// ImageRemover removes local images no kept revision needs; the Docker
// runtime is one.
type ImageRemover interface {
	RemoveImageByDigest(ctx context.Context, digest string) (freed int64, removed bool, err error)
}

// snapshotVolumes removes the volume a client image's snapshot lives in
// (the runtime does).
type snapshotVolumes interface {
	RemoveSnapshotVolume(ctx context.Context, prefix, rel string) error
}

// CleanupSettings are the worker's cleanup configuration (R12), read by the
// workflow through an activity so a schedule needs no copy of them.
type CleanupSettings struct {
	Enabled         bool `json:"enabled"`
	OlderThanDays   int  `json:"olderThanDays"`
	HostWaitSeconds int  `json:"hostWaitSeconds,omitempty"`
}

func (a *StoreActivities) CleanupSettings(ctx context.Context) (CleanupSettings, error) {
	return CleanupSettings{Enabled: a.Config.CleanupEnabled, OlderThanDays: a.Config.CleanupOlderThanDays,
		HostWaitSeconds: int(a.Config.CleanupHostWait.Seconds())}, nil
}

// CleanupBatchRequest is one bounded step of a cleanup.
type CleanupBatchRequest struct {
	Cutoff time.Time `json:"cutoff"`
	After  string    `json:"after"` // deployment id cursor
	Limit  int       `json:"limit"` // deployments per batch
	// HostsApart leaves the artifacts that live on a Docker host to
	// CollectHostGarbage on that host's queue; without it (cleanups
	// recorded before hosts) the batch removes every artifact here.
	HostsApart bool `json:"hostsApart,omitempty"`
}

// CleanupBatchResult counts what one batch removed.
type CleanupBatchResult struct {
	LastDeployment string `json:"lastDeployment"` // "" when there are no more deployments
	Deployments    int    `json:"deployments"`
	Revisions      int    `json:"revisions"`
	BundleDirs     int    `json:"bundleDirs"`
	BundleObjects  int    `json:"bundleObjects"`
	Images         int    `json:"images"`
	Snapshots      int    `json:"snapshots,omitempty"`
	BytesFreed     int64  `json:"bytesFreed"`
	// Failed artifacts could not be removed this time and stay for a later
	// batch; SetAside ones were given up on (rewind cleanup --status).
	Failed   int `json:"failed,omitempty"`
	SetAside int `json:"setAside,omitempty"`
}

// CleanupBatch deletes the expired revisions of the next page of
// deployments and then every artifact no kept revision references (with
// HostsApart, those every host shares; CollectHostGarbage does the rest
// on each host). The
// store records those artifacts in an outbox in the same transaction as the
// deletion, and they leave it only once removed, so a batch retried after a
// crash deletes nothing twice and misses nothing; leftovers of earlier
// crashed runs are removed by the next batch.
func (a *StoreActivities) CleanupBatch(ctx context.Context, req CleanupBatchRequest) (CleanupBatchResult, error) {
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
	host := store.AllHosts
	if req.HostsApart {
		host = ""
	}
	return res, a.garbage().walk(ctx, host, &res)
}

// garbage is what removes outbox artifacts from the machine it runs on.
func (a *StoreActivities) garbage() garbageCollector {
	return garbageCollector{a.Store, a.Config, a.Bundles, a.Images}
}

// CollectHostGarbage removes what the outbox holds for this worker's host:
// images on its Engine, bundle directories and snapshots under its data
// directory. It runs on the host's own queue (issue 13), so each host's
// garbage is removed by that host's worker, and a host that is down holds
// up only its own rows.
func (a *HostActivities) CollectHostGarbage(ctx context.Context, host string) (CleanupBatchResult, error) {
	if host != a.Config.Host {
		return CleanupBatchResult{}, refuse(domain.Errorf(domain.InvalidInput,
			"garbage of host %q reached the worker of host %q; it removes nothing", host, a.Config.Host))
	}
	stop := heartbeatWhile(ctx, "cleanup on host "+host)
	defer stop()
	var res CleanupBatchResult
	return res, garbageCollector{a.Store, a.Config, a.Bundles, a.Images}.walk(ctx, host, &res)
}

// GarbageHosts lists the hosts whose garbage waits for their worker.
func (a *StoreActivities) GarbageHosts(ctx context.Context) ([]string, error) {
	return a.Store.GarbageHosts(ctx)
}

type garbageCollector struct {
	store   *store.Store
	cfg     *config.Config
	bundles bundle.Store
	images  ImageRemover
}

// walk makes one pass over a host's rows of the outbox, in key order: an
// artifact that fails to go is counted and passed, so it can never hold up
// the others, this batch or any later run.
func (c garbageCollector) walk(ctx context.Context, host string, res *CleanupBatchResult) error {
	var after store.Garbage
	for {
		gs, err := c.store.PendingGarbageAfter(ctx, host, after, 200)
		if err != nil || len(gs) == 0 {
			return err
		}
		var done []store.Garbage
		for _, g := range gs {
			if err := c.collect(ctx, g, res); err != nil {
				if err := c.failed(ctx, g, err, res); err != nil {
					return err
				}
				continue
			}
			done = append(done, g)
		}
		if err := c.store.DoneGarbage(ctx, done); err != nil {
			return err
		}
		after = gs[len(gs)-1]
	}
}

// failed records an artifact that could not be removed. A refusal (the
// bundle `current` points at, an invalid reference) cannot get better by
// retrying and is set aside at once; anything else (the Engine away) is
// retried by later batches up to store.MaxGarbageAttempts times.
func (c garbageCollector) failed(ctx context.Context, g store.Garbage, cause error, res *CleanupBatchResult) error {
	aside, err := c.store.FailedGarbage(ctx, g, cause.Error(), domain.TypeOf(cause) != "")
	if err != nil {
		return err
	}
	res.Failed++
	log := activity.GetLogger(ctx)
	if aside {
		res.SetAside++
		log.Warn("cleanup set an artifact aside: it cannot be removed; see `rewind cleanup --status`", "kind", g.Kind, "host", g.Host, "deployment", g.DeploymentID, "ref", g.Ref, "error", cause)
	} else {
		log.Warn("cleanup could not remove an artifact; a later batch retries", "kind", g.Kind, "host", g.Host, "deployment", g.DeploymentID, "ref", g.Ref, "error", cause)
	}
	return nil
}

// collect removes one artifact, unless a revision has come to reference it
// since it became garbage (a new deploy of the same DAGs or image).
func (c garbageCollector) collect(ctx context.Context, g store.Garbage, res *CleanupBatchResult) error {
	if ref, err := c.store.StillReferenced(ctx, g); err != nil || ref {
		return err
	}
	log := activity.GetLogger(ctx)
	switch g.Kind {
	case store.GarbageBundleDir:
		n := dirSize(bundle.VersionDir(c.cfg.BundleRoot, g.DeploymentID, g.Ref))
		if err := bundle.RemoveVersion(c.cfg.BundleRoot, g.DeploymentID, g.Ref); err != nil {
			return err
		}
		res.BundleDirs++
		res.BytesFreed += n
	case store.GarbageBundleObject:
		if err := c.bundles.Delete(ctx, g.Ref); err != nil {
			return err
		}
		res.BundleObjects++
	case store.GarbageSnapshot:
		path, err := snapshotPath(c.cfg, g.Ref)
		if err != nil {
			return err
		}
		// Taken by a client image: the snapshot is a volume of this
		// host's Engine (REWIND_PG_CLIENT_IMAGE).
		if v, ok := c.images.(snapshotVolumes); ok && c.cfg.PgClientImage != "" {
			if err := v.RemoveSnapshotVolume(ctx, c.cfg.SnapshotVolume, g.Ref); err != nil {
				return err
			}
		}
		fi, err := os.Stat(path)
		if err == nil {
			res.BytesFreed += fi.Size()
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		res.Snapshots++
	case store.GarbageImage:
		if c.images == nil {
			return nil
		}
		freed, removed, err := c.images.RemoveImageByDigest(ctx, g.Ref)
		if err != nil {
			return err
		}
		if removed {
			res.Images++
			res.BytesFreed += freed
		}
	}
	log.Info("cleanup removed an artifact", "kind", g.Kind, "host", g.Host, "deployment", g.DeploymentID, "ref", g.Ref)
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
