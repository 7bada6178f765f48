package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	registrytypes "github.com/docker/docker/api/types/registry"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/proto"

	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/testregistry"
	"github.com/rewindhq/rewind/workflows"
)

// privateStack is a registry with htpasswd authentication holding
// rewind-test/airflow 9.1.0 and 8.0.0 in a repository of the test's own, a
// docker config directory REWIND_REGISTRY_CONFIG names, a dev server, and
// an in-process worker whose log (debug level) is kept, to be searched for
// secrets.
type privateStack struct {
	*stack
	reg     *testregistry.Registry
	config  string // the config.json in REWIND_REGISTRY_CONFIG's directory
	repo    string // <registry>/t-…/airflow
	digests map[string]string
	logs    string // the worker's log file
	dataDir string
}

func startPrivateStack(t *testing.T) *privateStack {
	t.Helper()
	p := &privateStack{reg: testregistry.Start(t), digests: map[string]string{}, logs: filepath.Join(t.TempDir(), "worker.log")}
	repo := "t-" + testregistry.Random(4) + "/airflow"
	p.repo = p.reg.Addr + "/" + repo
	for _, tag := range []string{"9.1.0", "8.0.0"} {
		_, p.digests[tag] = p.reg.Push(t, itest.Image(t, tag), repo+":"+tag)
	}
	dir := t.TempDir()
	p.config = filepath.Join(dir, "config.json")
	p.reg.WriteAuths(t, p.config, p.reg.Password)
	t.Setenv("REWIND_REGISTRY_CONFIG", dir)
	p.stack = itest.StartServer(t)
	cfg := itest.Config(t)
	p.dataDir = cfg.DataDir
	logs, err := os.Create(p.logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	w, err := app.StartWorker(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return p
}

// forget removes the Engine's names for a tag of the test's repository, so
// that the next pull or check of it must ask the registry.
func (p *privateStack) forget(t *testing.T, tag string) {
	t.Helper()
	for _, ref := range []string{p.repo + ":" + tag, p.repo + "@" + p.digests[tag]} {
		if out, err := exec.Command("docker", "rmi", ref).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such image") {
			t.Fatalf("docker rmi %s: %v\n%s", ref, err, out)
		}
	}
}

// noSecrets checks that no password (as written, as `docker login` encodes
// it, or inside the Engine's X-Registry-Auth) is anywhere the workflows
// leave a trace: the raw bytes of every event of every workflow of the
// namespace, `temporal workflow show` of the deployment's changes, the
// worker's log, and every file of the data directory (store, exported log
// events).
func (p *privateStack) noSecrets(t *testing.T, deps []string, passwords ...string) {
	t.Helper()
	var forms []string
	for _, pw := range passwords {
		header, err := registrytypes.EncodeAuthConfig(registrytypes.AuthConfig{Username: p.reg.User, Password: pw, ServerAddress: p.reg.Addr})
		if err != nil {
			t.Fatal(err)
		}
		forms = append(forms, pw, base64.StdEncoding.EncodeToString([]byte(p.reg.User+":"+pw)), header)
	}
	check := func(where string, b []byte) {
		t.Helper()
		for _, f := range forms {
			if bytes.Contains(b, []byte(f)) {
				t.Fatalf("a registry secret is in %s", where)
			}
		}
	}
	ctx := context.Background()
	list, err := p.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: "default", PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetExecutions()) == 0 {
		t.Fatal("no workflows listed")
	}
	for _, ex := range list.GetExecutions() {
		id, run := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
		it := p.Client.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			b, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			check(fmt.Sprintf("event %d of %s/%s", ev.GetEventId(), id, run), b)
		}
	}
	for _, dep := range deps {
		show, err := exec.Command(itest.TemporalCLI(t), "workflow", "show", "--address", p.Addr, "-w", workflows.ChangeWorkflowID(dep), "-o", "json").Output()
		decoded := withBase64Decoded(t, show)
		if err != nil || !bytes.Contains(decoded, []byte(dep)) {
			t.Fatalf("temporal workflow show: %v\n%s", err, show)
		}
		check("temporal workflow show "+workflows.ChangeWorkflowID(dep), decoded)
	}
	logs, err := os.ReadFile(p.logs)
	if err != nil || len(logs) == 0 {
		t.Fatalf("the worker's log: %v (%d bytes)", err, len(logs))
	}
	check("the worker's log", logs)
	err = filepath.WalkDir(p.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil {
			check(path, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// withBase64Decoded is the Temporal CLI's JSON followed by every string in
// it that decodes as base64 (how it prints payloads), decoded: a secret
// must not pass as "not shown" merely because of the encoding.
func withBase64Decoded(t *testing.T, out []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("temporal workflow show -o json: %v\n%s", err, out)
	}
	all := append([]byte{}, out...)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if b, err := base64.StdEncoding.DecodeString(v); err == nil {
				all = append(append(all, '\n'), b...)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return all
}

// lastAttempt reads the latest run of a workflow's history for an
// activity: the attempt it ended on and the failure it ended with.
func lastAttempt(t *testing.T, s *stack, workflowID, activity string) (int32, *failurepb.Failure) {
	t.Helper()
	it := s.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	scheduled := map[int64]bool{}
	var attempt int32
	var failure *failurepb.Failure
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == activity {
			scheduled[ev.GetEventId()] = true
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] {
			attempt = a.GetAttempt()
		}
		if a := ev.GetActivityTaskFailedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] {
			failure = a.GetFailure()
		}
	}
	if len(scheduled) == 0 {
		t.Fatalf("%s never ran in %s", activity, workflowID)
	}
	return attempt, failure
}

// createPrivate makes a deployment of one scheduler (no worker left
// draining on the old image) with rollbacks on, and alice its editor.
func createPrivate(t *testing.T, m *cliMode, prefix string) string {
	t.Helper()
	dep := itest.UniqueID(prefix)
	itest.RemoveContainers(t, dep)
	m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
	m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
	return dep
}

// Deploys and a rollback from a registry that requires authentication,
// with credentials from the config file's auths, then from a credential
// helper (credHelpers); the rollback's target is no longer on the Engine,
// so its check and its pull by digest go to the registry too.
func TestPrivateRegistryDeployAndRollback(t *testing.T) {
	p := startPrivateStack(t)
	h := testregistry.NewHelper(t, p.reg)
	t.Setenv("PATH", h.Dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	// Long (two credential sources, three changes each): remote only
	// under make test-remote.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		var deps []string
		for _, source := range []string{"auths", "credHelpers"} {
			t.Run(source, func(t *testing.T) {
				m := m.in(t) // failures belong to this subtest
				// The file is read at every registry call: no restart. Each
				// source writes its own, the other half's left behind.
				if source == "credHelpers" {
					p.reg.WriteHelperConfig(t, p.config, false)
				} else {
					p.reg.WriteAuths(t, p.config, p.reg.Password)
				}
				asked := len(h.Calls())
				dep := createPrivate(t, m, "priv")
				deps = append(deps, dep)
				m.mustAs("alice", "deploy", dep, "--image", p.repo+":9.1.0", "--wait")
				m.mustAs("alice", "deploy", dep, "--image", p.repo+":8.0.0", "--wait")
				p.forget(t, "9.1.0")
				m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "back to 9.1.0", "--yes", "--wait")

				revs := m.historyJSON(dep)
				if len(revs) != 3 || revs[0].Status != domain.StatusDeployed || revs[0].RollbackOf != 1 || revs[0].ImageDigest != p.digests["9.1.0"] ||
					revs[1].ImageDigest != p.digests["8.0.0"] || revs[2].ImageDigest != p.digests["9.1.0"] {
					t.Fatalf("history: %+v", revs)
				}
				if st := status(t, "rewind-"+dep+"-scheduler"); st["runtime"] != "9.1.0" {
					t.Fatalf("the scheduler must run 9.1.0 again: %v", st)
				}
				// Two tag pulls, the rollback's check and its pull by digest.
				calls := len(h.Calls()) - asked
				if source == "credHelpers" && calls < 4 || source == "auths" && calls != 0 {
					t.Fatalf("%s: the helper was asked %d times: %q", source, calls, h.Calls())
				}
			})
		}
		p.noSecrets(t, deps, p.reg.Password)
	})
}

