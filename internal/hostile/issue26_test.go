package hostile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/api"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/identity"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// admin holds system.admin, for the webhook routes.
const admin = "hx-admin"

// hostileText is what a description or a container's output could carry
// to rewrite an operator's terminal: a cursor move that hides rows, an OSC
// 8 link, an OSC 52 clipboard write, a C1 CSI and a bidi override.
const hostileText = "ok\x1b[1A\x1b[2K\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\\x1b]52;c;cm0gLXJmIH4=\x07\u009b2J\u202etxt.exe"

// issue26Cases are the attacks of issue 26: signatures replayed for
// another input, type, id or run; automatic rollbacks without a bake;
// webhooks aimed inside; terminal escapes; existence before permission;
// credentials in git remotes.
func (e *env) issue26Cases(t *testing.T) []hcase {
	ctx := context.Background()
	b, img := e.bundle, e.image
	key, err := e.cfg.SigningKey()
	if err != nil || key == nil {
		t.Fatalf("the installation's signing key: %v", err)
	}
	// Signing as rewind serve does for editor (the key holder's view): what
	// an attacker copies from a history.
	sign := func(wfType, wfID, dep, digest string) string {
		return identity.Sign(key, identity.Claim{RequestedBy: editor, DeploymentID: dep, WorkflowID: wfID, WorkflowType: wfType, InputDigest: digest, SignedAt: time.Now()})
	}
	var cs []hcase
	tc := func(name, want string, run func(t *testing.T) (string, string)) {
		cs = append(cs, hcase{via: viaTemporal, name: name, want: want, run: func(t *testing.T) (string, int, string) {
			got, msg := run(t)
			return got, 0, msg
		}})
	}
	plan := workflows.RollbackInput{DeploymentID: b, Revision: 2, Description: "just looking", RequestedBy: editor, Scope: policy.ScopeAll, DryRun: true}
	planID := workflows.PlanWorkflowID(b, "0190aaaa-0000-7000-8000-000000000026")
	planSig := sign(workflows.RollbackWorkflowName, planID, b, plan.Digest())
	real := plan
	real.DryRun, real.RequesterSignature = false, planSig

	tc("a plan's signature replayed as a real rollback under change/<deployment>", "PermissionDenied", func(t *testing.T) (string, string) {
		return e.runAs(t, e.strictWorker(t), workflows.ChangeWorkflowID(b), workflows.RollbackWorkflowName, real)
	})
	// A plan as `rewind rollback --dry-run` starts it; its id and
	// signature, read from its history as an attacker would, started again.
	// Temporal lets the attacker choose the id reuse policy of their own
	// start, so the workers are what refuse.
	var planRun client.WorkflowRun
	replan := func(t *testing.T, dryRun bool) (string, string) {
		if planRun == nil {
			_, run, err := (&action.Rollback{Config: e.cfg, Store: e.st, Temporal: e.srv.Client, Input: plan}).Plan(ctx, time.Minute)
			if run == nil {
				return "the plan did not start", fmt.Sprint(err)
			}
			planRun = run
		}
		again := plan
		again.DryRun = dryRun
		again.RequesterSignature = e.inputSignature(t, planRun.GetID(), planRun.GetRunID())
		return e.runAs(t, e.srv.TaskQueue, planRun.GetID(), workflows.RollbackWorkflowName, again)
	}
	tc("a plan's id and signature started again as a real rollback", "PermissionDenied", func(t *testing.T) (string, string) { return replan(t, false) })
	tc("a plan's id and signature started again as the same plan", "PermissionDenied", func(t *testing.T) (string, string) {
		got, msg := replan(t, true)
		if got == "PermissionDenied" && !strings.Contains(msg, "already used") {
			return "PermissionDenied for another reason", msg
		}
		return got, msg
	})
	tc("a real rollback under a fresh plan id (claimed)", "PermissionDenied", func(t *testing.T) (string, string) {
		in := plan
		in.DryRun = false
		return e.runAs(t, e.srv.TaskQueue, workflows.PlanWorkflowID(b, fmt.Sprint(time.Now().UnixNano())), workflows.RollbackWorkflowName, in)
	})
	dep := workflows.DeployInput{DeploymentID: img, ImageRef: itest.Image(t, "9.1.0"), RequestedBy: editor, Type: domain.DeployImageOnly, Description: "signed"}
	tc("a deploy's signature with another image", "PermissionDenied", func(t *testing.T) (string, string) {
		in := dep
		in.RequesterSignature = sign(workflows.DeployWorkflowName, workflows.ChangeWorkflowID(img), img, dep.Digest())
		in.ImageRef = itest.Image(t, "8.0.0")
		return e.runAs(t, e.strictWorker(t), workflows.ChangeWorkflowID(img), workflows.DeployWorkflowName, in)
	})
	tc("a deploy's signature under another workflow type", "PermissionDenied", func(t *testing.T) (string, string) {
		in := workflows.RollbackInput{DeploymentID: img, Revision: 1, Description: "typed", RequestedBy: editor, Scope: policy.ScopeAll}
		in.RequesterSignature = sign(workflows.DeployWorkflowName, workflows.ChangeWorkflowID(img), img, in.Digest())
		return e.runAs(t, e.strictWorker(t), workflows.ChangeWorkflowID(img), workflows.RollbackWorkflowName, in)
	})
	tc("a signature used once, started again (same id, same input)", "PermissionDenied", func(t *testing.T) (string, string) {
		// A DAG-only deploy on a deployment without DAG deploys: verified,
		// then refused (InvalidInput) with nothing recorded; its nonce is
		// used all the same.
		in := workflows.DeployInput{DeploymentID: img, RequestedBy: editor, Type: domain.DeployDAGOnly, DagBundleVersion: domain.NewDagBundleVersion(time.Now()),
			DagBundleDigest: "sha256:" + strings.Repeat("a", 64)}
		in.RequesterSignature = sign(workflows.DeployWorkflowName, workflows.ChangeWorkflowID(img), img, in.Digest())
		if got, msg := e.runAs(t, e.srv.TaskQueue, workflows.ChangeWorkflowID(img), workflows.DeployWorkflowName, in); got != "InvalidInput" {
			return "first use: " + got, msg
		}
		got, msg := e.runAs(t, e.srv.TaskQueue, workflows.ChangeWorkflowID(img), workflows.DeployWorkflowName, in)
		if got == "PermissionDenied" && !strings.Contains(msg, "already used") {
			return "PermissionDenied for another reason", msg
		}
		return got, msg
	})
	tc("an automatic rollback started by hand, validly signed, no bake", "PermissionDenied", func(t *testing.T) (string, string) {
		in := workflows.RollbackInput{DeploymentID: b, Revision: 2, Description: "I am rewind", RequestedBy: domain.AutomaticRequester, Scope: policy.ScopeAll}
		in.RequesterSignature = identity.Sign(key, identity.Claim{RequestedBy: domain.AutomaticRequester, DeploymentID: b, WorkflowID: workflows.ChangeWorkflowID(b),
			WorkflowType: workflows.RollbackWorkflowName, InputDigest: in.Digest(), SignedAt: time.Now()})
		return e.runAs(t, e.srv.TaskQueue, workflows.ChangeWorkflowID(b), workflows.RollbackWorkflowName, in)
	})
	tc("a description with terminal escapes", "InvalidInput", func(t *testing.T) (string, string) {
		in := dep
		in.Description = hostileText
		return e.runAs(t, e.srv.TaskQueue, workflows.ChangeWorkflowID(img), workflows.DeployWorkflowName, in)
	})

	// Webhooks aimed inside, through the API and the store-direct CLI. The
	// test stack allows 127.0.0.1 for its receivers: cleared here.
	e.cfg.WebhookAllowHosts = nil
	if err := e.st.AddGrant(ctx, domain.Grant{User: admin, Permission: policy.SystemAdmin}); err != nil {
		t.Fatal(err)
	}
	tok, _, err := api.IssueToken(ctx, e.st, admin, "hostile battery", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.tokens[admin] = tok
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:2375/containers/create", "http://[::1]:7233/",
		"http://10.0.0.5/hook", "http://172.16.0.1/hook", "http://192.168.1.1/hook", "http://100.64.0.1/hook", "http://[fd00::1]/hook",
		"http://[fe80::1]/hook", "http://[::ffff:127.0.0.1]:2375/", "http://[::ffff:a9fe:a9fe]/", "http://0.0.0.0:2375/", "http://224.0.0.1/",
		"http://localhost:2375/containers/create"} {
		body := []byte(`{"url":"` + u + `","secret":"0123456789abcdef-secret"}`)
		cs = append(cs, hcase{via: viaAPI, name: "webhook inside: " + u, want: "InvalidInput", status: 400, run: func(t *testing.T) (string, int, string) {
			r := e.call(t, "POST", "/api/v1/webhooks", admin, "application/json", body)
			return r.typ, r.status, r.msg
		}})
	}
	for _, u := range []string{"http://169.254.169.254/latest/meta-data/", "http://localhost:2375/containers/create", "http://[::ffff:7f00:1]/"} {
		cs = append(cs, hcase{via: viaCLI, name: "notify add inside: " + u, want: "InvalidInput", run: func(t *testing.T) (string, int, string) {
			defer setEnv(map[string]string{"REWIND_WEBHOOK_ALLOW_HOSTS": ""})()
			secret := t.TempDir() + "/secret"
			if err := os.WriteFile(secret, []byte("0123456789abcdef-secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := rewind("notify", "add", "--url", u, "--secret-file", secret)
			return cliType(code, stderr), 0, stderr
		}})
	}
	cs = append(cs, hcase{via: viaTemporal, name: "webhook delivery: an outside receiver redirecting to loopback", want: "WebhookRefused",
		run: func(t *testing.T) (string, int, string) { return e.redirectedDelivery(t) }})
	cs = append(cs, e.lockoutCase(t))
	cs = append(cs, e.outputCases(t)...)
	// Tokens and grants: no reserved names, no lifetimes past the cap.
	for _, c := range []struct{ name, path, body string }{
		{"token for rewind (automatic)", "/api/v1/tokens", `{"user":"rewind (automatic)"}`},
		{"token for a name with parentheses", "/api/v1/tokens", `{"user":"ops (bot)"}`},
		{"token for 266 years", "/api/v1/tokens", `{"user":"` + editor + `","expires":"2333040h"}`},
		{"grant to rewind (automatic)", "/api/v1/grants", `{"user":"rewind (automatic)","deploymentId":"` + b + `","role":"editor"}`},
	} {
		cs = append(cs, hcase{via: viaAPI, name: c.name, want: "InvalidInput", status: 400, run: func(t *testing.T) (string, int, string) {
			r := e.call(t, "POST", c.path, admin, "application/json", []byte(c.body))
			return r.typ, r.status, r.msg
		}})
	}
	cs = append(cs, hcase{via: viaCLI, name: "token create --expires past REWIND_TOKEN_MAX_TTL", want: "InvalidInput", run: func(t *testing.T) (string, int, string) {
		code, _, stderr := rewind("token", "create", "--user", editor, "--expires", "2333040h")
		return cliType(code, stderr), 0, stderr
	}})
	return cs
}

// outputCases: escapes refused at input, neutralised at output; 403 and
// 404 the same to a caller without a grant; credentials in git remotes.
func (e *env) outputCases(t *testing.T) []hcase {
	ctx := context.Background()
	b, img := e.bundle, e.image
	j := "application/json"
	var cs []hcase
	deploys := func(id string) string { return "/api/v1/deployments/" + id + "/deploys" }
	esc, _ := json.Marshal(hostileText)
	cs = append(cs, hcase{via: viaAPI, name: "deploy description with terminal escapes", want: "InvalidInput", status: 400, run: func(t *testing.T) (string, int, string) {
		r := e.call(t, "POST", deploys(img), editor, j, []byte(`{"imageRef":"`+itest.Image(t, "9.1.0")+`","description":`+string(esc)+`}`))
		return r.typ, r.status, r.msg
	}})
	cs = append(cs, hcase{via: viaAPI, name: "rollback description with a bidi override", want: "InvalidInput", status: 400, run: func(t *testing.T) (string, int, string) {
		r := e.call(t, "POST", deploys(b)+"/2/rollback", editor, j, []byte(`{"description":"fine\u202eenif"}`))
		return r.typ, r.status, r.msg
	}})
	cs = append(cs, hcase{via: viaAPI, name: "git remote with a token as its user", want: "InvalidInput", status: 400, run: func(t *testing.T) (string, int, string) {
		r := e.call(t, "POST", deploys(img), editor, j, []byte(`{"imageRef":"`+itest.Image(t, "9.1.0")+`","git":{"commit":"0123abc","remote":"https://ghp_abcdefghijklmnop0123456789@github.com/org/repo.git"}}`))
		return r.typ, r.status, r.msg
	}})
	cs = append(cs, hcase{via: viaCLI, name: "deploy --description with terminal escapes", want: "InvalidInput", run: func(t *testing.T) (string, int, string) {
		code, _, stderr := rewind("deploy", img, "--image", itest.Image(t, "9.1.0"), "--description", hostileText, "--as", editor)
		return cliType(code, stderr), 0, stderr
	}})

	// A revision whose description predates the check (written straight
	// into the store): `history` prints it escaped, byte for byte.
	term := itest.UniqueID("hx-term")
	if err := e.st.CreateDeployment(ctx, domain.Deployment{ID: term, Name: term, DagSource: domain.DagSourceImage, Components: domain.DefaultComponents()}); err != nil {
		t.Fatal(err)
	}
	rev, err := e.st.CreateRevision(ctx, domain.Revision{DeploymentID: term, CreatedAt: time.Now(), CreatedBy: editor, Description: hostileText,
		Type: domain.DeployImageOnly, ImageRef: itest.Image(t, "9.1.0"), WorkflowID: "change/" + term, RunID: "hostile-run"})
	if err == nil {
		_, err = e.st.FinishRevision(ctx, store.Finish{DeploymentID: term, Number: rev.Number, Status: domain.StatusFailed, Reason: "container said: " + hostileText, At: time.Now()})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.AddGrant(ctx, domain.Grant{User: viewer, DeploymentID: term, Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"table", "json"} {
		cs = append(cs, hcase{via: viaCLI, name: "history --output " + format + " of a description with escapes", want: "escaped", run: func(t *testing.T) (string, int, string) {
			code, out, stderr := rewind("history", term, "--output", format)
			if code != 0 {
				return cliType(code, stderr), 0, stderr
			}
			return escaped(out)
		}})
	}

	// Existence before permission: a caller without a grant gets the same
	// answer for a deployment that exists and one that does not.
	same := func(name, existing, missing string) {
		cs = append(cs, hcase{via: viaAPI, name: name, want: "PermissionDenied", status: 403, run: func(t *testing.T) (string, int, string) {
			a := e.call(t, "GET", existing, nobody, "", nil)
			m := e.call(t, "GET", missing, nobody, "", nil)
			if a.status != m.status || a.typ != m.typ || strings.ReplaceAll(a.msg, img, "X") != strings.ReplaceAll(m.msg, "hx-missing", "X") {
				return fmt.Sprintf("%d %s vs %d %s", a.status, a.typ, m.status, m.typ), 0, a.msg + " | " + m.msg
			}
			return m.typ, m.status, m.msg
		}})
	}
	same("403 and 404 alike: history", deploys(img), deploys("hx-missing"))
	same("403 and 404 alike: progress", "/api/v1/workflows/change%2F"+img+"/progress", "/api/v1/workflows/change%2Fhx-missing/progress")
	cs = append(cs, hcase{via: viaAPI, name: "403 and 404 alike: deploy", want: "PermissionDenied", status: 403, run: func(t *testing.T) (string, int, string) {
		body := []byte(`{"imageRef":"` + itest.Image(t, "9.1.0") + `"}`)
		a, m := e.call(t, "POST", deploys(img), nobody, j, body), e.call(t, "POST", deploys("hx-missing"), nobody, j, body)
		if a.status != m.status || a.typ != m.typ {
			return fmt.Sprintf("%d %s vs %d %s", a.status, a.typ, m.status, m.typ), 0, a.msg + " | " + m.msg
		}
		return m.typ, m.status, m.msg
	}})
	return cs
}

// escaped says whether out carries no raw control character but newline
// and tab, no C1 control and no bidi override, and shows the escapes.
func escaped(out string) (string, int, string) {
	for i, r := range out {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || policy.IsBidiControl(r) {
			return fmt.Sprintf("raw %U at byte %d", r, i), 0, clip(out, 300)
		}
	}
	if !strings.Contains(out, `\x1b]52;c;`) && !strings.Contains(out, `\u001b]52;c;`) {
		return "the hostile text is missing, not escaped", 0, clip(out, 300)
	}
	return "escaped", 0, ""
}

// runAs starts a workflow with a chosen id, as anyone with Temporal access
// can, and returns the error type it ended with ("ok" if none), or
// WorkflowIdReused when Temporal refused to start it.
func (e *env) runAs(t *testing.T, queue, id, workflowType string, input any) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := e.srv.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflowType, input)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return "WorkflowIdReused", err.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	var ae *temporal.ApplicationError
	switch {
	case err == nil:
		return "ok", ""
	case errors.As(err, &ae):
		return ae.Type(), ae.Message()
	}
	return "untyped", err.Error()
}

// inputSignature is the requester signature a run's input carries, read
// from its history the way `temporal workflow show` shows it.
func (e *env) inputSignature(t *testing.T, id, runID string) string {
	t.Helper()
	iter := e.srv.Client.GetWorkflowHistory(context.Background(), id, runID, false, 0)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
			var in struct {
				Sig string `json:"requesterSignature"`
			}
			if p := a.GetInput().GetPayloads(); len(p) == 1 && json.Unmarshal(p[0].GetData(), &in) == nil && in.Sig != "" {
				return in.Sig
			}
			t.Fatalf("no signature in %s's input", id)
		}
	}
	t.Fatalf("no start event in %s", id)
	return ""
}

