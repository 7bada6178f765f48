package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// fixture is a test environment whose activities are the real ones, over a
// fresh SQLite store with deployment d1 (bundle DAGs) and editor alice.
type fixture struct {
	suite testsuite.WorkflowTestSuite
	store *store.Store
	acts  *activities.StoreActivities
	host  *activities.HostActivities // Docker steps are stubbed (dockerStub)
	runs  int
	logs  string // where the NDJSON exporter writes
	// exported holds the events each change handed to its export;
	// incremental those exported as its steps ran.
	exported    [][]eslog.Event
	mu          sync.Mutex
	incremental []eslog.Event
	// docker holds what the stubbed Docker steps are told to do.
	docker *dockerStub
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "rewind.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := domain.Deployment{ID: "d1", Name: "d1", DagSource: domain.DagSourceBundle, DagDeployEnabled: true, Components: domain.DefaultComponents()}
	if err := st.CreateDeployment(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := st.AddGrant(ctx, domain.Grant{User: "alice", DeploymentID: "d1", Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddGrant(ctx, domain.Grant{User: "imogen", DeploymentID: "d1", Permission: "deployment.images.push"}); err != nil {
		t.Fatal(err)
	}
	logs := t.TempDir()
	file, err := eslog.NewFile(logs, "rewind-logs")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{RollbacksEnabled: true, RollbackWindowDays: 90, Host: domain.DefaultHost}
	return &fixture{store: st, logs: logs, acts: &activities.StoreActivities{Store: st, Exporter: file, Config: cfg},
		host: &activities.HostActivities{Store: st, Config: cfg}, docker: &dockerStub{}}
}

func (f *fixture) env() *testsuite.TestWorkflowEnvironment {
	env := f.suite.NewTestWorkflowEnvironment()
	app.Register(env, f.acts, f.host)
	stubDocker(env, f.host, f.docker)
	// The test environment ends with the parent, before an abandoned child
	// runs: keep what the parent hands to its export instead.
	// The incremental exports run after their change returns (nothing
	// waits for them): kept here, not written under a directory the test
	// is about to remove.
	env.OnActivity(f.acts.ExportEvents, mock.Anything, mock.Anything).Return(func(_ context.Context, events []eslog.Event) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.incremental = append(f.incremental, events...)
		return nil
	})
	env.OnWorkflow(workflows.ExportEventsWorkflowName, mock.Anything, mock.Anything).Return(func(_ workflow.Context, events []eslog.Event) (int, error) {
		f.exported = append(f.exported, events)
		return len(events), nil
	})
	// The test environment gives every execution the same run id; distinct
	// workflow ids keep executions apart, as distinct run ids do for real.
	f.runs++
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: fmt.Sprintf("change/d1-test-%d", f.runs)})
	return env
}

func (f *fixture) deploy(t *testing.T, input string) (*workflows.DeployResult, *testsuite.TestWorkflowEnvironment, error) {
	t.Helper()
	env := f.env()
	env.ExecuteWorkflow(workflows.DeployWorkflowName, json.RawMessage(input))
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var res workflows.DeployResult
	err := env.GetWorkflowError()
	if err == nil {
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
	}
	return &res, env, err
}

