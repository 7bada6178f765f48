package action

import (
	"context"

	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/workflows"
)

// ApplyConfig starts an ApplyConfigWorkflow under the deployment's change
// id (R14): the stored configuration reaches the containers now rather than
// at the next deploy or rollback.
type ApplyConfig struct {
	Config   *config.Config
	Temporal client.Client
	Input    workflows.ApplyConfigInput
}

func (a *ApplyConfig) Run(ctx context.Context) (client.WorkflowRun, error) {
	if err := domain.CheckDeploymentID(a.Input.DeploymentID); err != nil {
		return nil, err
	}
	if err := domain.CheckUser(a.Input.RequestedBy); err != nil {
		return nil, domain.Errorf(domain.InvalidInput, "requestedBy: %v", err)
	}
	return StartChange(ctx, a.Config, a.Temporal, a.Input.DeploymentID, workflows.ApplyConfigWorkflowName, workflows.KindConfig,
		a.Input.RequestedBy, workflows.ApplyConfigSummary(a.Input), a.Input)
}