// redirectedDelivery adds, as the administrator, a webhook to a receiver
// the administrator allowed (standing in for an outside host: nothing
// outside is reachable here) that answers every delivery with a 307 to a
// loopback Docker-like API; delivers a notification with the worker's own
// Deliver activity and configuration; removes the webhook. The redirect
// must not be followed: the receiver inside sees nothing.
func (e *env) redirectedDelivery(t *testing.T) (string, int, string) {
	var inside atomic.Int32
	in := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inside.Add(1) }))
	defer in.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(in.URL, "http://"))
	out := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost:"+port+"/containers/create", http.StatusTemporaryRedirect)
	}))
	defer out.Close()
	e.cfg.WebhookAllowHosts = []string{"127.0.0.1"}
	r := e.call(t, "POST", "/api/v1/webhooks", admin, "application/json", []byte(`{"url":"`+out.URL+`/hook","secret":"0123456789abcdef-secret"}`))
	e.cfg.WebhookAllowHosts = nil
	var hook store.Webhook
	hooks, err := e.st.Webhooks(context.Background(), "*")
	for _, h := range hooks {
		if strings.HasPrefix(h.URL, out.URL) {
			hook = h
		}
	}
	if r.status != 201 || err != nil || hook.ID == "" {
		return fmt.Sprintf("add: %d %s", r.status, r.typ), 0, r.msg
	}
	defer e.call(t, "DELETE", "/api/v1/webhooks/"+hook.ID, admin, "", nil)
	cfg := *e.cfg
	cfg.WebhookAllowHosts = []string{"127.0.0.1"}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	acts := &activities.StoreActivities{Store: e.st, Config: &cfg}
	env.RegisterActivity(acts)
	_, err = env.ExecuteActivity(acts.Deliver, activities.DeliverRequest{WebhookID: hook.ID,
		Notification: notify.Notification{Event: notify.Test, DeploymentID: e.image, WorkflowID: "notify-test/hostile", RunID: "r", At: time.Now()}})
	var ae *temporal.ApplicationError
	switch {
	case inside.Load() != 0:
		return "the redirect was followed", 0, fmt.Sprint(err)
	case errors.As(err, &ae):
		if strings.Contains(ae.Message(), "/hook") {
			return "the error quotes the URL's path", 0, ae.Message()
		}
		return ae.Type(), 0, ae.Message()
	}
	return "untyped", 0, fmt.Sprint(err)
}