// A wrong password changes nothing: a rollback whose target is only in the
// registry is refused at its validation, before any revision is recorded;
// a deploy's revision fails at the pull, in one attempt, before any
// container is touched. Nothing of the password is left anywhere.
func TestPrivateRegistryWrongPasswordChangesNothing(t *testing.T) {
	p := startPrivateStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		// The right password again: the other half left a wrong one.
		p.reg.WriteAuths(t, p.config, p.reg.Password)
		dep := createPrivate(t, m, "wrongpw")
		m.mustAs("alice", "deploy", dep, "--image", p.repo+":9.1.0", "--wait")
		m.mustAs("alice", "deploy", dep, "--image", p.repo+":8.0.0", "--wait")
		p.forget(t, "9.1.0")
		before := containerIDs(t, dep)
		wrong := "wrong-" + testregistry.Random(8)
		p.reg.WriteAuths(t, p.config, wrong)
		refused := func(what string, r result) {
			t.Helper()
			if r.code != ExitRefused || !strings.Contains(r.stderr, "RegistryAuth") || !strings.Contains(r.stderr, p.reg.Addr) {
				t.Fatalf("%s: want a RegistryAuth refusal naming %s, got exit %d %q", what, p.reg.Addr, r.code, r.stderr)
			}
			if after := containerIDs(t, dep); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("%s: the containers must be untouched:\nbefore %v\nafter  %v", what, before, after)
			}
		}

		refused("rollback", m.as("alice", "rollback", dep, "--to", "1", "--description", "needs the registry", "--yes", "--wait"))
		if revs := m.historyJSON(dep); len(revs) != 2 {
			t.Fatalf("a refused rollback records nothing: %+v", revs)
		}
		validated := workflows.ChangeWorkflowID(dep)
		if m.remote {
			// rewind serve runs every rollback's plan first (a dry run,
			// plan/<deployment>/…) so its refusals are synchronous: the
			// registry refuses that validation and the real rollback
			// never starts.
			validated = planRun(t, p.stack, dep)
		}
		// The registry's answer is asked on the deployment's host, by the
		// plan's host step (issue 27): refused there, once, for good.
		if attempt, f := lastAttempt(t, p.stack, validated, "InspectRollback"); attempt != 1 ||
			f.GetApplicationFailureInfo().GetType() != string(domain.RegistryAuth) || !f.GetApplicationFailureInfo().GetNonRetryable() {
			t.Fatalf("validation on the host: attempt %d, failure %v", attempt, f)
		}

		refused("deploy", m.as("alice", "deploy", dep, "--image", p.repo+":9.1.0", "--wait"))
		revs := m.historyJSON(dep)
		if len(revs) != 3 || revs[0].Status != domain.StatusFailed || !strings.Contains(revs[0].FailureReason, "RegistryAuth") ||
			!strings.Contains(revs[0].FailureReason, p.reg.Addr) {
			t.Fatalf("revision 3 must be FAILED with the registry's refusal: %+v", revs[0])
		}
		if d := m.mustRewind("deployment", "show", dep, "-o", "json"); !strings.Contains(d, `"currentRevision": 2`) {
			t.Fatalf("the deployment must stay on revision 2: %s", d)
		}
		if attempt, f := lastAttempt(t, p.stack, workflows.ChangeWorkflowID(dep), "PullImage"); attempt != 1 ||
			f.GetApplicationFailureInfo().GetType() != string(domain.RegistryAuth) || !f.GetApplicationFailureInfo().GetNonRetryable() {
			t.Fatalf("the pull must fail for good in one attempt: attempt %d, failure %v", attempt, f)
		}
		p.noSecrets(t, []string{dep}, p.reg.Password, wrong)
	})
}

// planRun is the id of a deployment's rollback plan (dry run) workflow.
func planRun(t *testing.T, s *stack, dep string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: `WorkflowId STARTS_WITH "` + workflows.PlanWorkflowID(dep, "") + `"`})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetExecutions()) > 0 {
			return resp.GetExecutions()[0].GetExecution().GetWorkflowId()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no rollback plan of %s found", dep)
		}
	}
}