func errType(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

func (f *fixture) history(t *testing.T) []domain.Revision {
	revs, err := f.store.ListRevisions(context.Background(), "d1", 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	return revs
}

func TestDeployRecordsADeployedRevision(t *testing.T) {
	f := newFixture(t)
	res, env, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"127.0.0.1:5000/airflow:9.1.0","description":"first","requestedBy":"alice","type":"IMAGE_ONLY"}`)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Revision
	if r.Number != 1 || r.Status != domain.StatusDeployed || r.CreatedBy != "alice" || r.ImageRef != "127.0.0.1:5000/airflow:9.1.0" || r.Type != domain.DeployImageOnly {
		t.Fatalf("revision: %+v", r)
	}
	if r.WorkflowID == "" || r.RunID == "" || !r.DagDeployEnabled {
		t.Fatalf("workflow ids and DAG deploy setting must be recorded: %+v", r)
	}
	d, _ := f.store.GetDeployment(context.Background(), "d1")
	if d.CurrentRevision != 1 {
		t.Fatalf("current revision: %d", d.CurrentRevision)
	}
	v, err := env.QueryWorkflow(workflows.ProgressQuery)
	if err != nil {
		t.Fatal(err)
	}
	var p workflows.Progress
	v.Get(&p)
	if p.State != workflows.ChangeDone || p.Revision != 1 || len(p.Steps) != 13 {
		t.Fatalf("progress: %+v", p)
	}
	want := map[string]workflows.StepState{"validate": "done", "record revision": "done", "pull image": "done", "metadata downgrade": "skipped",
		"preflight": "done", "metadata snapshot": "skipped", "stop components": "skipped", "metadata migrate": "done",
		"unpack DAG bundle": "skipped", "swap DAG bundle": "skipped", "swap components": "done", "verify": "done", "mark deployed": "done"}
	for _, s := range p.Steps {
		if s.State != want[s.Name] {
			t.Fatalf("step %s is %s, want %s", s.Name, s.State, want[s.Name])
		}
	}
	if r.ImageDigest == "" || r.RuntimeVersion != "9.1.0" {
		t.Fatalf("the pulled digest and Runtime version must be recorded: %+v", r)
	}
}

func TestDeployBadInputIsRefusedAndRecordsNothing(t *testing.T) {
	long := strings.Repeat("x", 501)
	cases := []struct {
		name, input, want string
	}{
		{"unknown field", `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"alice","revison":3}`, "InvalidInput"},
		{"wrong type", `{"deploymentId":1,"imageRef":"r:1","requestedBy":"alice"}`, "InvalidInput"},
		{"array", `[1,2]`, "InvalidInput"},
		{"empty object", `{}`, "InvalidInput"},
		{"malformed id", `{"deploymentId":"../etc","imageRef":"r:1","requestedBy":"alice"}`, "InvalidInput"},
		{"sql in id", `{"deploymentId":"d1'; DROP TABLE revisions;--","imageRef":"r:1","requestedBy":"alice"}`, "InvalidInput"},
		{"no requester", `{"deploymentId":"d1","imageRef":"r:1"}`, "InvalidInput"},
		{"bad type", `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"alice","type":"EVERYTHING"}`, "InvalidInput"},
		{"no image", `{"deploymentId":"d1","requestedBy":"alice"}`, "InvalidInput"},
		{"bad image", `{"deploymentId":"d1","imageRef":"Not An Image!","requestedBy":"alice"}`, "InvalidInput"},
		{"bad bundle version", `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"alice","dagBundleVersion":"yesterday"}`, "InvalidInput"},
		{"bundle version without digest", `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"alice","dagBundleVersion":"2026-11-22T01:00:00.0000000Z"}`, "InvalidInput"},
		{"bad bundle digest", `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"alice","dagBundleVersion":"2026-11-22T01:00:00.0000000Z","dagBundleDigest":"sha256:../../etc"}`, "InvalidInput"},
		{"description too long", `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"alice","description":"` + long + `"}`, "InvalidInput"},
		{"unknown deployment, no grant on it", `{"deploymentId":"d9","imageRef":"r:1","requestedBy":"alice"}`, "PermissionDenied"},
		{"no permission", `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"mallory"}`, "PermissionDenied"},
		{"bundle without dags.push", `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"imogen","dagBundleVersion":"2026-11-22T01:00:00.0000000Z","dagBundleDigest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`, "PermissionDenied"},
		{"dag only before any image", `{"deploymentId":"d1","requestedBy":"alice","type":"DAG_ONLY","dagBundleVersion":"2026-11-22T01:00:00.0000000Z","dagBundleDigest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`, "InvalidInput"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			_, env, err := f.deploy(t, c.input)
			if errType(err) != c.want {
				t.Fatalf("got %v (type %q), want %s", err, errType(err), c.want)
			}
			var ae *temporal.ApplicationError
			if errors.As(err, &ae) && !ae.NonRetryable() {
				t.Fatal("refusals must be non-retryable")
			}
			if revs := f.history(t); len(revs) != 0 {
				t.Fatalf("a refused deploy recorded %d revisions", len(revs))
			}
			v, _ := env.QueryWorkflow(workflows.ProgressQuery)
			var p workflows.Progress
			v.Get(&p)
			if p.State != workflows.ChangeFailed || p.Steps[0].State != workflows.StepFailed {
				t.Fatalf("progress must show the refusal: %+v", p)
			}
		})
	}
}