// trailing is a valid archive of one file followed, inside the same gzip
// member, by n zero bytes after the tar end marker: a few hundred KiB that
// decompress to n while the digest is read (issue 26).
func trailing(t *testing.T, n int) []byte {
	t.Helper()
	var out bytes.Buffer
	gz := gzip.NewWriter(&out)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: "dags/ok.py", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644, ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("ok"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range n >> 20 {
		gz.Write(zeros)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// lockoutCase: failures naming a token's id from 40 forwarded addresses do
// not lock its owner out (issue 26). A server of its own behind a trusted
// proxy (127.0.0.1), so its brakes fall on no other case.
func (e *env) lockoutCase(t *testing.T) hcase {
	return hcase{via: viaAPI, name: "40 failures naming a token's id from 40 addresses, then the token", want: "ok", status: 200, run: func(t *testing.T) (string, int, string) {
		s, err := api.New(api.Options{Config: e.cfg, Store: e.st, Temporal: e.srv.Client, Logger: itest.QuietSlog(),
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		id := strings.Split(e.tokens[viewer], "_")[1]
		forged := "Bearer rwd_" + id + "_" + strings.Repeat("G", 43)
		statuses := map[int]int{}
		for i := range 40 {
			req, _ := http.NewRequest("GET", srv.URL+"/api/v1/whoami", nil)
			req.Header.Set("Authorization", forged)
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1))
			res, _ := do(t, req)
			statuses[res.StatusCode]++
		}
		if statuses[429] == 0 {
			return fmt.Sprintf("the id was never braked: %v", statuses), 0, ""
		}
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens[viewer])
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		res, body := do(t, req)
		if res.StatusCode != 200 {
			return "the owner was locked out", res.StatusCode, string(body)
		}
		return "ok", res.StatusCode, ""
	}}
}
