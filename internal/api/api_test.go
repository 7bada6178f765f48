package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/workflows"
)

// noChange checks that nothing was started on a deployment: no workflow
// under its change id and the history as it was.
func (e *env) noChange(t *testing.T, dep string, revisions int) {
	t.Helper()
	_, err := e.tc.DescribeWorkflowExecution(context.Background(), workflows.ChangeWorkflowID(dep), "")
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("a workflow was started on %s: %v", dep, err)
	}
	revs, err := e.st.ListRevisions(context.Background(), dep, 100, 0)
	if err != nil || len(revs) != revisions {
		t.Fatalf("history of %s changed: %d revisions, want %d (%v)", dep, len(revs), revisions, err)
	}
}

// Every status of the API through a real dev server and worker: the rule
// refusals (R6–R10) come back synchronously from the dry run, with their
// SPEC §3 types; auth failures start nothing.
func TestAPIStatuses(t *testing.T) {
	e := startEnv(t, true)
	now := time.Now()
	alice, bob, carol := e.token(t, "alice"), e.token(t, "bob"), e.token(t, "carol")
	revoked := e.token(t, "alice")
	rt, _ := Authenticate(context.Background(), e.st, revoked)
	e.st.RevokeToken(context.Background(), rt.ID, now)

	// auth: a deployment nobody may touch without a valid token.
	da := itest.UniqueID("auth")
	e.createDeployment(t, domain.Deployment{ID: da, RollbackEnabled: true})
	e.grant(t, "alice", da, "editor")
	e.record(t, domain.Revision{DeploymentID: da, ImageRef: itest.Image(t, "9.1.0"), ImageDigest: "sha256:" + strings.Repeat("1", 64), RuntimeVersion: "9.1.0", CreatedAt: now.Add(-2 * time.Hour)}, domain.StatusDeployed)
	e.record(t, domain.Revision{DeploymentID: da, ImageRef: itest.Image(t, "8.0.0"), ImageDigest: "sha256:" + strings.Repeat("2", 64), RuntimeVersion: "8.0.0", CreatedAt: now.Add(-time.Hour)}, domain.StatusDeployed)
	wrongSecret := revoked[:len(tokenPrefix)+13] + strings.Repeat("A", 43)
	deployBody := map[string]any{"imageRef": itest.Image(t, "9.1.0"), "description": "from CI"}
	rollbackBody := map[string]any{"description": "bad deploy"}
	for name, tok := range map[string]string{"no token": "", "garbage": "hunter2", "wrong secret": wrongSecret, "revoked": revoked} {
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"POST", "/api/v1/deployments/" + da + "/deploys", deployBody},
			{"POST", "/api/v1/deployments/" + da + "/deploys/1/rollback", rollbackBody},
			{"GET", "/api/v1/deployments/" + da + "/deploys", nil},
			{"GET", "/api/v1/workflows/change/" + da + "/progress", nil},
		} {
			r := e.call(t, c.method, c.path, tok, c.body)
			if r.status != http.StatusUnauthorized || r.errType(t) != "Unauthenticated" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s: %s %s: %d %s", name, c.method, c.path, r.status, r.body)
			}
		}
	}
	// The bearer scheme is required.
	req, _ := http.NewRequest("GET", e.http.URL+"/api/v1/deployments/"+da+"/deploys", nil)
	req.Header.Set("Authorization", "Basic "+alice)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 401 {
		t.Fatalf("Basic scheme: %v %v", res.StatusCode, err)
	}
	e.noChange(t, da, 2)

	// The rules, each refused before anything is recorded.
	d := itest.UniqueID("rules")
	e.createDeployment(t, domain.Deployment{ID: d, RollbackEnabled: true})
	e.grant(t, "alice", d, "editor")
	e.grant(t, "bob", d, "viewer")
	if err := e.st.AddGrant(context.Background(), domain.Grant{User: "sysop", Permission: policy.SystemImagesPush}); err != nil {
		t.Fatal(err)
	}
	sysop := e.token(t, "sysop")
	dig := func(c string) string { return "sha256:" + strings.Repeat(c, 64) }
	e.record(t, domain.Revision{DeploymentID: d, ImageRef: itest.Image(t, "9.1.0"), ImageDigest: dig("a"), RuntimeVersion: "9.1.0", CreatedAt: now.Add(-100 * 24 * time.Hour)}, domain.StatusDeployed)
	e.record(t, domain.Revision{DeploymentID: d, ImageRef: itest.Image(t, "4.2.0"), ImageDigest: dig("b"), RuntimeVersion: "4.2.0", CreatedAt: now.Add(-3 * time.Hour)}, domain.StatusDeployed)
	e.record(t, domain.Revision{DeploymentID: d, ImageRef: itest.Image(t, "9.1.0"), ImageDigest: dig("c"), RuntimeVersion: "9.1.0", CreatedAt: now.Add(-2 * time.Hour)}, domain.StatusFailed)
	// A rollback target must name an image that can still be had, by its
	// real digest (the rollback checks before recording anything).
	real8 := repoDigest(t, itest.Image(t, "8.0.0"))
	e.record(t, domain.Revision{DeploymentID: d, ImageRef: itest.Image(t, "8.0.0"), ImageDigest: real8, RuntimeVersion: "8.0.0", AirflowVersion: "2.10.0", CreatedAt: now.Add(-90 * time.Minute)}, domain.StatusDeployed)
	e.record(t, domain.Revision{DeploymentID: d, ImageRef: itest.Image(t, "9.1.0"), ImageDigest: dig("e"), RuntimeVersion: "9.1.0", AirflowVersion: "3.0.2", CreatedAt: now.Add(-time.Hour)}, domain.StatusDeployed)
	nfs := itest.UniqueID("nfs")
	e.createDeployment(t, domain.Deployment{ID: nfs, DagSource: domain.DagSourceNFS, RollbackEnabled: true})
	e.grant(t, "alice", nfs, "editor")
	off := itest.UniqueID("off")
	e.createDeployment(t, domain.Deployment{ID: off})
	e.grant(t, "alice", off, "editor")
	big := `{"description":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`

	cases := []struct {
		name         string
		method, path string
		token        string
		body         any
		status       int
		typ          string
	}{
		{"malformed id", "GET", "/api/v1/deployments/D1!/deploys", alice, nil, 400, "InvalidInput"},
		{"malformed id on deploy", "POST", "/api/v1/deployments/Not_A_Slug/deploys", alice, deployBody, 400, "InvalidInput"},
		{"limit not a number", "GET", "/api/v1/deployments/" + d + "/deploys?limit=ten", alice, nil, 400, "InvalidInput"},
		{"limit too large", "GET", "/api/v1/deployments/" + d + "/deploys?limit=5000", alice, nil, 400, "InvalidInput"},
		{"revision not a number", "POST", "/api/v1/deployments/" + d + "/deploys/three/rollback", alice, rollbackBody, 400, "InvalidInput"},
		{"no description", "POST", "/api/v1/deployments/" + d + "/deploys/4/rollback", alice, map[string]any{}, 400, "InvalidInput"},
		{"bad scope", "POST", "/api/v1/deployments/" + d + "/deploys/4/rollback", alice, map[string]any{"description": "x", "scope": "everything"}, 400, "InvalidInput"},
		{"requestedBy is the token's", "POST", "/api/v1/deployments/" + d + "/deploys", alice, map[string]any{"imageRef": itest.Image(t, "9.1.0"), "requestedBy": "mallory"}, 400, "InvalidInput"},
		{"not JSON", "POST", "/api/v1/deployments/" + d + "/deploys", alice, "{imageRef:", 400, "InvalidInput"},
		{"no image", "POST", "/api/v1/deployments/" + d + "/deploys", alice, map[string]any{"description": "x"}, 400, "InvalidInput"},
		{"body too large", "POST", "/api/v1/deployments/" + d + "/deploys/4/rollback", alice, big, 413, "RequestTooLarge"},
		{"viewer deploys", "POST", "/api/v1/deployments/" + d + "/deploys", bob, deployBody, 403, "PermissionDenied"},
		{"viewer rolls back", "POST", "/api/v1/deployments/" + d + "/deploys/4/rollback", bob, rollbackBody, 403, "PermissionDenied"},
		{"stranger reads", "GET", "/api/v1/deployments/" + d + "/deploys", carol, nil, 403, "PermissionDenied"},
		// Without a grant on it, an unknown deployment answers as a
		// forbidden one (issue 26); with an installation-wide grant, 404.
		{"unknown deployment, no grant", "GET", "/api/v1/deployments/nope-404/deploys", alice, nil, 403, "PermissionDenied"},
		{"unknown deployment deploy, no grant", "POST", "/api/v1/deployments/nope-404/deploys", alice, deployBody, 403, "PermissionDenied"},
		{"unknown deployment", "GET", "/api/v1/deployments/nope-404/deploys", sysop, nil, 404, "NotFound"},
		{"unknown deployment deploy", "POST", "/api/v1/deployments/nope-404/deploys", sysop, deployBody, 404, "NotFound"},
		{"unknown revision", "POST", "/api/v1/deployments/" + d + "/deploys/99/rollback", alice, rollbackBody, 404, "NotFound"},
		{"unknown workflow, no grant", "GET", "/api/v1/workflows/change%2Fnope-404/progress", alice, nil, 403, "PermissionDenied"},
		{"unknown workflow", "GET", "/api/v1/workflows/change%2Fnope-404/progress", sysop, nil, 404, "NotFound"},
		{"not a deployment's workflow", "GET", "/api/v1/workflows/cleanup-2026-01-01/progress", sysop, nil, 404, "NotFound"},
		{"outside retention (R6)", "POST", "/api/v1/deployments/" + d + "/deploys/1/rollback", alice, rollbackBody, 422, "OutsideRetention"},
		{"failed target (R6)", "POST", "/api/v1/deployments/" + d + "/deploys/3/rollback", alice, rollbackBody, 422, "OutsideRetention"},
		{"below Runtime 5 (R7)", "POST", "/api/v1/deployments/" + d + "/deploys/2/rollback", alice, rollbackBody, 422, "RuntimeTooOld"},
		{"NFS deployment (R8)", "POST", "/api/v1/deployments/" + nfs + "/deploys/1/rollback", alice, rollbackBody, 422, "UnsupportedDagSource"},
		{"switch off (R9)", "POST", "/api/v1/deployments/" + off + "/deploys/1/rollback", alice, rollbackBody, 422, "RollbacksDisabled"},
	}
	for _, c := range cases {
		r := e.call(t, c.method, c.path, c.token, c.body)
		if r.status != c.status || r.errType(t) != c.typ {
			t.Errorf("%s: %s %s: got %d %s, want %d %s", c.name, c.method, c.path, r.status, r.body, c.status, c.typ)
		}
	}
	revs, _ := e.st.ListRevisions(context.Background(), d, 100, 0)
	if len(revs) != 5 {
		t.Fatalf("refusals recorded revisions: %d", len(revs))
	}

	// History, paged newest first.
	var page action.DeploysPage
	r := e.call(t, "GET", "/api/v1/deployments/"+d+"/deploys?limit=2", bob, nil)
	r.json(t, &page)
	if r.status != 200 || len(page.Deploys) != 2 || page.Deploys[0].Number != 5 || page.Deploys[1].Number != 4 || page.NextBefore != 4 {
		t.Fatalf("first page: %d %s", r.status, r.body)
	}
	r = e.call(t, "GET", "/api/v1/deployments/"+d+"/deploys?limit=2&before=2", bob, nil)
	page = action.DeploysPage{}
	r.json(t, &page)
	if r.status != 200 || len(page.Deploys) != 1 || page.Deploys[0].Number != 1 || page.NextBefore != 0 {
		t.Fatalf("last page: %d %s", r.status, r.body)
	}

	// A dry run answers 200 with the plan and records nothing.
	var pl planned
	r = e.call(t, "POST", "/api/v1/deployments/"+d+"/deploys/4/rollback", alice, map[string]any{"description": "try", "dryRun": true})
	r.json(t, &pl)
	if r.status != 200 || !pl.DryRun || pl.Plan.Target.Number != 4 || pl.Plan.Current.Number != 5 || pl.Plan.ToImageDigest != real8 || !pl.Plan.Downgrade {
		t.Fatalf("dry run: %d %s", r.status, r.body)
	}
	if revs, _ := e.st.ListRevisions(context.Background(), d, 100, 0); len(revs) != 5 {
		t.Fatalf("a dry run recorded a revision")
	}
	// Its progress: done, with the plan step done and the rest skipped. It
	// ran under its own plan id: a plan never holds the change id (R15).
	if !strings.HasPrefix(pl.WorkflowID, "plan/"+d+"/") {
		t.Fatalf("a dry run must not run as the change: %s", pl.WorkflowID)
	}
	var p Progress
	r = e.call(t, "GET", "/api/v1/workflows/"+url.PathEscape(pl.WorkflowID)+"/progress?runId="+pl.RunID, bob, nil)
	r.json(t, &p)
	if r.status != 200 || !p.Done || p.Status != "COMPLETED" || p.Progress == nil || p.Progress.Kind != "rollback" || len(p.Progress.Steps) == 0 ||
		p.Progress.Steps[1].Name != "plan" || p.Progress.Steps[1].State != "done" || p.Progress.Steps[2].State != "skipped" {
		t.Fatalf("dry run progress: %d %s", r.status, r.body)
	}
	if r := e.call(t, "GET", "/api/v1/workflows/"+url.PathEscape(pl.WorkflowID)+"/progress", carol, nil); r.status != 403 || r.errType(t) != "PermissionDenied" {
		t.Fatalf("a stranger reads progress: %d %s", r.status, r.body)
	}

	// R14: a change in progress (here one no worker picks up) refuses the
	// next with 409 and the running workflow's id.
	busy := itest.UniqueID("busy")
	e.createDeployment(t, domain.Deployment{ID: busy, RollbackEnabled: true})
	e.grant(t, "alice", busy, "editor")
	e.record(t, domain.Revision{DeploymentID: busy, ImageRef: itest.Image(t, "9.1.0"), ImageDigest: dig("f"), RuntimeVersion: "9.1.0", CreatedAt: now.Add(-time.Hour)}, domain.StatusDeployed)
	run, err := e.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: workflows.ChangeWorkflowID(busy), TaskQueue: "nobody-polls-this"},
		workflows.DeployWorkflowName, map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.tc.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "test over")
	for _, path := range []string{"/api/v1/deployments/" + busy + "/deploys", "/api/v1/deployments/" + busy + "/deploys/1/rollback"} {
		body := any(deployBody)
		if strings.HasSuffix(path, "rollback") {
			body = rollbackBody
		}
		r := e.call(t, "POST", path, alice, body)
		var b errorBody
		r.json(t, &b)
		if r.status != 409 || b.Error.Type != "ChangeInProgress" || b.Error.WorkflowID != run.GetID() || b.Error.RunID != run.GetRunID() {
			t.Fatalf("%s while busy: %d %s", path, r.status, r.body)
		}
	}
}

