package action

import (
	"context"

	"github.com/rewindhq/rewind/internal/domain"
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
