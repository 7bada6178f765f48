package action

import (
	"context"
	"encoding/json"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/workflows"
)

// ShowRevision is `rewind revision show <deployment> <N>` and GET
// /api/v1/deployments/{id}/revisions/{n}: one revision whole — what it
// ran (image, digest, versions and where they came from, DAG bundle), its
// provenance (commit, CI run), who requested it and whether that was
// verified, how it ended and why, and the change that made it step by
// step with times and attempts, with a rollback's plan, read from Temporal
// (the stored revision alone when Temporal cannot be reached). It
// needs read access to the deployment.
type ShowRevision struct {
	Deployment string
	Number     int
}

// RevisionDetail is one revision whole.
type RevisionDetail struct {
	domain.Revision
	// Change is the workflow run that made the revision, as `rewind watch`
	// reads it: Temporal's status, its steps with times and attempts, and
	// its error. Absent when Temporal no longer has the run (past its
	// retention) or could not be asked; ChangeUnavailable then says why.
	Change            *ChangeDetail `json:"change,omitempty"`
	ChangeUnavailable string        `json:"changeUnavailable,omitempty"`
}

// ChangeDetail is the change behind a revision.
type ChangeDetail struct {
	WorkflowID string              `json:"workflowId"`
	RunID      string              `json:"runId"`
	Status     string              `json:"status"`
	Steps      []workflows.Step    `json:"steps"`
	Error      *domain.ErrorDetail `json:"error,omitempty"`
	// Plan is a rollback's plan, as it was shown and confirmed (R15).
	Plan json.RawMessage `json:"plan,omitempty"`
}

func (a ShowRevision) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayRead(ctx, env.Store, a.Deployment)
}

func (a ShowRevision) Run(ctx context.Context, env Env, who Actor) (RevisionDetail, error) {
	deploymentID, number := a.Deployment, a.Number
	if err := domain.CheckDeploymentID(deploymentID); err != nil {
		return RevisionDetail{}, err
	}
	if number < 1 {
		return RevisionDetail{}, domain.Errorf(domain.InvalidInput, "revision must be a number (1 or more)")
	}
	if _, err := env.Store.GetDeployment(ctx, deploymentID); err != nil {
		return RevisionDetail{}, err
	}
	rev, err := env.Store.GetRevision(ctx, deploymentID, number)
	if err != nil {
		return RevisionDetail{}, err
	}
	out := RevisionDetail{Revision: rev}
	if rev.WorkflowID == "" {
		return out, nil
	}
	tc, err := env.temporal()
	if err != nil {
		out.ChangeUnavailable = Message(err)
		return out, nil
	}
	read := ReadProgress{Temporal: tc, DataConverter: env.DataConverter, Log: env.Log}
	p, err := read.Run(ctx, rev.WorkflowID, rev.RunID)
	if err != nil {
		out.ChangeUnavailable = Message(err)
		return out, nil
	}
	c := &ChangeDetail{WorkflowID: p.WorkflowID, RunID: p.RunID, Status: p.Status, Error: p.Error, Steps: []workflows.Step{}}
	if p.Progress != nil {
		c.Steps = p.Progress.Steps
	}
	var res struct {
		Plan     json.RawMessage     `json:"plan"`
		Progress *workflows.Progress `json:"progress"`
	}
	if len(p.Result) > 0 && json.Unmarshal(p.Result, &res) == nil {
		if len(res.Plan) > 0 && string(res.Plan) != "null" {
			c.Plan = res.Plan
		}
		if len(c.Steps) == 0 && res.Progress != nil { // a closed run's last steps, without a query
			c.Steps = res.Progress.Steps
		}
	}
	out.Change = c
	return out, nil
}
