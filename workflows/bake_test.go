package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

func storeDecision(run, digest string) store.BakeDecision {
	return store.BakeDecision{BakeRunID: run, DeploymentID: "d1", InputDigest: digest, EnabledBy: "alice", DecidedAt: time.Now()}
}

// The bake loop of issue 27 with its three activities scripted: the change
// checks (BakeState), the host probe, and the start of the rollback. The
// probes against a real Engine are in internal/cli and internal/faults.
type bakeScript struct {
	states   func(n int) activities.BakeState // n counts BakeState calls from 1
	probes   func(n int) (activities.ProbeResult, error)
	nState   int
	nProbe   int
	started  []activities.AutomaticRollback
	requests []activities.ProbeRequest
}

func (f *fixture) bake(t *testing.T, in activities.BakeRequest, s *bakeScript) (*workflows.BakeResult, error, *testsuite.TestWorkflowEnvironment) {
	t.Helper()
	env := f.env()
	env.OnActivity(f.acts.BakeState, mock.Anything, mock.Anything).Return(func(context.Context, activities.BakeStateRequest) (activities.BakeState, error) {
		s.nState++
		if s.states == nil {
			return activities.BakeState{Current: true, ChangeRun: "deploy-run"}, nil
		}
		return s.states(s.nState), nil
	})
	env.OnActivity(f.host.Probe, mock.Anything, mock.Anything).Return(func(_ context.Context, req activities.ProbeRequest) (activities.ProbeResult, error) {
		s.nProbe++
		s.requests = append(s.requests, req)
		return s.probes(s.nProbe)
	})
	env.OnActivity(f.acts.StartAutomaticRollback, mock.Anything, mock.Anything).Return(func(_ context.Context, ar activities.AutomaticRollback) (string, error) {
		s.started = append(s.started, ar)
		return "change/d1 run-1", nil
	})
	env.ExecuteWorkflow(workflows.BakeWorkflowName, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("bake did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		return nil, err, env
	}
	var res workflows.BakeResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return &res, nil, env
}

func bakeOf(period time.Duration, failures int) activities.BakeRequest {
	return activities.BakeRequest{DeploymentID: "d1", Revision: 3, Previous: 2, Baseline: -1,
		Settings: domain.AutoRollback{Enabled: true, BakePeriod: period, Interval: time.Second, Failures: failures}}
}

func restarting(int) (activities.ProbeResult, error) {
	return activities.ProbeResult{Current: true, Healthy: false, ImportErrors: -1,
		Evidence: "scheduler is restarting: exit code 1, 3 restarts; last output:\nscheduler: crashed", Restarts: map[string]int{"c1": 3}}, nil
}

func healthy(int) (activities.ProbeResult, error) {
	return activities.ProbeResult{Current: true, Healthy: true, Restarts: map[string]int{"c1": 0}}, nil
}

// Item 8 and 9: failed probes in a row roll back, and the rollback carries
// the revision it judged; a change that lands between the judgement and
// the rollback's plan gets it refused PlanChanged, with nothing recorded.
func TestBakeRollbackIsPinnedToTheJudgedRevision(t *testing.T) {
	f := threeDeploys(t)
	s := &bakeScript{probes: restarting}
	res, err, _ := f.bake(t, bakeOf(time.Minute, 2), s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "rolled-back" || res.Probes != 2 || !strings.Contains(res.Evidence, "is restarting") || len(s.started) != 1 {
		t.Fatalf("two failed probes in a row must roll back: %+v, %d started", res, len(s.started))
	}
	ar := s.started[0]
	var in workflows.RollbackInput
	if err := json.Unmarshal(ar.Input, &in); err != nil {
		t.Fatal(err)
	}
	if in.ExpectedCurrentRevision != 3 || in.Revision != 2 || ar.InputDigest != in.Digest() {
		t.Fatalf("the automatic rollback must be pinned to revision 3: %+v (digest %s, want %s)", in, ar.InputDigest, in.Digest())
	}
	// Authorise it as StartAutomaticRollback would, then let a person's
	// deploy land first.
	ctx := context.Background()
	d, _ := f.store.GetDeployment(ctx, "d1")
	d.AutoRollback = &domain.AutoRollback{Enabled: true, BakePeriod: time.Minute, Interval: time.Second, Failures: 2, EnabledBy: "alice"}
	if err := f.store.UpdateDeploymentSettings(ctx, d); err != nil {
		t.Fatal(err)
	}
	decide := func() {
		if err := f.store.RecordBakeDecision(ctx, storeDecision("bake-"+time.Now().Format(time.RFC3339Nano), ar.InputDigest)); err != nil {
			t.Fatal(err)
		}
	}
	decide()
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","description":"r4, landed in between"`+bundleArgs(v1)+`}`); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.rollback(t, string(ar.Input))
	if errType(err) != "PlanChanged" || !strings.Contains(err.Error(), "current revision is now 4, not 3") {
		t.Fatalf("an automatic rollback judged on revision 3 must be refused once 4 landed: %v", err)
	}
	if revs := f.history(t); len(revs) != 4 || revs[0].Number != 4 {
		t.Fatalf("the refused rollback recorded something: %+v", revs)
	}
	// Without the pin (a bake from before issue 27) the same decision
	// would have rolled back revision 4, which nobody judged.
	in.ExpectedCurrentRevision = 0
	unpinned, _ := json.Marshal(in)
	ar.InputDigest = in.Digest()
	decide()
	if res, _, err := f.rollback(t, string(unpinned)); err != nil || res.Revision.Number != 5 {
		t.Fatalf("control: the unpinned rollback: %+v, %v", res, err)
	}
}

// Item 8: while another change runs (or a swap is half-done), what a probe
// sees is that change's doing: not judged, neither counted nor resetting,
// and a bake whose last probes were not judged does not pass.
func TestBakeDoesNotJudgeProbesDuringAnotherChange(t *testing.T) {
	f := threeDeploys(t)
	s := &bakeScript{probes: restarting, states: func(n int) activities.BakeState {
		return activities.BakeState{Current: true, ChangeRun: "rollback-run", OtherChange: "change/d1 (RollbackWorkflow, run rollback-run) is running"}
	}}
	res, err, _ := f.bake(t, bakeOf(5*time.Second, 2), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.started) != 0 || res.Outcome != "inconclusive" || res.Probes < 4 {
		t.Fatalf("probes during another change must not be judged: %+v, %d rollbacks", res, len(s.started))
	}
	// A change that starts while the probe runs: the check before was
	// clean, the one after names another run. Probe 2 fails after probe 1
	// failed, but is not judged: no rollback after "two" failures.
	s = &bakeScript{probes: restarting, states: func(n int) activities.BakeState {
		// Probe 1: calls 1 (before) and 2 (after); probe 2: 3 and 4.
		if n == 4 {
			return activities.BakeState{Current: true, ChangeRun: "config-run"} // a configuration change came and went
		}
		return activities.BakeState{Current: true, ChangeRun: "deploy-run"}
	}}
	res, err, _ = f.bake(t, bakeOf(2*time.Second, 2), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.started) != 0 || res.Outcome != "inconclusive" {
		t.Fatalf("a failed probe while a change came and went must not count: %+v, %d rollbacks", res, len(s.started))
	}
	// A swap left half-done (a -next container) is not judged either.
	s = &bakeScript{probes: func(int) (activities.ProbeResult, error) {
		p, _ := restarting(0)
		p.SwapInProgress = true
		return p, nil
	}}
	if res, err, _ = f.bake(t, bakeOf(5*time.Second, 2), s); err != nil || len(s.started) != 0 || res.Outcome != "inconclusive" {
		t.Fatalf("a swap in progress: %+v, %v, %d rollbacks", res, err, len(s.started))
	}
}

// Item 9: probes that could not run (the Engine unreachable past the
// probe's retries) never make a bake pass.
func TestBakeNeverPassesOnProbesThatCouldNotRun(t *testing.T) {
	f := threeDeploys(t)
	s := &bakeScript{probes: func(n int) (activities.ProbeResult, error) {
		if n == 1 {
			return healthy(n)
		}
		return activities.ProbeResult{}, temporal.NewNonRetryableApplicationError("docker daemon unreachable", "Stub", nil)
	}}
	res, err, _ := f.bake(t, bakeOf(3*time.Second, 2), s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "inconclusive" || !strings.Contains(res.Evidence, "could not run") {
		t.Fatalf("a bake whose last probes could not run passed: %+v", res)
	}
	s = &bakeScript{probes: healthy}
	if res, err, _ = f.bake(t, bakeOf(3*time.Second, 2), s); err != nil || res.Outcome != "passed" || res.Probes != 3 {
		t.Fatalf("control: healthy probes pass: %+v, %v", res, err)
	}
	// The restart counts one probe saw are what the next compares with.
	if len(s.requests) != 3 || s.requests[0].Restarts != nil || s.requests[1].Restarts["c1"] != 0 || len(s.requests[2].Restarts) != 1 {
		t.Fatalf("restart counts not handed on: %+v", s.requests)
	}
}

// Item 8: any change ends the bake — a newer revision in any state (here a
// person's rollback that failed and was compensated, so the current
// revision did not even change) — read from the store by BakeState.
func TestBakeStateEndsOnAnyChange(t *testing.T) {
	f := threeDeploys(t)
	ctx := context.Background()
	st, err := f.acts.BakeState(ctx, activities.BakeStateRequest{DeploymentID: "d1", Revision: 3})
	if err != nil || !st.Current {
		t.Fatalf("revision 3 is current and newest: %+v, %v", st, err)
	}
	f.docker.failAt = "SwapComponents"
	if _, _, err := f.rollback(t, `{"deploymentId":"d1","revision":2,"description":"a person's rollback","requestedBy":"alice"}`); err == nil {
		t.Fatal("the stubbed swap was to fail")
	}
	if d, _ := f.store.GetDeployment(ctx, "d1"); d.CurrentRevision != 3 {
		t.Fatalf("the failed rollback moved the current revision: %d", d.CurrentRevision)
	}
	st, err = f.acts.BakeState(ctx, activities.BakeStateRequest{DeploymentID: "d1", Revision: 3})
	if err != nil || st.Current || !strings.Contains(st.Evidence, "revision 4 (a rollback by alice") {
		t.Fatalf("a person's rollback must end the bake of revision 3: %+v, %v", st, err)
	}
	s := &bakeScript{probes: restarting, states: func(int) activities.BakeState { return st }}
	res, err, _ := f.bake(t, bakeOf(time.Minute, 1), s)
	if err != nil || res.Outcome != "ended" || s.nProbe != 0 || len(s.started) != 0 {
		t.Fatalf("the bake must end before probing: %+v, %v, %d probes", res, err, s.nProbe)
	}
}

// Item 8: the bake continues as new every ProbesPerRun probes, carrying its
// deadline, counts and restart counts, so its history stays bounded.
func TestBakeContinuesAsNew(t *testing.T) {
	f := threeDeploys(t)
	in := bakeOf(time.Minute, 2)
	in.ProbesPerRun = 3
	s := &bakeScript{probes: func(n int) (activities.ProbeResult, error) {
		if n == 3 {
			return restarting(n)
		}
		return healthy(n)
	}}
	_, err, env := f.bake(t, in, s)
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("after 3 probes the bake must continue as new: %v", err)
	}
	var next activities.BakeRequest
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	c := next.Carry
	if c == nil || c.Probes != 3 || c.Failures != 1 || c.Healthy || c.Restarts == nil || next.ProbesPerRun != 3 || next.Revision != 3 {
		t.Fatalf("carried: %+v %+v", next, c)
	}
	if left := c.Deadline.Sub(env.Now()); left <= 50*time.Second || left > 58*time.Second {
		t.Fatalf("the deadline must be the first run's: %s left", left)
	}
	// The next run picks up the count: one more failure rolls back.
	s = &bakeScript{probes: restarting}
	res, err, _ := f.bake(t, next, s)
	if err != nil || res.Outcome != "rolled-back" || res.Probes != 4 || s.nProbe != 1 {
		t.Fatalf("the continued run: %+v, %v, %d probes", res, err, s.nProbe)
	}
}

// Item 9: a container up again between two crashes is unproven — not
// judged — so the crash loop's failed probes still add up; and the probe
// is told how long "proven" is (interval × failures).
func TestBakeUnprovenProbesDoNotResetTheCount(t *testing.T) {
	f := threeDeploys(t)
	s := &bakeScript{probes: func(n int) (activities.ProbeResult, error) {
		if n%2 == 0 {
			return activities.ProbeResult{Current: true, Healthy: true, Unproven: "scheduler restarted 2 times during the bake and has been up 1s"}, nil
		}
		return restarting(n)
	}}
	res, err, _ := f.bake(t, bakeOf(time.Minute, 2), s)
	if err != nil || res.Outcome != "rolled-back" || res.Probes != 3 {
		t.Fatalf("fail, unproven, fail must roll back with 2 failures: %+v, %v", res, err)
	}
	if s.requests[0].ProveFor != 2*time.Second {
		t.Fatalf("ProveFor: %s", s.requests[0].ProveFor)
	}
}
