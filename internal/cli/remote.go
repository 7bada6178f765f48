package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
	"github.com/rewindhq/rewind/internal/domain"
)

// remote is the backend through `rewind serve`, a thin layer over the
// typed client: every call carries the token, and the server decides what
// its user may do (R10, system.admin) before it reads or changes anything.
// The CLI holds no database URL and no Temporal address.
type remote struct {
	ctx context.Context
	c   *client.Client
	me  action.Identity
	out io.Writer // where watch prints
}

// newRemote checks the token with whoami, so a wrong, expired or revoked
// one is refused (401, Unauthenticated) before the command does anything.
func newRemote(ctx context.Context, c credentials, out io.Writer) (*remote, error) {
	cl, err := client.New(c.URL, c.Token)
	if err != nil {
		return nil, err
	}
	r := &remote{ctx: ctx, c: cl, out: out}
	if r.me, err = cl.Whoami(ctx, action.Whoami{}); err != nil {
		return nil, err
	}
	return r, nil
}

// call sends one request through the client (for the routes a command
// reads as it is, e.g. a new one).
func (r *remote) call(method, path string, body, out any) error {
	return r.c.Do(r.ctx, method, path, body, out)
}

func (r *remote) requester() string { return r.me.User }

func (r *remote) deploy(in action.DeployInput) (change, error) {
	st, err := r.c.Deploy(r.ctx, in)
	if err != nil {
		return nil, err
	}
	return &remoteChange{r, st.WorkflowID, st.RunID}, nil
}

func (r *remote) planRollback(in action.RollbackInput) (action.RollbackResult, error) {
	return r.c.PlanRollback(r.ctx, in)
}

func (r *remote) rollback(in action.RollbackInput) (change, error) {
	st, err := r.c.Rollback(r.ctx, in)
	if err != nil {
		return nil, err
	}
	return &remoteChange{r, st.WorkflowID, st.RunID}, nil
}

func (r *remote) applyConfig(id string) (change, error) {
	st, err := r.c.ApplyConfig(r.ctx, id)
	if err != nil {
		return nil, err
	}
	return &remoteChange{r, st.WorkflowID, st.RunID}, nil
}

// progress reads a change's progress endpoint.
func (r *remote) progress(workflowID, runID string) (action.Progress, error) {
	return r.c.Progress(r.ctx, workflowID, runID)
}

// remoteChange is a change started through the API; Get follows its
// progress until it ends.
type remoteChange struct {
	r               *remote
	workflowID, run string
}

func (c *remoteChange) GetID() string    { return c.workflowID }
func (c *remoteChange) GetRunID() string { return c.run }

// pollEvery is how often a remote wait asks for progress.
const pollEvery = 500 * time.Millisecond

func (c *remoteChange) Get(ctx context.Context, valuePtr any) error {
	for {
		p, err := c.r.progress(c.workflowID, c.run)
		if err != nil {
			return err
		}
		if p.Done {
			return progressOutcome(p, valuePtr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// progressOutcome is a finished change's result, or its error with the
// type the workflow failed with.
func progressOutcome(p action.Progress, valuePtr any) error {
	if p.Error != nil {
		return domain.Errorf(domain.ErrorType(p.Error.Type), "%s", p.Error.Message)
	}
	if p.Status != "COMPLETED" {
		return fmt.Errorf("workflow %s ended %s", p.WorkflowID, p.Status)
	}
	if valuePtr == nil || len(p.Result) == 0 {
		return nil
	}
	return json.Unmarshal(p.Result, valuePtr)
}

// cleanupWait polls the cleanup until it ends: a cleanup may outlast one
// request, so the server is asked, never held open.
func (r *remote) cleanupWait(workflowID string) (action.CleanupResult, error) {
	for {
		run, err := r.c.ShowCleanupRun(r.ctx, action.ShowCleanupRun{WorkflowID: workflowID})
		if err != nil {
			return action.CleanupResult{}, err
		}
		switch run.State {
		case "completed":
			if run.Result == nil {
				return action.CleanupResult{}, fmt.Errorf("rewind serve reported cleanup %s completed without a result", workflowID)
			}
			return *run.Result, nil
		case "failed":
			return action.CleanupResult{}, fmt.Errorf("cleanup %s failed: %s", workflowID, run.Error)
		}
		select {
		case <-r.ctx.Done():
			return action.CleanupResult{}, r.ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

func (r *remote) planFleet(req action.FleetRequest) (action.FleetPlan, error) {
	return r.c.PlanFleetRollback(r.ctx, req)
}

func (r *remote) startFleet(req action.FleetRequest, plan action.FleetPlan) (change, error) {
	st, err := r.c.FleetRollback(r.ctx, req, plan)
	if err != nil {
		return nil, err
	}
	return &remoteFleet{r, st.WorkflowID, st.RunID}, nil
}

// remoteFleet is a fleet followed through the API: its result is its
// progress once done.
type remoteFleet struct {
	r               *remote
	workflowID, run string
}

func (c *remoteFleet) GetID() string    { return c.workflowID }
func (c *remoteFleet) GetRunID() string { return c.run }

func (c *remoteFleet) Get(ctx context.Context, valuePtr any) error {
	for {
		p, err := c.r.fleetProgress(c.workflowID)
		if err != nil {
			return err
		}
		if p.Done {
			if out, ok := valuePtr.(*action.FleetResult); ok {
				*out = p
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

func (r *remote) fleetProgress(workflowID string) (action.FleetResult, error) {
	return r.c.FleetProgress(r.ctx, workflowID)
}
