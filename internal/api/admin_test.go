package api

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

// offlineEnv is an env over offlineServer: the administration routes need
// the store only, no Temporal.
func offlineEnv(t *testing.T) *env {
	s := offlineServer(t)
	e := &env{srv: s, st: s.opts.Store, http: httptest.NewServer(s.Handler())}
	t.Cleanup(e.http.Close)
	return e
}

// Administration through the API needs system.admin, checked before the
// body is read; what an administrator does lands in the store; answers
// carry no secret.
func TestAdministrationNeedsSystemAdmin(t *testing.T) {
	e := offlineEnv(t)
	ctx := context.Background()
	if err := e.st.AddGrant(ctx, domain.Grant{User: "root", Permission: policy.SystemAdmin}); err != nil {
		t.Fatal(err)
	}
	root, eve := e.token(t, "root"), e.token(t, "eve")

	// A token without system.admin is refused with its type, and nothing
	// changes.
	e.createDeployment(t, domain.Deployment{ID: "d1", Env: map[string]string{"DB_PASSWORD": "hunter2"}})
	e.grant(t, "eve", "d1", "editor")
	refused := []struct {
		method, path string
		body         any
	}{
		{"POST", "/api/v1/deployments", map[string]any{"id": "d2"}},
		{"PATCH", "/api/v1/deployments/d1", map[string]any{"rollbackEnabled": true}},
		{"POST", "/api/v1/grants", domain.Grant{User: "eve", Permission: policy.SystemAdmin}},
		{"POST", "/api/v1/grants/revoke", domain.Grant{User: "eve", DeploymentID: "d1", Role: "editor"}},
		{"POST", "/api/v1/tokens", map[string]any{"user": "root"}},
		{"GET", "/api/v1/tokens", nil},
		{"GET", "/api/v1/grants?user=root", nil},
		{"POST", "/api/v1/tokens/" + strings.Split(root, "_")[1] + "/revoke", nil},
		{"POST", "/api/v1/deployments", "not even JSON"}, // refused before the body is read
	}
	for _, c := range refused {
		r := e.call(t, c.method, c.path, eve, c.body)
		if r.status != 403 || r.errType(t) != "PermissionDenied" || !strings.Contains(string(r.body), policy.SystemAdmin) {
			t.Errorf("%s %s as a non-admin: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	if _, err := e.st.GetDeployment(ctx, "d2"); domain.TypeOf(err) != domain.NotFound {
		t.Fatalf("a refused create made d2: %v", err)
	}
	grants, _ := e.st.GrantsFor(ctx, "eve")
	if len(grants) != 1 || grants[0].Role != "editor" {
		t.Fatalf("refused grant changes changed eve's grants: %+v", grants)
	}
	if ts, _ := e.st.ListTokens(ctx, ""); len(ts) != 2 || ts[0].RevokedAt != nil || ts[1].RevokedAt != nil {
		t.Fatalf("refused token calls changed tokens: %+v", ts)
	}

	// The administrator does each of them.
	r := e.call(t, "POST", "/api/v1/deployments", root, map[string]any{"id": "d2", "dagSource": "bundle", "env": map[string]string{"API_KEY": "s3cret"}, "rollbackEnabled": true})
	var d domain.Deployment
	r.json(t, &d)
	if r.status != 201 || d.ID != "d2" || d.DagSource != domain.DagSourceBundle || !d.RollbackEnabled || d.Resources.Executor != "CeleryExecutor" || d.Env["API_KEY"] != domain.RedactedValue {
		t.Fatalf("create as admin: %d %s", r.status, r.body)
	}
	r = e.call(t, "PATCH", "/api/v1/deployments/d1", root, map[string]any{"cpu": "0.5", "unsetEnv": []string{"NOPE"}})
	if r.status != 200 || strings.Contains(string(r.body), "hunter2") {
		t.Fatalf("update as admin: %d %s", r.status, r.body)
	}
	if got, _ := e.st.GetDeployment(ctx, "d1"); got.Resources.CPU != "0.5" || got.Env["DB_PASSWORD"] != "hunter2" {
		t.Fatalf("update must change only what it sends: %+v", got)
	}
	if r := e.call(t, "PATCH", "/api/v1/deployments/d1", root, map[string]any{"workers": "three"}); r.status != 400 {
		t.Fatalf("bad update: %d %s", r.status, r.body)
	}
	if r := e.call(t, "POST", "/api/v1/grants", root, domain.Grant{User: "eve", DeploymentID: "d2", Role: "viewer"}); r.status != 200 {
		t.Fatalf("grant as admin: %d %s", r.status, r.body)
	}
	if r := e.call(t, "POST", "/api/v1/grants/revoke", root, domain.Grant{User: "eve", DeploymentID: "d1", Role: "editor"}); r.status != 200 {
		t.Fatalf("revoke as admin: %d %s", r.status, r.body)
	}
	r = e.call(t, "POST", "/api/v1/tokens", root, map[string]any{"user": "ci", "expires": "1h"})
	var issued action.IssuedToken
	r.json(t, &issued)
	if r.status != 201 || !strings.HasPrefix(issued.Plain, "rwd_") || issued.User != "ci" || issued.ExpiresAt.Sub(issued.CreatedAt) != time.Hour {
		t.Fatalf("token as admin: %d %s", r.status, r.body)
	}
	if r := e.call(t, "GET", "/api/v1/tokens", root, nil); r.status != 200 || strings.Contains(string(r.body), "rwd_") || strings.Contains(string(r.body), "hash") {
		t.Fatalf("token list must carry no token: %d %s", r.status, r.body)
	}

	// whoami: the token's user and grants; eve sees only what she holds.
	var id action.Identity
	e.call(t, "GET", "/api/v1/whoami", eve, nil).json(t, &id)
	if id.User != "eve" || id.Admin || len(id.Grants) != 1 || id.Grants[0].DeploymentID != "d2" || id.Token == nil {
		t.Fatalf("whoami: %+v", id)
	}
	var list []domain.Deployment
	e.call(t, "GET", "/api/v1/deployments", eve, nil).json(t, &list)
	if len(list) != 1 || list[0].ID != "d2" {
		t.Fatalf("eve must list only d2: %+v", list)
	}
	if r := e.call(t, "GET", "/api/v1/deployments/d1", eve, nil); r.status != 403 {
		t.Fatalf("eve reading d1: %d %s", r.status, r.body)
	}
	// Anyone may revoke the token they present.
	if r := e.call(t, "POST", "/api/v1/tokens/"+strings.Split(eve, "_")[1]+"/revoke", eve, nil); r.status != 200 {
		t.Fatalf("self revoke: %d %s", r.status, r.body)
	}
	if r := e.call(t, "GET", "/api/v1/whoami", eve, nil); r.status != 401 {
		t.Fatalf("a revoked token must stop working: %d", r.status)
	}
}

// Webhooks are administration; their secrets go in and never come out.
func TestWebhooksNeedSystemAdminAndKeepTheirSecret(t *testing.T) {
	e := offlineEnv(t)
	e.srv.opts.Config.WebhookAllowHosts = []string{"hooks.example.com"} // resolves nowhere here
	ctx := context.Background()
	if err := e.st.AddGrant(ctx, domain.Grant{User: "root", Permission: policy.SystemAdmin}); err != nil {
		t.Fatal(err)
	}
	root, eve := e.token(t, "root"), e.token(t, "eve")
	e.createDeployment(t, domain.Deployment{ID: "d1"})
	e.grant(t, "eve", "d1", "editor")
	body := map[string]any{"url": "https://hooks.example.com/x", "secret": "0123456789abcdef-secret", "deploymentId": "d1"}
	for _, c := range []struct {
		method, path string
		body         any
	}{{"POST", "/api/v1/webhooks", body}, {"GET", "/api/v1/webhooks", nil}, {"DELETE", "/api/v1/webhooks/wh_000000000000", nil}} {
		if r := e.call(t, c.method, c.path, eve, c.body); r.status != 403 || r.errType(t) != "PermissionDenied" {
			t.Errorf("%s %s as a non-admin: %d %s", c.method, c.path, r.status, r.body)
		}
	}
	if hooks, _ := e.st.Webhooks(ctx, "*"); len(hooks) != 0 {
		t.Fatalf("a refused add stored %+v", hooks)
	}
	r := e.call(t, "POST", "/api/v1/webhooks", root, body)
	if r.status != 201 || strings.Contains(string(r.body), "secret") || !strings.Contains(string(r.body), `"id": "wh_`) {
		t.Fatalf("add as admin: %d %s", r.status, r.body)
	}
	if r := e.call(t, "POST", "/api/v1/webhooks", root, map[string]any{"url": "ftp://x", "secret": "0123456789abcdef"}); r.status != 400 {
		t.Fatalf("a bad URL: %d %s", r.status, r.body)
	}
	if r := e.call(t, "POST", "/api/v1/webhooks", root, map[string]any{"url": "https://x", "secret": "short"}); r.status != 400 {
		t.Fatalf("a short secret: %d %s", r.status, r.body)
	}
	r = e.call(t, "GET", "/api/v1/webhooks", root, nil)
	var hooks []struct{ ID string }
	r.json(t, &hooks)
	if r.status != 200 || len(hooks) != 1 || strings.Contains(string(r.body), "secret") {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if r := e.call(t, "DELETE", "/api/v1/webhooks/"+hooks[0].ID, root, nil); r.status != 200 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	if r := e.call(t, "DELETE", "/api/v1/webhooks/"+hooks[0].ID, root, nil); r.status != 404 {
		t.Fatalf("remove twice: %d %s", r.status, r.body)
	}
}
