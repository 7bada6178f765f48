package action

import (
	"context"
	"encoding/json"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// ShowRevision is `rewind revision show <deployment> <N>` and GET
// /api/v1/deployments/{id}/revisions/{n}: one revision whole — what it
// ran (image, digest, versions and where they came from, DAG bundle), its
// provenance (commit, CI run), who requested it and whether that was
// verified, how it ended and why, and the change that made it step by
// step with times and attempts, with a rollback's plan. Who may read it is
// decided before (read access to the deployment).
type ShowRevision struct {
	Store *store.Store
	// Progress reads the change from Temporal; nil shows the stored
	// revision only.
	Progress *ReadProgress
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

func (a *ShowRevision) Run(ctx context.Context, deploymentID string, number int) (RevisionDetail, error) {
	if err := domain.CheckDeploymentID(deploymentID); err != nil {
		return RevisionDetail{}, err
	}
	if number < 1 {
		return RevisionDetail{}, domain.Errorf(domain.InvalidInput, "revision must be a number (1 or more)")
	}
	if _, err := a.Store.GetDeployment(ctx, deploymentID); err != nil {
		return RevisionDetail{}, err
	}
	rev, err := a.Store.GetRevision(ctx, deploymentID, number)
	if err != nil {
		return RevisionDetail{}, err
	}
	out := RevisionDetail{Revision: rev}
	if a.Progress == nil || rev.WorkflowID == "" {
		return out, nil
	}
	p, err := a.Progress.Run(ctx, rev.WorkflowID, rev.RunID)
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
