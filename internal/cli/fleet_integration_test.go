package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
)

// fleetSetup makes n single-component image deployments, deploys the good
// image to all and the bad one to those bad names, as ops (an editor of
// every one), and grants alice the editor role on all but noGrant. It
// returns the deployments and the bad image's digest.
func fleetSetup(t *testing.T, m *cliMode, n int, bad func(i int) bool, noGrant int) ([]string, string, string) {
	t.Helper()
	prefix := itest.UniqueID("fl")
	deps := []string{}
	var goodDigest, badDigest string
	for i := 0; i < n; i++ {
		dep := prefix + "-" + string(rune('a'+i))
		deps = append(deps, dep)
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "image", "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "ops", "--deployment", dep, "--role", "editor")
		if i != noGrant {
			m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		}
		m.mustAs("ops", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--description", "good base image", "--wait")
		if bad(i) {
			m.mustAs("ops", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--description", "bad base image", "--wait")
		}
		revs := m.historyJSON(dep)
		goodDigest = revs[len(revs)-1].ImageDigest
		if bad(i) {
			badDigest = revs[0].ImageDigest
		}
	}
	if goodDigest == badDigest || badDigest == "" {
		t.Fatalf("the two test images must differ: %s %s", goodDigest, badDigest)
	}
	return deps, goodDigest, badDigest
}

// Issue 30 part 2: 12 deployments, 8 running the bad image; a fleet
// rollback by the bad digest rolls back exactly the 7 alice may roll back,
// reports the eighth refused for lack of permission, and each new revision
// restores the good digest with a description naming the fleet, and is
// recorded as alice's, verified: the worker signed each child of the
// fleet alice's client signed (the test stack's worker makes the data
// directory's signing key).
func TestFleetRollbackByImageDigest(t *testing.T) {
	s := startStack(t)
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		isBad := func(i int) bool { return i < 8 }
		deps, good, bad := fleetSetup(t, m, 12, isBad, 3)

		// Malformed selectors are usage errors (exit 2), before anything.
		for _, args := range [][]string{
			{"--image-digest", "sha256:nothex"},
			{"--image-digest", bad, "--commit", "abcdef0"},
			{"--deployed-between", "yesterday,today"},
			{"--image-digest", bad, "--wave", "rest,1"},
			{"--image-digest", bad, "--parallel", "0"},
		} {
			r := m.as("alice", append([]string{"rollback", "--fleet", "--description", "x", "--yes"}, args...)...)
			if r.code != ExitUsage {
				t.Fatalf("%v: exit %d, want %d: %s", args, r.code, ExitUsage, r.stderr)
			}
		}

		// The plan alone changes nothing.
		plan := m.mustAs("alice", "rollback", "--fleet", "--image-digest", bad, "--deployments", strings.Join(deps, ","),
			"--description", "bad base image", "--dry-run")
		if !strings.Contains(plan, "7 to roll back, 1 refused") || !regexp.MustCompile(deps[3]+`\s+PermissionDenied`).MatchString(plan) {
			t.Fatalf("fleet plan:\n%s", plan)
		}

		out := m.mustAs("alice", "rollback", "--fleet", "--image-digest", bad, "--deployments", strings.Join(deps, ","),
			"--description", "bad base image", "--yes", "--wait", "--parallel", "3")
		fleetID := regexp.MustCompile(`fleet (fleet/\S+): 7 rolled back, 0 failed, 0 not started, 1 refused at plan`).FindStringSubmatch(out)
		if fleetID == nil {
			t.Fatalf("fleet rollback:\n%s", out)
		}
		m.recordHistory(s, fleetID[1], "fleet-rollback")
		for i, dep := range deps {
			revs := m.historyJSON(dep)
			switch {
			case !isBad(i):
				if len(revs) != 1 {
					t.Fatalf("%s never ran the bad image and must be untouched: %+v", dep, revs)
				}
			case i == 3:
				if len(revs) != 2 || revs[0].ImageDigest != bad {
					t.Fatalf("%s was refused and must be untouched: %+v", dep, revs)
				}
			default:
				r := revs[0]
				if len(revs) != 3 || r.Status != domain.StatusDeployed || r.RollbackOf != 1 || r.ImageDigest != good ||
					!strings.Contains(r.Description, "fleet "+strings.TrimPrefix(fleetID[1], "fleet/")+": bad base image") || r.WorkflowID != "change/"+dep ||
					r.CreatedBy != "alice" || !r.RequestedByVerified {
					t.Fatalf("%s: %+v", dep, r)
				}
				if !strings.Contains(out, dep+"  rolled back: revision 3 restores 1") {
					t.Fatalf("the live view must show %s's result:\n%s", dep, out)
				}
			}
		}
	})
}

