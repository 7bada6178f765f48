package activities

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/rewindhq/rewind/internal/domain"
)

// A rollback stays rolled back (issue 16): while the deployment's current
// revision is a rollback, a deploy that would bring back what it moved away
// from — the same git commit, DAG bundle or image digest — is refused with
// RolledBack, until something different lands or a person overrides it
// with --force and a description. The next CI run re-deploying the bad
// version is the commonest way a rollback is undone by accident.

// guard is the rollback a deploy is checked against, and what it moved
// away from.
type guard struct {
	rollback domain.Revision
	from     domain.Revision
}

// activeGuard is the guard of a deployment whose current revision is a
// rollback, nil otherwise.
func (a *StoreActivities) activeGuard(ctx context.Context, cur *domain.Revision) (*guard, error) {
	if cur == nil || cur.RollbackOf == 0 || cur.RolledBackFrom == 0 {
		return nil, nil
	}
	from, err := a.Store.GetRevision(ctx, cur.DeploymentID, cur.RolledBackFrom)
	if domain.TypeOf(err) == domain.NotFound {
		return nil, nil // cleaned up: nothing left to compare with
	}
	if err != nil {
		return nil, err
	}
	return &guard{rollback: *cur, from: from}, nil
}

// brings says what of the rolled-back-from revision a deploy would bring
// back, "" when nothing.
func (a *StoreActivities) brings(ctx context.Context, g *guard, c DeployCheck) (string, error) {
	f := g.from
	if c.GitCommit != "" && f.Git != nil && f.Git.Commit != "" && sameCommit(c.GitCommit, f.Git.Commit) {
		return "git commit " + f.Git.Commit, nil
	}
	if c.BundleDigest != "" && c.BundleDigest == f.DagBundleDigest {
		return "DAG bundle " + f.DagBundleDigest, nil
	}
	if c.Type.ChangesImage() && c.ImageRef != "" && f.ImageDigest != "" && a.Runtime != nil {
		// The deploy names a tag; what it would run is the digest the
		// registry serves for it now.
		digest, err := a.Runtime.ResolveDigest(ctx, c.ImageRef)
		if domain.TypeOf(err) == domain.NotFound {
			return "", nil // the pull will say so
		}
		if err != nil {
			return "", err
		}
		if digest == f.ImageDigest {
			return "image " + f.ImageRef + "@" + f.ImageDigest, nil
		}
	}
	return "", nil
}

func sameCommit(a, b string) bool {
	n := min(len(a), len(b))
	return n >= 7 && strings.EqualFold(a[:n], b[:n])
}

// checkGuard refuses a deploy that undoes the current rollback, or records
// that it overrode it on purpose; it returns the rollback overridden.
func (a *StoreActivities) checkGuard(ctx context.Context, c DeployCheck, cur *domain.Revision) (int, error) {
	g, err := a.activeGuard(ctx, cur)
	if err != nil || g == nil {
		return 0, err
	}
	what, err := a.brings(ctx, g, c)
	if err != nil || what == "" {
		return 0, err
	}
	if c.Force {
		activity.GetLogger(ctx).Warn("deploy overrides a rollback's guard", "deployment", c.DeploymentID, "rollback", g.rollback.Number,
			"requestedBy", c.RequestedBy, "brings", what)
		return g.rollback.Number, nil
	}
	return 0, refuse(domain.Errorf(domain.RolledBack,
		"deployment %s was rolled back by revision %d (%s, %s: %q) away from revision %d; this deploy would bring back its %s. "+
			"Deploy something else, or override with --force and a --description saying why",
		c.DeploymentID, g.rollback.Number, g.rollback.CreatedBy, g.rollback.CreatedAt.UTC().Format("2006-01-02 15:04"), g.rollback.Description,
		g.from.Number, what))
}

// Guard describes a deployment's guard for history views: "guarded since
// #7" while its current revision is a rollback.
func Guard(cur domain.Revision) string {
	if cur.RollbackOf == 0 || cur.RolledBackFrom == 0 {
		return ""
	}
	return fmt.Sprintf("guarded since #%d: deploys of what #%d ran are refused (RolledBack) until something else lands", cur.Number, cur.RolledBackFrom)
}
