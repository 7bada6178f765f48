package activities

import (
	"context"

	"github.com/rewindhq/rewind/internal/domain"
)

// drives says whether this worker's Engine is the deployment's host, so a
// store activity may read its containers (a plan's workers to drain).
func (a *StoreActivities) drives(d domain.Deployment) bool {
	mine := domain.DefaultHost
	if a.Config != nil && a.Config.Host != "" {
		mine = a.Config.Host
	}
	host := d.Host
	if host == "" {
		host = domain.DefaultHost
	}
	return mine == host
}

// DeploymentHost is the Docker host the deployment runs on, read from the
// store so that a workflow routes host activities by what the deployment
// says, never by what its input claims.
func (a *StoreActivities) DeploymentHost(ctx context.Context, deploymentID string) (string, error) {
	d, err := a.Store.GetDeployment(ctx, deploymentID)
	if err != nil {
		return "", refuse(err)
	}
	return d.Host, nil
}
