package action

import (
	"context"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
)

// permitted is the prelude every change's action shares, permission first:
// the requester's grants; mayAsk decides on the deployment's id alone,
// before anything about the deployment is read (so a refusal discloses
// nothing of it); then the deployment is loaded and may decides on it.
func permitted(ctx context.Context, st *store.Store, user, deploymentID string,
	mayAsk func(policy.Permissions) error, may func(policy.Permissions, domain.Deployment) error) (domain.Deployment, error) {
	grants, err := st.GrantsFor(ctx, user)
	if err != nil {
		return domain.Deployment{}, err
	}
	if err := mayAsk(policy.Effective(grants, deploymentID)); err != nil {
		return domain.Deployment{}, err
	}
	d, err := st.GetDeployment(ctx, deploymentID)
	if err != nil {
		return domain.Deployment{}, err
	}
	return d, may(policy.Effective(grants, d.ID), d)
}
