package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/termsafe"
)

// BakeWorkflowName bakes a deploy: it watches the new revision for a while
// and rolls it back, as rewind itself, if it is bad (issue 16).
const BakeWorkflowName = "BakeWorkflow"

// KindBake is RewindKind for a bake.
const KindBake = "bake"

// BakeResult says how a bake ended.
type BakeResult struct {
	// passed (the last probe was judged healthy), ended (a change landed,
	// or the automatic rollback stood down), rolled-back, or inconclusive
	// (the period ran out while probes could not run or were not judged,
	// or the last one failed: a bake never passes on probes that did not run).
	Outcome  string `json:"outcome"`
	Probes   int    `json:"probes"`
	Evidence string `json:"evidence,omitempty"`
	Rollback string `json:"rollback,omitempty"` // its workflow and run
}

var probeOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 2 * time.Minute, ScheduleToCloseTimeout: 10 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
}

// bakeJudgedChange: probes judge containers (exited, restarting, missing
// are failed probes), another change's probes are not judged, any change
// ends the bake, the rollback carries the judged revision, and the bake
// continues as new (issue 27). Histories from before replay bakeV0.
const bakeJudgedChange = "bake-judged"

// defaultProbesPerRun bounds a run's history: a probe is about 17 events
// (timer, two activities, their workflow tasks), so 100 probes stay near
// 2,000 events, far below the server's 51,200 at any interval.
const defaultProbesPerRun = 100

// BakeWorkflow probes the deployment every interval for the bake period.
// After the configured number of failed probes in a row — a component
// missing, exited, restarting or restarted since the last probe, the
// scheduler's health check failing, or more DAG import errors than before
// the deploy — it starts a rollback to the revision the deploy replaced,
// requested by rewind (automatic) with the evidence as its description and
// pinned to the judged revision (expectedCurrentRevision). Any change that
// lands meanwhile (a person deploying or rolling back) ends the bake; a
// probe during another change is not judged. It holds no lock: it is not a
// change. Every decision is logged and exported (R13).
func BakeWorkflow(ctx workflow.Context, in activities.BakeRequest) (res *BakeResult, err error) {
	t, err := newTracker(ctx, KindBake, "bake")
	if err != nil {
		return nil, err
	}
	t.about(in.DeploymentID, domain.AutomaticRequester)
	t.p.Revision = in.Revision
	res = &BakeResult{}
	defer func() {
		t.finish(err)
		exportEvents(ctx, t)
	}()
	s := in.Settings
	if in.Carry == nil {
		t.emit("bake", eslog.LevelInfo, fmt.Sprintf("baking revision %d for %s: probing every %s, rolling back to %d after %d failed probes in a row",
			in.Revision, s.BakePeriod, s.Interval, in.Previous, s.Failures), nil)
	}
	var hctx workflow.Context
	if hctx, err = hostOf(ctx, in.DeploymentID); err != nil {
		return res, err
	}
	actx := onHost(hctx, probeOptions)
	if workflow.GetVersion(ctx, bakeJudgedChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return bakeV0(ctx, t, in, actx, res)
	}
	return bakeJudged(ctx, t, in, actx, res)
}

