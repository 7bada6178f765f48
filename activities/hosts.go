package activities

import "context"

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
