package action

import (
	"context"

	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// Rollback starts a RollbackWorkflow (dry run or real) under the
// deployment's change id. The workflow decides every rule on current data;
// the input is checked here first so a malformed request starts nothing.
type Rollback struct {
	Config   *config.Config
	Store    *store.Store
	Temporal client.Client
	Input    workflows.RollbackInput
}

func (a *Rollback) Run(ctx context.Context) (client.WorkflowRun, error) {
	in := a.Input
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if _, err := a.Store.GetDeployment(ctx, in.DeploymentID); err != nil {
		return nil, err
	}
	return StartChange(ctx, a.Config, a.Temporal, in.DeploymentID, workflows.RollbackWorkflowName, workflows.KindRollback,
		in.RequestedBy, workflows.RollbackSummary(in), in)
}
