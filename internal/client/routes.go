package client

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

// The routes this client calls.
var (
	routeWhoami           = Route{"GET", "/api/v1/whoami"}
	routeDeployments      = Route{"GET", "/api/v1/deployments"}
	routeCreateDeployment = Route{"POST", "/api/v1/deployments"}
	routeDeployment       = Route{"GET", "/api/v1/deployments/{id}"}
	routeUpdateDeployment = Route{"PATCH", "/api/v1/deployments/{id}"}
	routeHosts            = Route{"GET", "/api/v1/hosts"}
	routeGrant            = Route{"POST", "/api/v1/grants"}
	routeRevoke           = Route{"POST", "/api/v1/grants/revoke"}
	routeCreateToken      = Route{"POST", "/api/v1/tokens"}
	routeTokens           = Route{"GET", "/api/v1/tokens"}
	routeRevokeToken      = Route{"POST", "/api/v1/tokens/{tokenId}/revoke"}
	routeDeploys          = Route{"GET", "/api/v1/deployments/{id}/deploys"}
	routeDeploy           = Route{"POST", "/api/v1/deployments/{id}/deploys"}
	routeRollback         = Route{"POST", "/api/v1/deployments/{id}/deploys/{revision}/rollback"}
	routeRevision         = Route{"GET", "/api/v1/deployments/{id}/revisions/{revision}"}
	routeApply            = Route{"POST", "/api/v1/deployments/{id}/apply"}
	routeProgress         = Route{"GET", "/api/v1/workflows/{workflowId}/progress"}
	routeAddWebhook       = Route{"POST", "/api/v1/webhooks"}
	routeWebhooks         = Route{"GET", "/api/v1/webhooks"}
	routeRemoveWebhook    = Route{"DELETE", "/api/v1/webhooks/{webhookId}"}
	routeNotifyTest       = Route{"POST", "/api/v1/notify/test"}
	routeCleanup          = Route{"GET", "/api/v1/cleanup"}
	routeCleanupNow       = Route{"POST", "/api/v1/cleanup/runs"}
	routeCleanupRun       = Route{"GET", "/api/v1/cleanup/runs/{workflowId}"}
	routeResetSchedule    = Route{"POST", "/api/v1/cleanup/reset-schedule"}
	routeRelease          = Route{"POST", "/api/v1/cleanup/release"}
	// Delivery metrics (issue 30, docs/metrics.md).
	routeMetrics           = Route{"GET", "/api/v1/metrics"}
	routeDeploymentMetrics = Route{"GET", "/api/v1/deployments/{id}/metrics"}
	// Fleet rollbacks (issue 30 part 2, docs/rollbacks.md).
	routeFleetRollback = Route{"POST", "/api/v1/fleet-rollbacks"}
	routeFleet         = Route{"GET", "/api/v1/fleet-rollbacks/{fleetId}"}
)

// Routes lists every route this client calls.
func Routes() []Route {
	return []Route{routeWhoami, routeDeployments, routeCreateDeployment, routeDeployment, routeUpdateDeployment, routeHosts, routeGrant, routeRevoke,
		routeCreateToken, routeTokens, routeRevokeToken, routeDeploys, routeDeploy, routeRollback, routeRevision, routeApply, routeProgress,
		routeAddWebhook, routeWebhooks, routeRemoveWebhook, routeNotifyTest, routeCleanup, routeCleanupNow, routeCleanupRun, routeResetSchedule, routeRelease,
		routeMetrics, routeDeploymentMetrics, routeFleetRollback, routeFleet}
}

// Started is the API's 202 answer: the change's workflow and run.
type Started struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

// The use cases of internal/action, sent to rewind serve: each method
// takes the use case's value and answers what its Run answers.

func (c *Client) Whoami(ctx context.Context, _ action.Whoami) (action.Identity, error) {
	var me action.Identity
	err := c.call(ctx, routeWhoami, nil, nil, nil, &me)
	return me, err
}

func (c *Client) CreateDeployment(ctx context.Context, a action.CreateDeployment) (domain.Deployment, error) {
	var d domain.Deployment
	err := c.call(ctx, routeCreateDeployment, nil, nil, a, &d)
	return d, err
}

func (c *Client) UpdateDeployment(ctx context.Context, a action.UpdateDeployment) (domain.Deployment, error) {
	var d domain.Deployment
	err := c.call(ctx, routeUpdateDeployment, []string{a.ID}, nil, a.Settings, &d)
	return d, err
}

// ShowDeployment is one deployment, environment values redacted.
func (c *Client) ShowDeployment(ctx context.Context, a action.ShowDeployment) (domain.Deployment, error) {
	var d domain.Deployment
	err := c.call(ctx, routeDeployment, []string{a.ID}, nil, nil, &d)
	return d, err
}

