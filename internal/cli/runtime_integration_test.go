package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// containerIDs maps a deployment's container names to their ids and start
// times, to tell a container that kept running from a replaced one.
func containerIDs(t *testing.T, dep string) map[string]string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-q", "--filter", "label=rewind.deployment="+dep).Output()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, id := range strings.Fields(string(out)) {
		info, err := exec.Command("docker", "inspect", "--format", "{{.Name}} {{.Id}} {{.State.StartedAt}}", id).Output()
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(info))
		m[strings.TrimPrefix(f[0], "/")] = f[1] + " " + f[2]
	}
	return m
}

func TestMissingImageFailsFastAndKeepsTheOldContainers(t *testing.T) {
	s := startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("miss")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		before := containerIDs(t, dep)

		start := time.Now()
		r := m.as("alice", "deploy", dep, "--image", itest.Image(t, "no-such-tag"), "--wait")
		if r.code != ExitRefused || !strings.Contains(r.stderr, "NotFound") {
			t.Fatalf("missing image: exit %d %q", r.code, r.stderr)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Fatalf("a missing image must fail fast, not retry: took %s", took)
		}
		revs := m.historyJSON(dep)
		if revs[0].Number != 2 || revs[0].Status != domain.StatusFailed || !strings.Contains(revs[0].FailureReason, "NotFound") {
			t.Fatalf("revision 2: %+v", revs[0])
		}
		m.recordHistory(s, workflows.ChangeWorkflowID(dep), "deploy-failed")
		if after := containerIDs(t, dep); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("the old containers must keep running untouched:\nbefore %v\nafter  %v", before, after)
		}
	})
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// With the registry down the pull is retried, visibly (attempts and the
// last failure on the pending activity), and the deploy finishes once the
// registry is back.
func TestRegistryDownRetriesVisiblyThenSucceeds(t *testing.T) {
	s := startStack(t)
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	registry := func(verb string) {
		cmd := exec.Command("../../scripts/registry.sh", verb, dir)
		cmd.Env = append(os.Environ(), "REWIND_TEST_REGISTRY="+addr)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("registry %s: %v\n%s", verb, err, out)
		}
	}
	registry("start")
	t.Cleanup(func() { registry("stop") })
	ref := addr + "/flaky/airflow:9.1.0"
	for _, args := range [][]string{{"tag", itest.Image(t, "9.1.0"), ref}, {"push", "-q", ref}, {"rmi", ref}} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
	}

	// Long (the pull retries until the registry is back): remote only
	// under make test-remote. Each half takes the image off the Engine and
	// the registry down again, so its pull must wait for it.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		if out, err := exec.Command("docker", "rmi", ref).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such image") {
			t.Fatalf("docker rmi %s: %v\n%s", ref, err, out)
		}
		registry("stop")
		dep := itest.UniqueID("flaky")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", ref)
		id := workflows.ChangeWorkflowID(dep)
		waitAttempt(t, s, id, "PullImage", 2, false)
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		pa := desc.GetPendingActivities()[0]
		if pa.GetActivityType().GetName() != "PullImage" || pa.GetLastFailure() == nil || !strings.Contains(pa.GetLastFailure().GetMessage(), addr) {
			t.Fatalf("the retry must show its last failure: %+v", pa)
		}
		registry("start")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := s.Client.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil {
			t.Fatalf("the deploy must finish once the registry is back: %v", err)
		}
		if r := m.historyJSON(dep)[0]; r.Status != domain.StatusDeployed || !strings.HasPrefix(r.ImageDigest, "sha256:") {
			t.Fatalf("revision: %+v", r)
		}
	})
}

// A DAG-only deploy swaps `current` under running containers: they see the
// new DAGs without being restarted.
func TestDagOnlyDeployIsSeenWithoutRestart(t *testing.T) {
	s := startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("dags")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "bundle", "--dag-deploy",
			"--component", "scheduler=airflow scheduler", "--component", "dag-processor=airflow dag-processor")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--dags", dagDir(t, "a"), "--wait")
		before := containerIDs(t, dep)
		m.mustAs("alice", "deploy", dep, "--dags", dagDir(t, "b"), "--wait")
		if st := status(t, "rewind-"+dep+"-dag-processor"); st["bundle_version"] != "b" {
			t.Fatalf("the running container must see DAGs b: %v", st)
		}
		if after := containerIDs(t, dep); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("a DAG-only deploy must not restart containers:\nbefore %v\nafter  %v", before, after)
		}
		r := m.historyJSON(dep)[0]
		if r.Type != domain.DeployDAGOnly || r.ImageRef != itest.Image(t, "9.1.0") || !strings.HasPrefix(r.DagBundleDigest, "sha256:") {
			t.Fatalf("revision 2: %+v", r)
		}
		m.recordHistory(s, workflows.ChangeWorkflowID(dep), "deploy-dag-only")
		// Turned off, DAG-only deploys are refused and change nothing.
		m.mustRewind("deployment", "update", dep, "--dag-deploy=false")
		if r := m.as("alice", "deploy", dep, "--dags", dagDir(t, "c")); r.code != ExitRefused || !strings.Contains(r.stderr, "DAG-only deploys are disabled") {
			t.Fatalf("disabled DAG deploys: exit %d %q", r.code, r.stderr)
		}
	})
}

// A rollback whose last step fails for good puts the previous bundle and
// components back, on the real Engine, and marks its revision FAILED.
func TestFailedRollbackIsCompensated(t *testing.T) {
	s := startServer(t)
	// Each half starts its own workers (one healthy, then one failing
	// Verify) and stops them before the next.
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("comp")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "bundle", "--rollback-enabled",
			"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		worker := func(faults string) *app.Running {
			t.Setenv("REWIND_FAULTS", faults)
			cfg, err := config.Load()
			if err != nil {
				t.Fatal(err)
			}
			w, err := app.StartWorker(context.Background(), cfg, itest.QuietSlog())
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		w := worker("")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--dags", dagDir(t, "a"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--dags", dagDir(t, "b"), "--wait")
		w.Stop()
		w = worker("Verify=fail")
		defer w.Stop()

		r := m.as("alice", "rollback", dep, "--to", "1", "--description", "will fail at verify", "--yes", "--wait")
		if r.code != ExitRefused || !strings.Contains(r.stderr, "FaultInjected") {
			t.Fatalf("rollback: exit %d %q", r.code, r.stderr)
		}
		revs := m.historyJSON(dep)
		if revs[0].Number != 3 || revs[0].Status != domain.StatusFailed || !strings.Contains(revs[0].FailureReason, "components put back on revision 2") ||
			!strings.Contains(revs[0].FailureReason, "DAG bundle put back") {
			t.Fatalf("revision 3: %+v", revs[0])
		}
		if st := status(t, "rewind-"+dep+"-scheduler"); st["runtime"] != "8.0.0" || st["bundle_version"] != "b" {
			t.Fatalf("the scheduler must be back on r2 (8.0.0, DAGs b): %v", st)
		}
		d := m.mustRewind("deployment", "show", dep, "-o", "json")
		if !strings.Contains(d, `"currentRevision": 2`) {
			t.Fatalf("the deployment must stay on revision 2: %s", d)
		}
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), workflows.ChangeWorkflowID(dep), "")
		if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_FAILED {
			t.Fatalf("workflow status: %v %v", desc.GetWorkflowExecutionInfo().GetStatus(), err)
		}
		m.recordHistory(s, workflows.ChangeWorkflowID(dep), "rollback-compensated")
	})
}