// The CI path end to end: deploy twice over HTTP, roll back over HTTP (202),
// follow the progress to done and read the new top row.
func TestDeployAndRollbackOverHTTP(t *testing.T) {
	e := startEnv(t, true)
	d := itest.UniqueID("http")
	itest.RemoveContainers(t, d)
	e.createDeployment(t, domain.Deployment{ID: d, RollbackEnabled: true})
	e.grant(t, "alice", d, "editor")
	alice := e.token(t, "alice")
	for _, tag := range []string{"9.1.0", "8.0.0"} {
		var st started
		r := e.call(t, "POST", "/api/v1/deployments/"+d+"/deploys", alice, map[string]any{"imageRef": itest.Image(t, tag), "description": "deploy " + tag})
		r.json(t, &st)
		if r.status != 202 || st.WorkflowID != "change/"+d || st.RunID == "" || !strings.HasPrefix(st.ProgressURL, "/api/v1/workflows/change/"+d+"/progress?runId=") {
			t.Fatalf("deploy %s: %d %s", tag, r.status, r.body)
		}
		if p := e.waitDone(t, st.ProgressURL, alice, 2*time.Minute); p.Status != "COMPLETED" || p.Progress.State != "done" {
			t.Fatalf("deploy %s ended %s: %+v", tag, p.Status, p.Error)
		}
	}
	var st started
	r := e.call(t, "POST", "/api/v1/deployments/"+d+"/deploys/1/rollback", alice, map[string]any{"description": "8.0.0 breaks the ETL", "scope": "all"})
	r.json(t, &st)
	if r.status != 202 || st.Plan == nil || st.Plan.Target.Number != 1 || st.Plan.Current.Number != 2 {
		t.Fatalf("rollback: %d %s", r.status, r.body)
	}
	p := e.waitDone(t, st.ProgressURL, alice, 2*time.Minute)
	if p.Status != "COMPLETED" || p.Progress.Revision != 3 {
		t.Fatalf("rollback ended %s: %+v %+v", p.Status, p.Error, p.Progress)
	}
	var page action.DeploysPage
	e.call(t, "GET", "/api/v1/deployments/"+d+"/deploys?limit=1", alice, nil).json(t, &page)
	top := page.Deploys[0]
	if top.Number != 3 || top.RollbackOf != 1 || top.CreatedBy != "alice" || top.Description != "8.0.0 breaks the ETL" || top.Status != domain.StatusDeployed || top.ImageRef != itest.Image(t, "9.1.0") {
		t.Fatalf("top row: %+v", top)
	}
}

// repoDigest is the registry digest of a pushed test image.
func repoDigest(t *testing.T, ref string) string {
	t.Helper()
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", ref).Output()
	if err != nil {
		t.Fatalf("docker image inspect %s: %v", ref, err)
	}
	repo := ref[:strings.LastIndex(ref, ":")]
	for _, line := range strings.Fields(string(out)) {
		if strings.HasPrefix(line, repo+"@") {
			return strings.TrimPrefix(line, repo+"@")
		}
	}
	t.Fatalf("no repo digest for %s in %q", ref, out)
	return ""
}
