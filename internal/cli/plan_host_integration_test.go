package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// Issue 27 item 1: a rollback's plan is computed on the deployment's host.
// Two Engines, a worker on each (both also poll the shared queue, so either
// may take a store step): (1) confirmed rollbacks of a host-b deployment,
// each a dry run and then the real run carrying its digest, as `rewind
// rollback --yes` does, are never refused PlanChanged, although the workers
// to drain are part of the digest and only b's Engine lists them; (2) with
// the registry down, rollbacks to images cached on b complete (host a never
// pulled them). Before the fix a plan computed on a listed no workers, so
// about half the confirmed runs were refused, and an image check on a
// failed against the stopped registry and was retried (for up to an hour
// when it kept landing on a).
func TestRollbackPlansOnTheDeploymentsHost(t *testing.T) {
	h := &twoHosts{s: startServer(t)}
	// Bridges and subnets of their own: the two-host test may run beside.
	h.a = startDockerHost(t, "a", "rwplana0", "169.254.236.1/24")
	h.b = startDockerHost(t, "b", "rwplanb0", "169.254.237.1/24")
	t.Setenv("REWIND_DATABASE_URL", "sqlite://"+filepath.Join(t.TempDir(), "rewind.db"))
	t.Setenv("REWIND_BUNDLE_ROOT", t.TempDir())
	h.dataA, h.dataB = t.TempDir(), t.TempDir()
	h.bin = itest.BuildWorker(t, "../..")
	startHostWorker(t, h.bin, h.a, h.dataA)
	startHostWorker(t, h.bin, h.b, h.dataB)
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		t.Run("confirmed rollbacks agree with their plans", func(t *testing.T) {
			m := m.in(t)
			// Same versions, other digests: no downgrade, no migration, only
			// the image and the workers to drain change.
			dep := newHostBDeployment(t, m, itest.Image(t, "9.1.0"), itest.Image(t, "9.1.0-healthcheck"))
			start, n, refused := time.Now(), 20, map[string]int{}
			for i := 0; i < n; i++ {
				to := 1 + i%2 // revision 2 is current first
				if err := confirmedRollback(t, m, h, dep, to); err != nil {
					var ae *temporal.ApplicationError
					if !errors.As(err, &ae) {
						t.Fatalf("rollback %d to %d: %v", i+1, to, err)
					}
					refused[ae.Type()]++
					t.Logf("rollback %d to %d refused: %v", i+1, to, err)
				}
			}
			t.Logf("%d confirmed rollbacks of a host-b deployment, workers on a and b: refused %v, in %s", n, refused, time.Since(start).Round(time.Second))
			if len(refused) > 0 {
				t.Fatalf("%d confirmed rollbacks: none may be refused, got %v (PlanChanged: the plan depended on the worker that computed it)", n, refused)
			}
			// Not agreement by listing nothing: every plan names b's worker.
			var plan workflows.RollbackResult
			out := m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "plan only", "--dry-run", "--output", "json")
			if err := json.Unmarshal([]byte(out), &plan); err != nil {
				t.Fatal(err)
			}
			if p := plan.Plan; fmt.Sprint(p.WorkersDrained) != "[rewind-"+dep+"-worker]" || !strings.Contains(p.TargetImageOn, "host b") {
				t.Fatalf("the plan must list the worker running on b and say b holds the image: drained %v, image on %q", p.WorkersDrained, p.TargetImageOn)
			}
		})
		t.Run("the registry down, rollbacks to images cached on b complete", func(t *testing.T) {
			m := m.in(t)
			reg := startPrivateRegistry(t)
			var refs []string
			for _, tag := range []string{"9.1.0", "9.1.0-healthcheck"} {
				ref := reg.addr + "/plan/airflow:" + tag
				for _, args := range [][]string{{"tag", itest.Image(t, tag), ref}, {"push", "-q", ref}, {"rmi", ref}} {
					if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
						t.Fatalf("docker %v: %v\n%s", args, err, out)
					}
				}
				refs = append(refs, ref)
			}
			dep := newHostBDeployment(t, m, refs...)
			reg.run("stop")
			// Each plan and each run has its store steps on either worker.
			// Before the fix a check on a failed (the registry is down) and
			// was retried, until it landed on b or for up to an hour: no
			// plan step may have needed a second attempt. Four rollbacks
			// (eight plans) would all land on b by luck 1 time in 256.
			start := time.Now()
			var runs []string
			for i := 0; i < 4; i++ {
				to := 1 + i%2
				run, err := confirmedRollbackRun(t, m, h, dep, to)
				if err != nil {
					t.Fatalf("rollback %d to %d with the registry down: %v", i+1, to, err)
				}
				runs = append(runs, run)
			}
			t.Logf("4 rollbacks to images cached on b with the registry down in %s", time.Since(start).Round(time.Second))
			var retried []string
			for _, run := range append(runs, planRuns(t, h, dep)...) {
				retried = append(retried, retriedPlanSteps(t, h, run)...)
			}
			if len(retried) > 0 {
				t.Fatalf("with the image cached on b no plan step may wait for the registry; retried: %v", retried)
			}
			if out := h.a.docker(t, "images", "--format", "{{.Repository}}"); strings.Contains(out, reg.addr) {
				t.Fatalf("host a must never have had the images: %s", out)
			}
		})
	})
}

