package cli

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// waitStarted waits until the workflow's activity of that name is running
// an attempt numbered at least minAttempt, and returns the attempt.
func waitStarted(t *testing.T, s *stack, workflowID, activity string, minAttempt int32) int32 {
	return waitAttempt(t, s, workflowID, activity, minAttempt, true)
}

// waitAttempt is waitStarted without requiring the attempt to be running: an
// activity that fails at once spends its time waiting out the backoff.
func waitAttempt(t *testing.T, s *stack, workflowID, activity string, minAttempt int32, running bool) int32 {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), workflowID, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetActivityType().GetName() == activity && (!running || pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED) && pa.GetAttempt() >= minAttempt {
				return pa.GetAttempt()
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s of %s never started attempt %d", activity, workflowID, minAttempt)
	return 0
}

// A worker SIGKILLed after pulling (before reporting it) and again after
// swapping the components (before reporting it) is replaced by a new one;
// the rollback still ends with one new DEPLOYED revision and exactly one
// container per component.
func TestWorkerKilledDuringPullAndSwapConverges(t *testing.T) {
	s := startServer(t)
	bin := itest.BuildWorker(t, "../..")
	// Long (worker processes killed and restarted): remote only under
	// make test-remote.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("crash")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--env", "REWIND_TEST_TASK_SECONDS=1",
			"--component", "scheduler=airflow scheduler", "--component", "triggerer=airflow triggerer", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		w := itest.StartWorkerProcess(t, bin, "")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")
		w.Kill()

		const faults = "PullImage=after:3s,SwapComponents=after:3s"
		w = itest.StartWorkerProcess(t, bin, faults)
		id := workflows.ChangeWorkflowID(dep)
		m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "crash test", "--yes")

		waitStarted(t, s, id, "PullImage", 1)
		time.Sleep(1500 * time.Millisecond) // pulled, not yet reported
		w.Kill()
		w = itest.StartWorkerProcess(t, bin, faults)
		if a := waitStarted(t, s, id, "PullImage", 2); a < 2 {
			t.Fatalf("the pull must be retried after the crash, attempt %d", a)
		}
		waitStarted(t, s, id, "SwapComponents", 1)
		time.Sleep(1500 * time.Millisecond) // swapped, not yet reported
		w.Kill()
		w = itest.StartWorkerProcess(t, bin, "")

		var res workflows.RollbackResult
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if err := s.Client.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
			t.Fatalf("rollback after two crashes: %v", err)
		}

		revs := m.historyJSON(dep)
		if len(revs) != 3 || revs[0].Status != domain.StatusDeployed || revs[0].RollbackOf != 1 || revs[0].ImageDigest != revs[2].ImageDigest {
			t.Fatalf("want exactly one new DEPLOYED revision restoring r1: %+v", revs)
		}
		out, err := exec.Command("docker", "ps", "-a", "--filter", "label=rewind.deployment="+dep, "--format", "{{.Names}} {{.State}}").Output()
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(line)
			if strings.HasSuffix(f[0], "-next") {
				t.Fatalf("a half-finished replacement was left: %s", line)
			}
			for _, comp := range []string{"scheduler", "triggerer", "worker"} {
				if f[0] == "rewind-"+dep+"-"+comp {
					count[comp]++
					img, _ := exec.Command("docker", "inspect", "--format", "{{.Config.Image}}", f[0]).Output()
					if f[1] != "running" || !strings.Contains(string(img), revs[2].ImageDigest) {
						t.Fatalf("%s should run r1's image %s: %s (%s)", comp, revs[2].ImageDigest, line, img)
					}
				}
			}
		}
		for _, comp := range []string{"scheduler", "triggerer", "worker"} {
			if count[comp] != 1 {
				t.Fatalf("component %s has %d containers:\n%s", comp, count[comp], out)
			}
		}
	})
}