// Waves stop on failures: the first wave's two rollbacks are refused by
// their own workflows (rollbacks switched off after the plan was
// confirmed), above the 0.5 threshold, so the second wave never starts and
// is reported as not started.
func TestFleetRollbackWavesStopOnFailures(t *testing.T) {
	startStack(t)
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		deps, _, bad := fleetSetup(t, m, 4, func(int) bool { return true }, -1)
		cfg := itest.Config(t)
		st := itest.Store(t, cfg)
		tc := itest.Client(t, cfg)
		ctx := context.Background()
		act := &action.FleetRollback{Config: cfg, Store: st, Temporal: tc, Request: action.FleetRequest{
			Selector: action.FleetSelector{ImageDigest: bad}, Deployments: deps, Description: "bad base image", RequestedBy: "alice",
			Parallel: 2, Waves: []int{2, 0}, MaxFailure: 0.5}}
		plan, err := act.Plan(ctx, time.Minute)
		if err != nil || len(plan.Items) != 4 {
			t.Fatalf("plan: %v %+v", err, plan)
		}
		for _, dep := range deps[:2] {
			m.mustRewind("deployment", "update", dep, "--rollback-enabled=false")
		}
		run, err := act.Run(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		var res action.FleetResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		if res.Count("failed") != 2 || res.Count("not-started") != 2 || !strings.Contains(res.Stopped, "wave 1: 2 of 2") {
			t.Fatalf("fleet result: %+v", res)
		}
		for _, c := range res.Children[:2] {
			if c.ErrorType != string(domain.RollbacksDisabled) {
				t.Fatalf("wave 1 child: %+v", c)
			}
		}
		for _, dep := range deps {
			if revs := m.historyJSON(dep); len(revs) != 2 {
				t.Fatalf("%s: nothing may be recorded: %+v", dep, revs)
			}
		}
	})
}

// A worker SIGKILLed while the fleet's first children run (each swap held
// 3 s before it is reported) is replaced by another; the fleet converges
// with every child rolled back exactly once: one new revision each, under
// change/<deployment>, and no second rollback.
func TestFleetRollbackWorkerKilledConverges(t *testing.T) {
	s := startServer(t)
	bin := itest.BuildWorker(t, "../..")
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		w := itest.StartWorkerProcess(t, bin, "")
		deps, good, bad := fleetSetup(t, m, 6, func(int) bool { return true }, -1)
		w.Kill()
		const faults = "SwapComponents=after:3s"
		w = itest.StartWorkerProcess(t, bin, faults)
		out := m.mustAs("alice", "rollback", "--fleet", "--image-digest", bad, "--deployments", strings.Join(deps, ","),
			"--description", "crash test", "--yes", "--parallel", "2")
		id := regexp.MustCompile(`workflow (fleet/\S+),`).FindStringSubmatch(out)
		if id == nil {
			t.Fatalf("fleet start:\n%s", out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			p, err := action.FleetProgress(ctx, s.Client, id[1], "alice")
			if err == nil && p.Count("running") > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no child started: %+v %v", p, err)
			}
		}
		waitStarted(t, s, "change/"+deps[0], "SwapComponents", 1)
		time.Sleep(1500 * time.Millisecond) // swapped, not yet reported
		w.Kill()
		w = itest.StartWorkerProcess(t, bin, "")
		var res action.FleetResult
		if err := s.Client.GetWorkflow(ctx, id[1], "").Get(ctx, &res); err != nil {
			t.Fatalf("fleet after a crash: %v", err)
		}
		if res.Count("rolled-back") != 6 {
			t.Fatalf("every child must roll back: %+v", res)
		}
		for _, c := range res.Children {
			revs := m.historyJSON(c.DeploymentID)
			if len(revs) != 3 || revs[0].ImageDigest != good || revs[0].RunID != c.RunID || c.WorkflowID != "change/"+c.DeploymentID {
				t.Fatalf("%s: want exactly one rollback, by the fleet's child %s: %+v", c.DeploymentID, c.RunID, revs)
			}
		}
		w.Kill()
	})
}
