package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// actOnRead answers the confirmation prompt after doing something first —
// what happens between a person reading the plan and typing the id.
type actOnRead struct {
	once   sync.Once
	act    func()
	answer *strings.Reader
}

func (r *actOnRead) Read(p []byte) (int, error) {
	r.once.Do(r.act)
	return r.answer.Read(p)
}

// R15: a deploy lands between the plan and its confirmation; the confirmed
// rollback is refused with PlanChanged and changes nothing.
func TestDeployBetweenPlanAndConfirmationIsPlanChanged(t *testing.T) {
	startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("plan")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait")

		var afterDeploy map[string]string
		stdin := &actOnRead{answer: strings.NewReader(dep + "\n"), act: func() {
			// Someone deploys while the plan is on the screen: the rollback
			// would now start from 8.0.0, not from the build that was confirmed.
			m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")
			afterDeploy = containerIDs(t, dep)
		}}
		var out, errb bytes.Buffer
		args, done := m.argsAs("alice", "rollback", dep, "--to", "1", "--description", "the healthcheck build broke", "--wait")
		code := Run(context.Background(), args, stdin, &out, &errb)
		done()
		if code != ExitRefused || !strings.Contains(errb.String(), "PlanChanged") || !strings.Contains(errb.String(), "now 3, not 2") {
			t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
		}
		if !strings.Contains(out.String(), "Plan sha256:") || !strings.Contains(out.String(), "workers drained") {
			t.Fatalf("the plan shown must be the upgrade that was confirmed:\n%s", out.String())
		}
		revs := m.historyJSON(dep)
		if len(revs) != 3 || revs[0].Number != 3 || revs[0].ImageRef != itest.Image(t, "8.0.0") {
			t.Fatalf("a refused confirmation must record nothing: %+v", revs)
		}
		now := containerIDs(t, dep)
		for _, c := range []string{"rewind-" + dep + "-scheduler", "rewind-" + dep + "-worker"} {
			if now[c] == "" || now[c] != afterDeploy[c] {
				t.Fatalf("a refused confirmation must touch no container: %s %q → %q", c, afterDeploy[c], now[c])
			}
		}
		// Shown again and confirmed again, the new plan (8.0.0 → 9.1.0) runs.
		r := m.asWithInput("alice", dep+"\n", "rollback", dep, "--to", "1", "--description", "the healthcheck build broke", "--wait")
		if r.code != 0 || !strings.Contains(r.out, "revision 4 restores revision 1") {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.out, r.stderr)
		}
	})
}

