package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

// remote is the backend through `rewind serve`: every call carries the
// token, and the server decides what its user may do (R10, system.admin)
// before it reads or changes anything. The CLI holds no database URL and
// no Temporal address.
type remote struct {
	ctx   context.Context
	base  string
	token string
	hc    *http.Client
	me    action.Identity
	out   io.Writer // where watch prints
}

// remoteTimeout bounds one API call; a rollback's plan waits for a worker
// up to the server's PlanTimeout (60s) first.
const remoteTimeout = 2 * time.Minute

// newRemote checks the token with whoami, so a wrong, expired or revoked
// one is refused (401, Unauthenticated) before the command does anything.
func newRemote(ctx context.Context, c credentials, out io.Writer) (*remote, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, domain.Errorf(domain.InvalidInput, "REWIND_API_URL %q must be an http(s) URL such as https://rewind.example.com", c.URL)
	}
	if c.Token == "" {
		return nil, domain.Errorf(domain.InvalidInput, "REWIND_API_URL is set but there is no token: set REWIND_TOKEN or run `rewind login`")
	}
	r := &remote{ctx: ctx, base: strings.TrimRight(c.URL, "/"), token: c.Token, hc: &http.Client{Timeout: remoteTimeout}, out: out}
	if err := r.call("GET", "/api/v1/whoami", nil, &r.me); err != nil {
		return nil, err
	}
	return r, nil
}

// apiError is an answer's {"error":{…}} as the typed error the CLI prints.
type apiError struct {
	Error struct {
		Type, Message, WorkflowID, RunID string
	} `json:"error"`
}

// call sends one request and decodes a 2xx answer into out; any other
// answer becomes an error of the type the server gave (PermissionDenied,
// Unauthenticated, …), so refusals read the same as store-direct ones.
func (r *remote) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(r.ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("rewind serve at %s did not answer: %w", r.base, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return err
	}
	if res.StatusCode/100 != 2 {
		var e apiError
		if json.Unmarshal(raw, &e) != nil || e.Error.Type == "" {
			return fmt.Errorf("rewind serve answered %s to %s %s", res.Status, method, path)
		}
		msg := e.Error.Message
		if e.Error.WorkflowID != "" {
			msg += " (workflow " + e.Error.WorkflowID + ", run " + e.Error.RunID + ")"
		}
		return domain.Errorf(domain.ErrorType(e.Error.Type), "%s", msg)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("rewind serve's answer to %s %s is not what this CLI expects: %w", method, path, err)
	}
	return nil
}

func (r *remote) requester() string { return r.me.User }

func (r *remote) whoami() (action.Identity, error) { return r.me, nil }

func (r *remote) createDeployment(id string, c action.DeploymentSettings) (domain.Deployment, error) {
	if err := domain.CheckDeploymentID(id); err != nil {
		return domain.Deployment{}, err
	}
	var d domain.Deployment
	err := r.call("POST", "/api/v1/deployments", struct {
		ID string `json:"id"`
		action.DeploymentSettings
	}{id, c}, &d)
	return d, err
}

func (r *remote) updateDeployment(id string, c action.DeploymentSettings) (domain.Deployment, error) {
	if err := domain.CheckDeploymentID(id); err != nil {
		return domain.Deployment{}, err
	}
	var d domain.Deployment
	err := r.call("PATCH", "/api/v1/deployments/"+id, c, &d)
	return d, err
}

func (r *remote) getDeployment(id string) (domain.Deployment, error) {
	if err := domain.CheckDeploymentID(id); err != nil {
		return domain.Deployment{}, err
	}
	var d domain.Deployment
	err := r.call("GET", "/api/v1/deployments/"+id, nil, &d)
	return d, err
}

func (r *remote) listDeployments() ([]domain.Deployment, error) {
	var ds []domain.Deployment
	err := r.call("GET", "/api/v1/deployments", nil, &ds)
	return ds, err
}

func (r *remote) hosts() ([]action.Host, error) {
	var hs []action.Host
	err := r.call("GET", "/api/v1/hosts", nil, &hs)
	return hs, err
}

func (r *remote) changeGrant(g domain.Grant, add bool) error {
	path := "/api/v1/grants"
	if !add {
		path += "/revoke"
	}
	return r.call("POST", path, g, nil)
}

func (r *remote) createToken(user, description string, ttl time.Duration) (string, action.Token, error) {
	body := map[string]string{"user": user, "description": description}
	if ttl != 0 {
		body["expires"] = ttl.String()
	}
	var t action.IssuedToken
	err := r.call("POST", "/api/v1/tokens", body, &t)
	return t.Plain, t.Token, err
}

func (r *remote) listTokens(user string) ([]action.Token, error) {
	var ts []action.Token
	err := r.call("GET", "/api/v1/tokens?user="+url.QueryEscape(user), nil, &ts)
	return ts, err
}

func (r *remote) revokeToken(id string) error {
	return r.call("POST", "/api/v1/tokens/"+url.PathEscape(id)+"/revoke", nil, nil)
}

