package cli

import (
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/policy"
)

// direct is the store-direct backend: the store and Temporal themselves,
// as `make run` and administrators use them. Nothing is checked about who
// runs it beyond what the workflows check of the requester (--as,
// $REWIND_USER or the OS user): holding the database URL is administration.
type direct struct{ s *session }

func (b *direct) requester() string { return b.s.requester() }

func (b *direct) createDeployment(id string, c action.DeploymentSettings) (domain.Deployment, error) {
	if err := domain.CheckDeploymentID(id); err != nil {
		return domain.Deployment{}, err
	}
	d := action.NewDeployment(id)
	if err := c.ApplyAs(&d, b.requester()); err != nil {
		return d, err
	}
	st, err := b.s.store()
	if err != nil {
		return d, err
	}
	return d, st.CreateDeployment(b.s.ctx, d)
}

func (b *direct) updateDeployment(id string, c action.DeploymentSettings) (domain.Deployment, error) {
	d, st, err := b.s.deployment(id)
	if err != nil {
		return d, err
	}
	if err := c.ApplyAs(&d, b.requester()); err != nil {
		return d, err
	}
	return d, st.UpdateDeploymentSettings(b.s.ctx, d)
}

func (b *direct) getDeployment(id string) (domain.Deployment, error) {
	d, _, err := b.s.deployment(id)
	return d, err
}

func (b *direct) listDeployments() ([]domain.Deployment, error) {
	st, err := b.s.store()
	if err != nil {
		return nil, err
	}
	var all []domain.Deployment
	for after := ""; ; {
		page, err := st.ListDeployments(b.s.ctx, after, 500)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 500 {
			return all, nil
		}
		after = page[len(page)-1].ID
	}
}

func (b *direct) changeGrant(g domain.Grant, add bool) error {
	st, err := b.s.store()
	if err != nil {
		return err
	}
	if add {
		return st.AddGrant(b.s.ctx, g)
	}
	return st.RevokeGrant(b.s.ctx, g)
}

func (b *direct) createToken(user, description string, ttl time.Duration) (string, action.Token, error) {
	cfg, err := b.s.config()
	if err != nil {
		return "", action.Token{}, err
	}
	if ttl == 0 {
		ttl = cfg.TokenTTL
	}
	if err := policy.CheckTokenLifetime(ttl, cfg.TokenMaxTTL); err != nil {
		return "", action.Token{}, err
	}
	st, err := b.s.store()
	if err != nil {
		return "", action.Token{}, err
	}
	return action.IssueTokenWithTTL(b.s.ctx, st, user, description, time.Now(), ttl)
}

func (b *direct) listTokens(user string) ([]action.Token, error) {
	st, err := b.s.store()
	if err != nil {
		return nil, err
	}
	return st.ListTokens(b.s.ctx, user)
}

func (b *direct) revokeToken(id string) error {
	st, err := b.s.store()
	if err != nil {
		return err
	}
	return st.RevokeToken(b.s.ctx, id, time.Now())
}

func (b *direct) history(id string, limit int) (action.DeploysPage, error) {
	st, err := b.s.store()
	if err != nil {
		return action.DeploysPage{}, err
	}
	revs, err := (&action.History{Store: st, Limit: limit}).Run(b.s.ctx, id)
	if err != nil {
		return action.DeploysPage{}, err
	}
	cfg, err := b.s.config()
	if err != nil {
		return action.DeploysPage{}, err
	}
	// R6's window as the workers apply it (their published settings),
	// like rewind serve shows it.
	days := cfg.RollbackWindowDays
	if in, ok, err := st.PublishedInstallation(b.s.ctx); err == nil && ok {
		days = in.RollbackWindowDays
	}
	return action.WithTargets(b.s.ctx, st, id, revs, time.Now(), time.Duration(days)*24*time.Hour)
}

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

// whoami store-direct is the requester the CLI would record, and its
// grants: claimed, not proven (the database URL is administration).
func (b *direct) whoami() (action.Identity, error) {
	user := b.requester()
	st, err := b.s.store()
	if err != nil {
		return action.Identity{}, err
	}
	grants, err := st.GrantsFor(b.s.ctx, user)
	if err != nil {
		return action.Identity{}, err
	}
	if grants == nil {
		grants = []domain.Grant{}
	}
	return action.Identity{User: user, Admin: policy.IsAdmin(grants), Grants: grants}, nil
}

func (b *direct) addWebhook(deploymentID, url, secret string, events []string) (action.Webhook, error) {
	st, err := b.s.store()
	if err != nil {
		return action.Webhook{}, err
	}
	cfg, err := b.s.config()
	if err != nil {
		return action.Webhook{}, err
	}
	return action.AddWebhook(b.s.ctx, st, notify.NewEgress(cfg.WebhookAllowHosts), deploymentID, url, secret, events)
}

func (b *direct) webhooks() ([]action.Webhook, error) {
	st, err := b.s.store()
	if err != nil {
		return nil, err
	}
	return st.Webhooks(b.s.ctx, "*")
}

func (b *direct) removeWebhook(id string) error {
	st, err := b.s.store()
	if err != nil {
		return err
	}
	return st.DeleteWebhook(b.s.ctx, id)
}

func (b *direct) notifyTest(deploymentID string) (action.NotifyTested, error) {
	cfg, _, tc, err := b.s.all()
	if err != nil {
		return action.NotifyTested{}, err
	}
	return action.NotifyTest(b.s.ctx, cfg, tc, deploymentID, b.s.requester())
}

func (b *direct) cleanupNow() (action.CleanupStarted, error) {
	tc, err := b.s.temporal()
	if err != nil {
		return action.CleanupStarted{}, err
	}
	return action.TriggerCleanup(b.s.ctx, tc)
}

func (b *direct) cleanupWait(workflowID string) (action.CleanupResult, error) {
	var res action.CleanupResult
	tc, err := b.s.temporal()
	if err == nil {
		err = tc.GetWorkflow(b.s.ctx, workflowID, "").Get(b.s.ctx, &res)
	}
	return res, err
}

func (b *direct) cleanupStatus() ([]action.StatusRow, error) {
	_, st, tc, err := b.s.all()
	if err != nil {
		return nil, err
	}
	return action.CleanupStatus(b.s.ctx, tc, st)
}

func (b *direct) resetSchedule() (action.ScheduleReset, error) {
	cfg, _, tc, err := b.s.all()
	if err != nil {
		return action.ScheduleReset{}, err
	}
	return action.ResetCleanupSchedule(b.s.ctx, tc, cfg)
}

func (b *direct) releaseGarbage() (int, error) {
	st, err := b.s.store()
	if err != nil {
		return 0, err
	}
	return st.ReleaseGarbage(b.s.ctx)
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
