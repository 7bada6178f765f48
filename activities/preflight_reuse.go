package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/internal/store"
)

// Start checks are deterministic in what rewind controls: the image's
// content, the DAGs, the containers' settings and the commands. A change
// whose check containers would be identical to those of a pass on the same
// host within REWIND_PREFLIGHT_REUSE (typically a rollback to the last good
// revision, whose deploy ran the same checks) skips the two throwaway
// containers and says so in its preflight step. Reuse is only an
// optimisation: anything it cannot establish (the store or the Engine not
// answering, DAGs it cannot pin) runs the checks.

// preflightKey is what a pass is remembered by: the check containers'
// fingerprint pinned to the DAGs they read. "" means the checks must run:
// reuse is off, the change is a Runtime downgrade, or the DAGs are not
// pinned by a digest (a change that keeps the DAG bundle reads `current`;
// DAGs from the image, NFS or git-sync are read from where rewind does not
// track their content).
func (a *HostActivities) preflightKey(ctx context.Context, d domain.Deployment, req PreflightRequest, folder string, checks [][]string) string {
	if a.Config.PreflightReuse <= 0 || req.Downgrade || d.DagSource != domain.DagSourceBundle || folder == "" {
		return ""
	}
	rev, err := a.Store.GetRevision(ctx, d.ID, req.Revision)
	if err != nil || rev.DagBundleDigest == "" || rev.DagBundleVersion != req.BundleVersion {
		return ""
	}
	fp, err := a.Runtime.PreflightFingerprint(ctx, d, runtime.Image(req.Image), folder, checks)
	if err != nil {
		activity.GetLogger(ctx).Warn("start checks run: their fingerprint could not be taken", "deployment", d.ID, "error", err)
		return ""
	}
	sum := sha256.Sum256([]byte(fp + "\nbundle " + rev.DagBundleDigest))
	return hex.EncodeToString(sum[:])
}

// reusePreflight answers with the checks as passed, without running them,
// when a pass under key is recent enough.
func (a *HostActivities) reusePreflight(ctx context.Context, d domain.Deployment, key string, checks [][]string) ([]runtime.PreflightCheck, bool) {
	if key == "" {
		return nil, false
	}
	p, ok, err := a.Store.PreflightPassSince(ctx, a.Config.Host, d.ID, key, time.Now().Add(-a.Config.PreflightReuse))
	if err != nil || !ok {
		return nil, false
	}
	out := make([]runtime.PreflightCheck, len(checks))
	for i, c := range checks {
		out[i] = runtime.PreflightCheck{Command: strings.Join(c, " "), Reused: true, PassedAt: &p.PassedAt, PassedRevision: p.Revision}
	}
	activity.GetLogger(ctx).Info("start checks reused", "deployment", d.ID, "passedAt", p.PassedAt, "passedRevision", p.Revision)
	return out, true
}

// rememberPreflight records a pass under key; a failure to record costs
// only the next change's reuse.
func (a *HostActivities) rememberPreflight(ctx context.Context, d domain.Deployment, key string, revision int) {
	if key == "" {
		return
	}
	now := time.Now().UTC()
	p := store.PreflightPass{Host: a.Config.Host, DeploymentID: d.ID, Fingerprint: key, Revision: revision, PassedAt: now}
	if err := a.Store.RecordPreflightPass(ctx, p, now.Add(-config.MaxPreflightReuse)); err != nil {
		activity.GetLogger(ctx).Warn("a passed preflight was not recorded for reuse", "deployment", d.ID, "error", err)
	}
}