// R15: a dry run holds no lock, so a plan someone is reading — or a client
// looping dry runs — never makes the real rollback fail with
// ChangeInProgress.
func TestDryRunInProgressDoesNotBlockARealRollback(t *testing.T) {
	s := startServer(t)
	cfg := itest.Config(t)
	// The rollbacks start through internal/action, the code under both
	// paths, with no worker to run the plan; the CLI sets the deployment
	// up, in each mode.
	eachMode(t, func(t *testing.T, m *cliMode) {
		w, err := startWorker(cfg)
		if err != nil {
			t.Fatal(err)
		}
		dep := itest.UniqueID("dry")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")
		w.Stop() // the plan stays in progress: no worker runs it

		st, tc := itest.Store(t, cfg), itest.Client(t, cfg)
		in := workflows.RollbackInput{DeploymentID: dep, Revision: 1, Description: "read the plan first", RequestedBy: "alice", DryRun: true}
		plan, err := (&action.Rollback{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plan.GetID(), "plan/"+dep+"/") {
			t.Fatalf("a dry run must not run under the change id: %s", plan.GetID())
		}
		in.DryRun = false
		real, err := (&action.Rollback{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(context.Background())
		if err != nil {
			t.Fatalf("a plan in progress blocked the real rollback: %v", err)
		}
		for _, id := range []string{plan.GetID(), real.GetID()} {
			desc, err := s.Client.DescribeWorkflowExecution(context.Background(), id, "")
			if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				t.Fatalf("%s should be running side by side: %v %v", id, desc.GetWorkflowExecutionInfo().GetStatus(), err)
			}
		}
		itest.StartWorker(t)
		var res workflows.RollbackResult
		if err := real.Get(context.Background(), &res); err != nil || res.Revision == nil || res.Revision.Number != 3 {
			t.Fatalf("the real rollback: %+v %v", res.Revision, err)
		}
		var dry workflows.RollbackResult
		if err := plan.Get(context.Background(), &dry); err != nil || !dry.DryRun {
			t.Fatalf("the plan: %+v %v", dry, err)
		}
	})
}

// R17: the stored configuration is what runs. An environment update
// reaches the containers at the next deploy, stays through a rollback to a
// revision from before it (R5), and --apply puts it on them now, through
// the change lock, without a revision.
func TestStoredConfigurationReachesTheContainers(t *testing.T) {
	s := startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("cfg")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--env", "REWIND_TEST_TASK_SECONDS=1",
			"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		sched := "rewind-" + dep + "-scheduler"

		out := m.mustRewind("deployment", "update", dep, "--env", "ROLLOUT_FLAG=on")
		if !strings.Contains(out, "next deploy or rollback") || strings.Contains(containerEnv(t, sched), "ROLLOUT_FLAG") {
			t.Fatalf("an update takes effect at the next change, and says so: %q", out)
		}
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")
		for _, c := range []string{sched, "rewind-" + dep + "-worker"} {
			if env := containerEnv(t, c); !strings.Contains(env, "ROLLOUT_FLAG=on\n") || !strings.Contains(env, "ASTRONOMER_RUNTIME_VERSION=8.0.0") {
				t.Fatalf("%s after the deploy:\n%s", c, env)
			}
		}
		res := m.rollbackJSON(dep, "--to", "1", "--description", "before the flag")
		if res.Revision.Number != 3 || !strings.Contains(containerEnv(t, sched), "ROLLOUT_FLAG=on\n") {
			t.Fatalf("a rollback keeps the current stored configuration, never the target's (R5, R17): %+v\n%s", res.Revision, containerEnv(t, sched))
		}

		before := containerIDs(t, dep)
		// Settings are administration (system.admin through rewind serve),
		// applying them a change, the editor's.
		m.mustRewind("deployment", "update", dep, "--env", "SECOND=2", "--unset-env", "ROLLOUT_FLAG")
		out = m.mustAs("alice", "deployment", "update", dep, "--apply", "--wait")
		if !strings.Contains(out, "run the stored configuration") {
			t.Fatalf("update --apply: %s", out)
		}
		env := containerEnv(t, sched)
		if !strings.Contains(env, "SECOND=2\n") || strings.Contains(env, "ROLLOUT_FLAG") || !strings.Contains(env, "ASTRONOMER_RUNTIME_VERSION=9.1.0") {
			t.Fatalf("after --apply:\n%s", env)
		}
		after := containerIDs(t, dep)
		if after[sched] == "" || after[sched] == before[sched] || len(m.historyJSON(dep)) != 3 {
			t.Fatalf("--apply recreates the containers and records no revision: %v → %v, %d revisions", before, after, len(m.historyJSON(dep)))
		}
		if st, _ := stateOf("rewind-" + dep + "-worker"); st != "running" {
			t.Fatalf("worker after --apply: %s", st)
		}
		m.recordHistory(s, workflows.ChangeWorkflowID(dep), "apply-config")
		// Applying again with nothing new changes nothing.
		m.mustAs("alice", "deployment", "update", dep, "--apply", "--wait")
		if again := containerIDs(t, dep); again[sched] != after[sched] {
			t.Fatalf("a second --apply replaced the scheduler: %v → %v", after[sched], again[sched])
		}
		// --apply goes through R10 and the change lock like a deploy.
		if r := m.as("mallory", "deployment", "update", dep, "--apply", "--wait"); r.code != ExitRefused || !strings.Contains(r.stderr, "PermissionDenied") {
			t.Fatalf("mallory: exit %d %s", r.code, r.stderr)
		}
	})
}