// bakeJudged is the bake loop of issue 27 (see BakeWorkflow and
// docs/rollbacks.md, "Bake").
func bakeJudged(ctx workflow.Context, t *tracker, in activities.BakeRequest, actx workflow.Context, res *BakeResult) (*BakeResult, error) {
	s := in.Settings
	st := activities.BakeCarry{Deadline: workflow.Now(ctx).Add(s.BakePeriod)}
	if in.Carry != nil {
		st = *in.Carry
	}
	perRun := in.ProbesPerRun
	if perRun <= 0 {
		perRun = defaultProbesPerRun
	}
	sctx := workflow.WithActivityOptions(ctx, storeOptions)
	stateOf := func() (activities.BakeState, error) {
		var bs activities.BakeState
		err := workflow.ExecuteActivity(sctx, acts.BakeState, activities.BakeStateRequest{DeploymentID: in.DeploymentID, Revision: in.Revision}).Get(ctx, &bs)
		return bs, err
	}
	ended := func(why string) (*BakeResult, error) {
		res.Probes = st.Probes
		res.Outcome, res.Evidence = "ended", "a change landed during the bake ("+why+")"
		t.emit("bake", eslog.LevelInfo, "bake ended: "+res.Evidence, nil)
		return res, nil
	}
	unjudged := func(why string) {
		st.Unjudged++
		st.Healthy, st.Last = false, why
		t.emit("probe", eslog.LevelInfo, fmt.Sprintf("probe %d not judged (%d failed in a row kept): %s", st.Probes, st.Failures, why), nil)
	}
	for run := 0; workflow.Now(ctx).Before(st.Deadline); run++ {
		if run >= perRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			next := in
			next.Carry = &st
			t.continuedAsNew()
			return nil, workflow.NewContinueAsNewError(ctx, BakeWorkflowName, next)
		}
		if err := workflow.Sleep(ctx, s.Interval); err != nil {
			return res, err
		}
		before, err := stateOf()
		if err != nil {
			return res, err
		}
		if !before.Current {
			return ended(before.Evidence)
		}
		var p activities.ProbeResult
		err = workflow.ExecuteActivity(actx, hostActs.Probe, activities.ProbeRequest{DeploymentID: in.DeploymentID, Revision: in.Revision, Restarts: st.Restarts,
			ProveFor: s.Interval * time.Duration(max(s.Failures, 1))}).Get(ctx, &p)
		st.Probes++
		if err != nil {
			// Only an Engine that cannot be reached fails the probe
			// activity: its retries ran out. Neither healthy nor failed.
			unjudged("the probe could not run: " + reason(err))
			continue
		}
		if !p.Current {
			return ended(p.Evidence)
		}
		st.Restarts = p.Restarts
		if before.OtherChange != "" || p.SwapInProgress {
			unjudged(firstOf(before.OtherChange, "a swap is in progress") + ": what the probe saw is that change's doing")
			continue
		}
		bad := ""
		switch {
		case !p.Healthy:
			bad = "unhealthy: " + p.Evidence
		case in.Baseline >= 0 && p.ImportErrors > in.Baseline:
			bad = fmt.Sprintf("%d DAG import errors, %d before the deploy", p.ImportErrors, in.Baseline)
		}
		if bad == "" && p.Unproven != "" {
			unjudged(p.Unproven)
			continue
		}
		if bad == "" {
			st.Failures, st.Healthy, st.Last = 0, true, ""
			t.emit("probe", eslog.LevelInfo, fmt.Sprintf("probe %d: healthy, %d import errors", st.Probes, p.ImportErrors), nil)
			continue
		}
		// A change may have started while the probe ran (its swap removed
		// the container the probe missed): look again before counting.
		after, err := stateOf()
		if err != nil {
			return res, err
		}
		if !after.Current {
			return ended(after.Evidence)
		}
		if after.OtherChange != "" || after.ChangeRun != before.ChangeRun {
			unjudged(firstOf(after.OtherChange, "a change ran meanwhile") + ": " + bad)
			continue
		}
		st.Failures++
		st.Healthy, st.Last = false, bad
		t.emit("probe", eslog.LevelWarn, fmt.Sprintf("probe %d failed (%d of %d in a row): %s", st.Probes, st.Failures, s.Failures, bad), nil)
		if st.Failures < s.Failures {
			continue
		}
		res.Probes = st.Probes
		res.Evidence = fmt.Sprintf("automatic rollback of revision %d after %d failed probes in a row: %s", in.Revision, st.Failures, bad)
		var started string
		ar, err := automaticRollback(in, res.Evidence, in.Revision)
		if err == nil {
			err = workflow.ExecuteActivity(sctx, acts.StartAutomaticRollback, ar).Get(ctx, &started)
		}
		if err != nil {
			res.Outcome = "ended"
			t.emit("bake", eslog.LevelWarn, "the automatic rollback did not start: "+reason(err), nil)
			return res, nil
		}
		res.Outcome, res.Rollback = "rolled-back", started
		t.emit("bake", eslog.LevelWarn, res.Evidence+"; rollback started: "+started, nil)
		notifyChange(ctx, t, notify.AutomaticRollback, domain.Revision{DeploymentID: in.DeploymentID, Number: in.Revision, RollbackOf: in.Previous,
			CreatedBy: domain.AutomaticRequester, RequestedByVerified: true}, res.Evidence)
		return res, nil
	}
	res.Probes = st.Probes
	if !st.Healthy {
		res.Outcome = "inconclusive"
		res.Evidence = fmt.Sprintf("the bake period ended without a healthy last probe (%d probes, %d not judged or could not run; last: %s)", st.Probes, st.Unjudged, firstOf(st.Last, "no probe ran"))
		t.emit("bake", eslog.LevelWarn, "bake inconclusive: "+res.Evidence, nil)
		return res, nil
	}
	res.Outcome = "passed"
	t.emit("bake", eslog.LevelInfo, fmt.Sprintf("bake passed: %d probes over %s (%d not judged)", st.Probes, s.BakePeriod, st.Unjudged), nil)
	return res, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// bake starts the bake of a deploy that just landed, when its deployment
// asks for automatic rollback and there is a revision to go back to.
// Histories recorded before automatic rollback replay without it.
func bake(ctx workflow.Context, plan activities.DeployPlan, rev domain.Revision) {
	ar := plan.Deployment.AutoRollback
	if ar == nil || !ar.Enabled || plan.Current == nil {
		return
	}
	if workflow.GetVersion(ctx, "bake", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeOptions), acts.StartBake, activities.BakeRequest{
		DeploymentID: rev.DeploymentID, Revision: rev.Number, Previous: plan.Current.Number, Baseline: plan.ImportErrorsBefore, Settings: *ar}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("could not start the bake", "error", err)
	}
}

// automaticRollback is the rollback a failed bake asks for: RollbackWorkflow's
// input and its canonical digest, which the bake's recorded decision
// carries and the rollback must match (R22). The evidence quotes what the
// scheduler printed: it is made printable, as every description must be.
// judged is the revision the bake judged (0 in bakes from before issue 27):
// the rollback carries it as expectedCurrentRevision and is refused
// PlanChanged if anything landed between the judgement and its plan.
func automaticRollback(in activities.BakeRequest, evidence string, judged int) (activities.AutomaticRollback, error) {
	rin := RollbackInput{DeploymentID: in.DeploymentID, Revision: in.Previous, Description: clipRunes(termsafe.Line(evidence), policy.MaxDescription),
		RequestedBy: domain.AutomaticRequester, Scope: policy.ScopeAll, ExpectedCurrentRevision: judged}
	raw, err := json.Marshal(rin)
	return activities.AutomaticRollback{DeploymentID: in.DeploymentID, Revision: in.Revision, Target: in.Previous, Evidence: evidence,
		Input: raw, InputDigest: rin.Digest(), Settings: in.Settings}, err
}

func clipRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