func (c *Client) ListDeployments(ctx context.Context, _ action.ListDeployments) ([]domain.Deployment, error) {
	var ds []domain.Deployment
	err := c.call(ctx, routeDeployments, nil, nil, nil, &ds)
	return ds, err
}

func (c *Client) ListHosts(ctx context.Context, _ action.ListHosts) ([]action.Host, error) {
	var hs []action.Host
	err := c.call(ctx, routeHosts, nil, nil, nil, &hs)
	return hs, err
}

// ChangeGrant adds the grant, or revokes it.
func (c *Client) ChangeGrant(ctx context.Context, a action.ChangeGrant) (domain.Grant, error) {
	r := routeGrant
	if a.Revoke {
		r = routeRevoke
	}
	var g domain.Grant
	err := c.call(ctx, r, nil, nil, a.Grant, &g)
	return g, err
}

// CreateToken issues a token; TTL 0 is the server's default.
func (c *Client) CreateToken(ctx context.Context, a action.CreateToken) (action.IssuedToken, error) {
	body := map[string]string{"user": a.User, "description": a.Description}
	if a.TTL != 0 {
		body["expires"] = a.TTL.String()
	}
	var t action.IssuedToken
	err := c.call(ctx, routeCreateToken, nil, nil, body, &t)
	return t, err
}

func (c *Client) ListTokens(ctx context.Context, a action.ListTokens) ([]action.Token, error) {
	var ts []action.Token
	err := c.call(ctx, routeTokens, nil, url.Values{"user": {a.User}}, nil, &ts)
	return ts, err
}

func (c *Client) RevokeToken(ctx context.Context, a action.RevokeToken) (action.RevokedToken, error) {
	var res action.RevokedToken
	err := c.call(ctx, routeRevokeToken, []string{a.ID}, nil, nil, &res)
	return res, err
}

// ListDeploys is a page of a deployment's history, newest first.
func (c *Client) ListDeploys(ctx context.Context, a action.ListDeploys) (action.DeploysPage, error) {
	q := url.Values{"limit": {strconv.Itoa(a.Limit)}}
	if a.Before > 0 {
		q.Set("before", strconv.Itoa(a.Before))
	}
	var p action.DeploysPage
	err := c.call(ctx, routeDeploys, []string{a.Deployment}, q, nil, &p)
	return p, err
}

// Deploy starts a deploy as the token's user.
func (c *Client) Deploy(ctx context.Context, in action.DeployInput) (Started, error) {
	body := map[string]any{"imageRef": in.ImageRef, "dagBundleVersion": in.DagBundleVersion, "dagBundleDigest": in.DagBundleDigest,
		"description": in.Description, "type": in.Type, "git": in.Git, "force": in.Force, "dryRun": in.DryRun, "diff": in.Diff,
		"allowUnknownVersion": in.AllowUnknownVersion}
	var st Started
	err := c.call(ctx, routeDeploy, []string{in.DeploymentID}, nil, body, &st)
	return st, err
}

// rollbackBody is the API's rollback request: the token is the requester.
func rollbackBody(in action.RollbackInput) map[string]any {
	return map[string]any{"description": in.Description, "scope": in.Scope, "dryRun": in.DryRun, "diff": in.Diff, "allowUnknownVersion": in.AllowUnknownVersion,
		"expectedCurrentRevision": in.ExpectedCurrentRevision, "planDigest": in.PlanDigest}
}

// PlanRollback runs the rollback's dry run and returns its plan.
func (c *Client) PlanRollback(ctx context.Context, in action.RollbackInput) (action.RollbackResult, error) {
	in.DryRun = true
	var res action.RollbackResult
	err := c.call(ctx, routeRollback, []string{in.DeploymentID, strconv.Itoa(in.Revision)}, nil, rollbackBody(in), &res)
	res.DryRun = true
	return res, err
}

// Rollback starts a rollback (carrying the plan it confirmed, R15).
func (c *Client) Rollback(ctx context.Context, in action.RollbackInput) (Started, error) {
	in.DryRun = false
	var st Started
	err := c.call(ctx, routeRollback, []string{in.DeploymentID, strconv.Itoa(in.Revision)}, nil, rollbackBody(in), &st)
	return st, err
}

// ShowRevision is one revision whole (`rewind revision show`).
func (c *Client) ShowRevision(ctx context.Context, a action.ShowRevision) (action.RevisionDetail, error) {
	var d action.RevisionDetail
	err := c.call(ctx, routeRevision, []string{a.Deployment, strconv.Itoa(a.Number)}, nil, nil, &d)
	return d, err
}