func (r *remote) history(id string, limit int) (action.DeploysPage, error) {
	if err := domain.CheckDeploymentID(id); err != nil {
		return action.DeploysPage{}, err
	}
	var page action.DeploysPage
	err := r.call("GET", "/api/v1/deployments/"+id+"/deploys?limit="+strconv.Itoa(limit), nil, &page)
	return page, err
}

// started is the API's 202 answer.
type started struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

func (r *remote) deploy(in action.DeployInput) (change, error) {
	body := map[string]any{"imageRef": in.ImageRef, "dagBundleVersion": in.DagBundleVersion, "dagBundleDigest": in.DagBundleDigest,
		"description": in.Description, "type": in.Type, "git": in.Git, "force": in.Force, "dryRun": in.DryRun, "diff": in.Diff,
		"allowUnknownVersion": in.AllowUnknownVersion}
	var st started
	if err := r.call("POST", "/api/v1/deployments/"+in.DeploymentID+"/deploys", body, &st); err != nil {
		return nil, err
	}
	return &remoteChange{r, st.WorkflowID, st.RunID}, nil
}

// rollbackBody is the API's rollback request: the token is the requester.
func rollbackBody(in action.RollbackInput) map[string]any {
	return map[string]any{"description": in.Description, "scope": in.Scope, "dryRun": in.DryRun, "diff": in.Diff, "allowUnknownVersion": in.AllowUnknownVersion,
		"expectedCurrentRevision": in.ExpectedCurrentRevision, "planDigest": in.PlanDigest}
}

func rollbackPath(in action.RollbackInput) string {
	return "/api/v1/deployments/" + in.DeploymentID + "/deploys/" + strconv.Itoa(in.Revision) + "/rollback"
}

func (r *remote) planRollback(in action.RollbackInput) (action.RollbackResult, error) {
	in.DryRun = true
	var res action.RollbackResult
	err := r.call("POST", rollbackPath(in), rollbackBody(in), &res)
	res.DryRun = true
	return res, err
}

func (r *remote) rollback(in action.RollbackInput) (change, error) {
	in.DryRun = false
	var st started
	if err := r.call("POST", rollbackPath(in), rollbackBody(in), &st); err != nil {
		return nil, err
	}
	return &remoteChange{r, st.WorkflowID, st.RunID}, nil
}

func (r *remote) applyConfig(id string) (change, error) {
	var st started
	if err := r.call("POST", "/api/v1/deployments/"+id+"/apply", nil, &st); err != nil {
		return nil, err
	}
	return &remoteChange{r, st.WorkflowID, st.RunID}, nil
}

// progress reads a change's progress endpoint.
func (r *remote) progress(workflowID, runID string) (action.Progress, error) {
	var p action.Progress
	err := r.call("GET", "/api/v1/workflows/"+url.PathEscape(workflowID)+"/progress?runId="+url.QueryEscape(runID), nil, &p)
	return p, err
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

func (r *remote) addWebhook(deploymentID, url, secret string, events []string) (action.Webhook, error) {
	var w action.Webhook
	err := r.call("POST", "/api/v1/webhooks", map[string]any{"deploymentId": deploymentID, "url": url, "secret": secret, "events": events}, &w)
	return w, err
}

func (r *remote) webhooks() ([]action.Webhook, error) {
	var ws []action.Webhook
	err := r.call("GET", "/api/v1/webhooks", nil, &ws)
	return ws, err
}

func (r *remote) removeWebhook(id string) error {
	return r.call("DELETE", "/api/v1/webhooks/"+url.PathEscape(id), nil, nil)
}

func (r *remote) notifyTest(deploymentID string) (action.NotifyTested, error) {
	var res action.NotifyTested
	err := r.call("POST", "/api/v1/notify/test", map[string]string{"deploymentId": deploymentID}, &res)
	return res, err
}

func (r *remote) cleanupNow() (action.CleanupStarted, error) {
	var res action.CleanupStarted
	err := r.call("POST", "/api/v1/cleanup/runs", nil, &res)
	return res, err
}

// cleanupWait polls the cleanup until it ends: a cleanup may outlast one
// request, so the server is asked, never held open.
func (r *remote) cleanupWait(workflowID string) (action.CleanupResult, error) {
	for {
		var run action.CleanupRun
		if err := r.call("GET", "/api/v1/cleanup/runs/"+url.PathEscape(workflowID), nil, &run); err != nil {
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

func (r *remote) cleanupStatus() ([]action.StatusRow, error) {
	var rows []action.StatusRow
	err := r.call("GET", "/api/v1/cleanup", nil, &rows)
	return rows, err
}

func (r *remote) resetSchedule() (action.ScheduleReset, error) {
	var res action.ScheduleReset
	err := r.call("POST", "/api/v1/cleanup/reset-schedule", nil, &res)
	return res, err
}

func (r *remote) releaseGarbage() (int, error) {
	var res struct {
		Released int `json:"released"`
	}
	err := r.call("POST", "/api/v1/cleanup/release", nil, &res)
	return res.Released, err
}
