package cli

import (
	"time"

	"github.com/rewindhq/rewind/internal/action"
)

// direct is the store-direct backend: the store and Temporal themselves,
// as `make run` and administrators use them. Nothing is checked about who
// runs it beyond what the workflows check of the requester (--as,
// $REWIND_USER or the OS user): holding the database URL is administration.
type direct struct{ s *session }

func (b *direct) requester() string { return b.s.requester() }

func (b *direct) deploy(in action.DeployInput) (change, error) {
	cfg, st, tc, err := b.s.all()
	if err != nil {
		return nil, err
	}
	return (&action.Deploy{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(b.s.ctx)
}

func (b *direct) planRollback(in action.RollbackInput) (action.RollbackResult, error) {
	cfg, st, tc, err := b.s.all()
	if err != nil {
		return action.RollbackResult{}, err
	}
	res, _, err := (&action.Rollback{Config: cfg, Store: st, Temporal: tc, Input: in}).Plan(b.s.ctx, planTimeout)
	return res, err
}

func (b *direct) rollback(in action.RollbackInput) (change, error) {
	cfg, st, tc, err := b.s.all()
	if err != nil {
		return nil, err
	}
	return (&action.Rollback{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(b.s.ctx)
}

func (b *direct) applyConfig(id string) (change, error) {
	cfg, _, tc, err := b.s.all()
	if err != nil {
		return nil, err
	}
	return (&action.ApplyConfig{Config: cfg, Temporal: tc, Input: action.ApplyConfigInput{DeploymentID: id, RequestedBy: b.requester()}}).Run(b.s.ctx)
}

func (b *direct) watch(workflowID string, every time.Duration) error {
	return b.s.watchTemporal(workflowID, every)
}

func (b *direct) progressSource() (progressSource, error) { return b.s.temporalProgress() }

func (b *direct) cleanupWait(workflowID string) (action.CleanupResult, error) {
	var res action.CleanupResult
	tc, err := b.s.temporal()
	if err == nil {
		err = tc.GetWorkflow(b.s.ctx, workflowID, "").Get(b.s.ctx, &res)
	}
	return res, err
}

func (b *direct) planFleet(req action.FleetRequest) (action.FleetPlan, error) {
	cfg, st, tc, err := b.s.all()
	if err != nil {
		return action.FleetPlan{}, err
	}
	return (&action.FleetRollback{Config: cfg, Store: st, Temporal: tc, Request: req}).Plan(b.s.ctx, planTimeout)
}

func (b *direct) startFleet(req action.FleetRequest, plan action.FleetPlan) (change, error) {
	cfg, st, tc, err := b.s.all()
	if err != nil {
		return nil, err
	}
	return (&action.FleetRollback{Config: cfg, Store: st, Temporal: tc, Request: req}).Run(b.s.ctx, plan)
}

func (b *direct) fleetProgress(workflowID string) (action.FleetResult, error) {
	tc, err := b.s.temporal()
	if err != nil {
		return action.FleetResult{}, err
	}
	return action.FleetProgress(b.s.ctx, tc, workflowID, b.requester())
}