// ShowMetrics is the delivery metrics of one deployment, or across those
// the token's user may read (`rewind metrics`).
func (c *Client) ShowMetrics(ctx context.Context, a action.ShowMetrics) (action.MetricsReport, error) {
	var rep action.MetricsReport
	q := url.Values{"since": {a.Since}}
	if a.Deployment == "" {
		return rep, c.call(ctx, routeMetrics, nil, q, nil, &rep)
	}
	return rep, c.call(ctx, routeDeploymentMetrics, []string{a.Deployment}, q, nil, &rep)
}

// ApplyConfig puts the stored configuration on the running containers.
func (c *Client) ApplyConfig(ctx context.Context, id string) (Started, error) {
	var st Started
	err := c.call(ctx, routeApply, []string{id}, nil, nil, &st)
	return st, err
}

// Progress reads a workflow's progress (runID "" for the latest run).
func (c *Client) Progress(ctx context.Context, workflowID, runID string) (action.Progress, error) {
	var p action.Progress
	err := c.call(ctx, routeProgress, []string{workflowID}, url.Values{"runId": {runID}}, nil, &p)
	return p, err
}

func (c *Client) CreateWebhook(ctx context.Context, a action.CreateWebhook) (action.Webhook, error) {
	var w action.Webhook
	err := c.call(ctx, routeAddWebhook, nil, nil, a, &w)
	return w, err
}

func (c *Client) ListWebhooks(ctx context.Context, _ action.ListWebhooks) ([]action.Webhook, error) {
	var ws []action.Webhook
	err := c.call(ctx, routeWebhooks, nil, nil, nil, &ws)
	return ws, err
}

func (c *Client) RemoveWebhook(ctx context.Context, a action.RemoveWebhook) (action.Removed, error) {
	var res action.Removed
	err := c.call(ctx, routeRemoveWebhook, []string{a.ID}, nil, nil, &res)
	return res, err
}

func (c *Client) SendTestNotification(ctx context.Context, a action.SendTestNotification) (action.NotifyTested, error) {
	var res action.NotifyTested
	err := c.call(ctx, routeNotifyTest, nil, nil, a, &res)
	return res, err
}

func (c *Client) ShowCleanup(ctx context.Context, _ action.ShowCleanup) ([]action.StatusRow, error) {
	var rows []action.StatusRow
	err := c.call(ctx, routeCleanup, nil, nil, nil, &rows)
	return rows, err
}

func (c *Client) RunCleanup(ctx context.Context, _ action.RunCleanup) (action.CleanupStarted, error) {
	var res action.CleanupStarted
	err := c.call(ctx, routeCleanupNow, nil, nil, nil, &res)
	return res, err
}

func (c *Client) ShowCleanupRun(ctx context.Context, a action.ShowCleanupRun) (action.CleanupRun, error) {
	var run action.CleanupRun
	err := c.call(ctx, routeCleanupRun, []string{a.WorkflowID}, nil, nil, &run)
	return run, err
}

func (c *Client) ResetSchedule(ctx context.Context, _ action.ResetSchedule) (action.ScheduleReset, error) {
	var res action.ScheduleReset
	err := c.call(ctx, routeResetSchedule, nil, nil, nil, &res)
	return res, err
}

// ReleaseGarbage puts what cleanup set aside back in line.
func (c *Client) ReleaseGarbage(ctx context.Context, _ action.ReleaseGarbage) (action.Released, error) {
	var res action.Released
	err := c.call(ctx, routeRelease, nil, nil, nil, &res)
	return res, err
}

// PlanFleetRollback runs each affected deployment's dry run: the one plan.
func (c *Client) PlanFleetRollback(ctx context.Context, req action.FleetRequest) (action.FleetPlan, error) {
	var p action.FleetPlan
	err := c.call(ctx, routeFleetRollback, nil, nil, action.FleetBody{FleetRequest: req, DryRun: true}, &p)
	return p, err
}

// FleetRollback starts the fleet for the plan that was confirmed.
func (c *Client) FleetRollback(ctx context.Context, req action.FleetRequest, plan action.FleetPlan) (Started, error) {
	var st Started
	err := c.call(ctx, routeFleetRollback, nil, nil, action.FleetBody{FleetRequest: req, Plan: &plan}, &st)
	return st, err
}

// FleetProgress is a fleet's children as they stand (its requester's only).
func (c *Client) FleetProgress(ctx context.Context, workflowID string) (action.FleetResult, error) {
	var r action.FleetResult
	err := c.call(ctx, routeFleet, []string{strings.TrimPrefix(workflowID, "fleet/")}, nil, nil, &r)
	return r, err
}
