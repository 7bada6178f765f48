package activities

import (
	"context"

	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/domain"
)

// dagDiff is what a change does to a deployment's DAGs, from the current
// revision's bundle to the given one, for plans (issue 16). Image
// deployments keep their DAGs in the image: there is nothing to compare,
// and the note says so plainly.
func (a *StoreActivities) dagDiff(ctx context.Context, d domain.Deployment, cur *domain.Revision, to string, unified bool) (*bundle.Diff, string, error) {
	switch {
	case d.DagSource != domain.DagSourceBundle:
		return nil, "the DAGs of " + d.ID + " live in its image (DAG source " + string(d.DagSource) + "): no DAG diff is available", nil
	case to == "":
		return nil, "the DAG bundle does not change", nil
	case cur == nil || cur.DagBundleDigest == "":
		return nil, "no current DAG bundle to compare with: every file is new", nil
	case cur.DagBundleDigest == to:
		return &bundle.Diff{}, "", nil
	case a.Bundles == nil:
		return nil, "DAG bundles are not available to this worker", nil
	}
	stop := heartbeatWhile(ctx, "comparing DAG bundles")
	defer stop()
	diff, err := bundle.DiffBundles(ctx, a.Bundles, cur.DagBundleDigest, to, unified, bundleLimits(a.Config))
	if domain.TypeOf(err) == domain.NotFound {
		return nil, "a bundle to compare is no longer stored (cleaned up)", nil
	}
	if err != nil {
		return nil, "", err
	}
	return &diff, "", nil
}
