package client

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

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

func (c *Client) Whoami(ctx context.Context) (action.Identity, error) {
	var me action.Identity
	err := c.call(ctx, routeWhoami, nil, nil, nil, &me)
	return me, err
}

func (c *Client) CreateDeployment(ctx context.Context, id string, s action.DeploymentSettings) (domain.Deployment, error) {
	var d domain.Deployment
	err := c.call(ctx, routeCreateDeployment, nil, nil, struct {
		ID string `json:"id"`
		action.DeploymentSettings
	}{id, s}, &d)
	return d, err
}

func (c *Client) UpdateDeployment(ctx context.Context, id string, s action.DeploymentSettings) (domain.Deployment, error) {
	var d domain.Deployment
	err := c.call(ctx, routeUpdateDeployment, []string{id}, nil, s, &d)
	return d, err
}

// Deployment is one deployment, environment values redacted.
func (c *Client) Deployment(ctx context.Context, id string) (domain.Deployment, error) {
	var d domain.Deployment
	err := c.call(ctx, routeDeployment, []string{id}, nil, nil, &d)
	return d, err
}

func (c *Client) Deployments(ctx context.Context) ([]domain.Deployment, error) {
	var ds []domain.Deployment
	err := c.call(ctx, routeDeployments, nil, nil, nil, &ds)
	return ds, err
}

func (c *Client) Hosts(ctx context.Context) ([]action.Host, error) {
	var hs []action.Host
	err := c.call(ctx, routeHosts, nil, nil, nil, &hs)
	return hs, err
}

// ChangeGrant adds g, or revokes it.
func (c *Client) ChangeGrant(ctx context.Context, g domain.Grant, add bool) error {
	r := routeGrant
	if !add {
		r = routeRevoke
	}
	return c.call(ctx, r, nil, nil, g, nil)
}

// CreateToken issues a token for user; ttl 0 is the server's default.
func (c *Client) CreateToken(ctx context.Context, user, description string, ttl time.Duration) (action.IssuedToken, error) {
	body := map[string]string{"user": user, "description": description}
	if ttl != 0 {
		body["expires"] = ttl.String()
	}
	var t action.IssuedToken
	err := c.call(ctx, routeCreateToken, nil, nil, body, &t)
	return t, err
}

func (c *Client) Tokens(ctx context.Context, user string) ([]action.Token, error) {
	var ts []action.Token
	err := c.call(ctx, routeTokens, nil, url.Values{"user": {user}}, nil, &ts)
	return ts, err
}

func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.call(ctx, routeRevokeToken, []string{id}, nil, nil, nil)
}

// Deploys is a page of a deployment's history, newest first; before 0
// starts at the newest.
func (c *Client) Deploys(ctx context.Context, id string, limit, before int) (action.DeploysPage, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if before > 0 {
		q.Set("before", strconv.Itoa(before))
	}
	var p action.DeploysPage
	err := c.call(ctx, routeDeploys, []string{id}, q, nil, &p)
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

// Revision is one revision whole (`rewind revision show`).
func (c *Client) Revision(ctx context.Context, id string, n int) (action.RevisionDetail, error) {
	var d action.RevisionDetail
	err := c.call(ctx, routeRevision, []string{id, strconv.Itoa(n)}, nil, nil, &d)
	return d, err
}

// Metrics are the delivery metrics across the deployments the token's
// user may read (`rewind metrics`); since is the window, e.g. 30d.
func (c *Client) Metrics(ctx context.Context, since string) (action.MetricsReport, error) {
	var rep action.MetricsReport
	err := c.call(ctx, routeMetrics, nil, url.Values{"since": {since}}, nil, &rep)
	return rep, err
}

// DeploymentMetrics are one deployment's (`rewind metrics <deployment>`).
func (c *Client) DeploymentMetrics(ctx context.Context, id, since string) (action.MetricsReport, error) {
	var rep action.MetricsReport
	err := c.call(ctx, routeDeploymentMetrics, []string{id}, url.Values{"since": {since}}, nil, &rep)
	return rep, err
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

func (c *Client) AddWebhook(ctx context.Context, deploymentID, u, secret string, events []string) (action.Webhook, error) {
	var w action.Webhook
	err := c.call(ctx, routeAddWebhook, nil, nil, map[string]any{"deploymentId": deploymentID, "url": u, "secret": secret, "events": events}, &w)
	return w, err
}

func (c *Client) Webhooks(ctx context.Context) ([]action.Webhook, error) {
	var ws []action.Webhook
	err := c.call(ctx, routeWebhooks, nil, nil, nil, &ws)
	return ws, err
}

func (c *Client) RemoveWebhook(ctx context.Context, id string) error {
	return c.call(ctx, routeRemoveWebhook, []string{id}, nil, nil, nil)
}

func (c *Client) NotifyTest(ctx context.Context, deploymentID string) (action.NotifyTested, error) {
	var res action.NotifyTested
	err := c.call(ctx, routeNotifyTest, nil, nil, map[string]string{"deploymentId": deploymentID}, &res)
	return res, err
}

func (c *Client) CleanupStatus(ctx context.Context) ([]action.StatusRow, error) {
	var rows []action.StatusRow
	err := c.call(ctx, routeCleanup, nil, nil, nil, &rows)
	return rows, err
}

func (c *Client) CleanupNow(ctx context.Context) (action.CleanupStarted, error) {
	var res action.CleanupStarted
	err := c.call(ctx, routeCleanupNow, nil, nil, nil, &res)
	return res, err
}

func (c *Client) CleanupRun(ctx context.Context, workflowID string) (action.CleanupRun, error) {
	var run action.CleanupRun
	err := c.call(ctx, routeCleanupRun, []string{workflowID}, nil, nil, &run)
	return run, err
}

func (c *Client) ResetSchedule(ctx context.Context) (action.ScheduleReset, error) {
	var res action.ScheduleReset
	err := c.call(ctx, routeResetSchedule, nil, nil, nil, &res)
	return res, err
}

// ReleaseGarbage puts what cleanup set aside back in line; how many.
func (c *Client) ReleaseGarbage(ctx context.Context) (int, error) {
	var res struct {
		Released int `json:"released"`
	}
	err := c.call(ctx, routeRelease, nil, nil, nil, &res)
	return res.Released, err
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