// newHostBDeployment creates a deployment on host b with a scheduler and a
// worker, deploys each image in turn (revisions 1, 2, …) and returns its id.
func newHostBDeployment(t *testing.T, m *cliMode, images ...string) string {
	t.Helper()
	dep := itest.UniqueID("plan")
	m.mustRewind("deployment", "create", dep, "--host", "b", "--dag-source", "image", "--rollback-enabled",
		"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
	m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
	for _, img := range images {
		m.mustAs("alice", "deploy", dep, "--image", img, "--wait")
	}
	return dep
}

// confirmedRollback runs `rewind rollback --yes` (a dry run on whichever
// worker takes it, then the real run carrying its plan: R15) and waits for
// the real run's outcome.
func confirmedRollback(t *testing.T, m *cliMode, h *twoHosts, dep string, to int) error {
	t.Helper()
	_, err := confirmedRollbackRun(t, m, h, dep, to)
	return err
}

// confirmedRollbackRun is confirmedRollback that also returns the real
// run as "workflow id/run id".
func confirmedRollbackRun(t *testing.T, m *cliMode, h *twoHosts, dep string, to int) (string, error) {
	t.Helper()
	out := m.mustAs("alice", "rollback", dep, "--to", fmt.Sprint(to), "--description", fmt.Sprintf("back to %d", to), "--yes", "--output", "json")
	var run struct{ WorkflowID, RunID string }
	if err := json.Unmarshal([]byte(out), &run); err != nil || run.RunID == "" {
		t.Fatalf("rollback --yes -o json: %q %v", out, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var res workflows.RollbackResult
	id := run.WorkflowID + "/" + run.RunID
	if err := h.s.Client.GetWorkflow(ctx, run.WorkflowID, run.RunID).Get(ctx, &res); err != nil {
		return id, err
	}
	if res.Revision == nil || res.Revision.Status != domain.StatusDeployed || res.Revision.RollbackOf != to {
		t.Fatalf("rollback to %d: %+v", to, res.Revision)
	}
	return id, nil
}

// planRuns lists the dry runs of dep (plan/<dep>/…) as "id/run id".
func planRuns(t *testing.T, h *twoHosts, dep string) []string {
	t.Helper()
	resp, err := h.s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: `WorkflowId STARTS_WITH "` + workflows.PlanWorkflowID(dep, "") + `"`})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range resp.Executions {
		out = append(out, e.GetExecution().GetWorkflowId()+"/"+e.GetExecution().GetRunId())
	}
	if len(out) == 0 {
		t.Fatalf("no dry run of %s found", dep)
	}
	return out
}

// retriedPlanSteps names the plan steps of a run ("id/run id") that needed
// more than one attempt.
func retriedPlanSteps(t *testing.T, h *twoHosts, run string) []string {
	t.Helper()
	i := strings.LastIndex(run, "/") // plan ids hold slashes themselves
	id, runID := run[:i], run[i+1:]
	it := h.s.Client.GetWorkflowHistory(context.Background(), id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	types, retried := map[int64]string{}, []string{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			types[ev.GetEventId()] = a.GetActivityType().GetName()
		}
		a := ev.GetActivityTaskStartedEventAttributes()
		if a == nil || a.GetAttempt() <= 1 {
			continue
		}
		switch typ := types[a.GetScheduledEventId()]; typ {
		case "ValidateRollback", "InspectRollback", "ConfirmRollbackPlan":
			retried = append(retried, fmt.Sprintf("%s of %s: attempt %d (last failure: %s)", typ, id, a.GetAttempt(), a.GetLastFailure().GetMessage()))
		}
	}
	return retried
}

// privateRegistry is a registry of the test's own (scripts/registry.sh on
// a free port), so stopping it disturbs no other test.
type privateRegistry struct {
	t         *testing.T
	dir, addr string
}

func startPrivateRegistry(t *testing.T) *privateRegistry {
	r := &privateRegistry{t: t, dir: t.TempDir(), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	r.run("start")
	t.Cleanup(func() { r.run("stop") })
	return r
}

func (r *privateRegistry) run(verb string) {
	r.t.Helper()
	cmd := exec.Command("../../scripts/registry.sh", verb, r.dir)
	cmd.Env = append(os.Environ(), "REWIND_TEST_REGISTRY="+r.addr)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("registry %s: %v\n%s", verb, err, out)
	}
}