func TestSecondChangeIsRefusedWithTheRunningOne(t *testing.T) {
	f := newFixture(t)
	_, err := f.store.CreateRevision(context.Background(), domain.Revision{DeploymentID: "d1", CreatedAt: time.Now(), CreatedBy: "bob",
		Type: domain.DeployImageAndDAG, ImageRef: "r:1", WorkflowID: "change/d1", RunID: "other-run"})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.deploy(t, `{"deploymentId":"d1","imageRef":"r:2","requestedBy":"alice"}`)
	if errType(err) != "ChangeInProgress" || !strings.Contains(err.Error(), "change/d1") || !strings.Contains(err.Error(), "other-run") {
		t.Fatalf("want ChangeInProgress naming the running workflow, got %v", err)
	}
	if revs := f.history(t); len(revs) != 1 {
		t.Fatalf("the refused change must record nothing: %d revisions", len(revs))
	}
}

func TestPartialDeploysKeepTheOtherHalf(t *testing.T) {
	f := newFixture(t)
	const v1, v2 = "2026-11-20T10:00:00.0000000Z", "2026-11-21T10:00:00.0000000Z"
	digest := `"dagBundleDigest":"sha256:` + strings.Repeat("b", 64) + `"`
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"alice","dagBundleVersion":"`+v1+`",`+digest+`}`); err != nil {
		t.Fatal(err)
	}
	res, _, err := f.deploy(t, `{"deploymentId":"d1","requestedBy":"alice","type":"DAG_ONLY","dagBundleVersion":"`+v2+`",`+digest+`}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision.ImageRef != "r:1" || res.Revision.DagBundleVersion != v2 {
		t.Fatalf("DAG_ONLY must keep the image: %+v", res.Revision)
	}
	// SPEC §3's synopsis: DAG_ONLY with --image naming the current image is
	// accepted; naming another image is refused and records nothing.
	const v3 = "2026-11-22T10:00:00.0000000Z"
	if res, _, err = f.deploy(t, `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"alice","type":"DAG_ONLY","dagBundleVersion":"`+v3+`",`+digest+`}`); err != nil || res.Revision.ImageRef != "r:1" {
		t.Fatalf("DAG_ONLY naming the current image: %+v %v", res.Revision, err)
	}
	before := len(f.history(t))
	if _, _, err = f.deploy(t, `{"deploymentId":"d1","imageRef":"r:9","requestedBy":"alice","type":"DAG_ONLY","dagBundleVersion":"`+v3+`",`+digest+`}`); errType(err) != "InvalidInput" || !strings.Contains(err.Error(), "keeps the current image r:1") {
		t.Fatalf("DAG_ONLY naming another image: %v", err)
	}
	if len(f.history(t)) != before {
		t.Fatal("a refused DAG_ONLY deploy recorded a revision")
	}
	res, _, err = f.deploy(t, `{"deploymentId":"d1","imageRef":"r:2","requestedBy":"alice","type":"IMAGE_ONLY"}`)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision.ImageRef != "r:2" || res.Revision.DagBundleVersion != v3 {
		t.Fatalf("IMAGE_ONLY must keep the bundle: %+v", res.Revision)
	}
}
