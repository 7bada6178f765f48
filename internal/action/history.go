package action

import (
	"context"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
)

// History lists a deployment's revisions newest first (R1).
type History struct {
	Store  *store.Store
	Limit  int
	Before int // page: revisions numbered below this; 0 from the top
}

const MaxHistoryLimit = 1000

func (a *History) Run(ctx context.Context, deploymentID string) ([]domain.Revision, error) {
	if err := domain.CheckDeploymentID(deploymentID); err != nil {
		return nil, err
	}
	if a.Limit < 1 || a.Limit > MaxHistoryLimit {
		return nil, domain.Errorf(domain.InvalidInput, "limit must be between 1 and %d", MaxHistoryLimit)
	}
	if _, err := a.Store.GetDeployment(ctx, deploymentID); err != nil {
		return nil, err
	}
	return a.Store.ListRevisions(ctx, deploymentID, a.Limit, a.Before)
}

// HistoryRow is a revision and whether it is a rollback target now (R6,
// R7), as `rewind history`, the API and the page show it.
type HistoryRow struct {
	domain.Revision
	RollbackTarget policy.TargetStatus `json:"rollbackTarget"`
}

// DeploysPage is a page of a deployment's history with each revision's
// rollback-target status (GET /api/v1/deployments/{id}/deploys).
type DeploysPage struct {
	DeploymentID string       `json:"deploymentId"`
	Deploys      []HistoryRow `json:"deploys"`
	// CurrentRevision is the revision the deployment runs now.
	CurrentRevision int `json:"currentRevision"`
	// NextBefore is the "before" of the next (older) page; absent on the last.
	NextBefore int `json:"nextBefore,omitempty"`
}

// WithTargets decides each revision's rollback-target status with the
// rollback window the workers apply and the caller's clock.
func WithTargets(ctx context.Context, st *store.Store, id string, revs []domain.Revision, now time.Time, window time.Duration) (DeploysPage, error) {
	d, err := st.GetDeployment(ctx, id)
	if err != nil {
		return DeploysPage{}, err
	}
	latest, err := st.LatestDeployed(ctx, id)
	if err != nil {
		return DeploysPage{}, err
	}
	p := DeploysPage{DeploymentID: id, CurrentRevision: d.CurrentRevision, Deploys: make([]HistoryRow, 0, len(revs))}
	for _, r := range revs {
		p.Deploys = append(p.Deploys, HistoryRow{r, policy.Target(r, d.CurrentRevision, latest, now, window)})
	}
	return p, nil
}
