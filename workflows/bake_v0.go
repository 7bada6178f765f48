package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/notify"
)

// bakeV0 is BakeWorkflow's loop before issue 27 (no change checks, no
// continue-as-new, a rollback not pinned to the judged revision), kept
// verbatim so bakes started by an older worker replay and finish as they
// began. New bakes never take it (GetVersion bakeJudgedChange).
func bakeV0(ctx workflow.Context, t *tracker, in activities.BakeRequest, actx workflow.Context, res *BakeResult) (*BakeResult, error) {
	s := in.Settings
	deadline := workflow.Now(ctx).Add(s.BakePeriod)
	failures := 0
	for workflow.Now(ctx).Before(deadline) {
		if err := workflow.Sleep(ctx, s.Interval); err != nil {
			return res, err
		}
		var p activities.ProbeResult
		if err := workflow.ExecuteActivity(actx, hostActs.Probe, activities.ProbeRequest{DeploymentID: in.DeploymentID, Revision: in.Revision}).Get(ctx, &p); err != nil {
			return res, err
		}
		res.Probes++
		if !p.Current {
			res.Outcome, res.Evidence = "ended", "a change landed during the bake ("+p.Evidence+")"
			t.emit("bake", eslog.LevelInfo, "bake ended: "+res.Evidence, nil)
			return res, nil
		}
		bad := ""
		switch {
		case !p.Healthy:
			bad = "scheduler unhealthy: " + p.Evidence
		case in.Baseline >= 0 && p.ImportErrors > in.Baseline:
			bad = fmt.Sprintf("%d DAG import errors, %d before the deploy", p.ImportErrors, in.Baseline)
		}
		if bad == "" {
			failures = 0
			t.emit("probe", eslog.LevelInfo, fmt.Sprintf("probe %d: healthy, %d import errors", res.Probes, p.ImportErrors), nil)
			continue
		}
		failures++
		t.emit("probe", eslog.LevelWarn, fmt.Sprintf("probe %d failed (%d of %d in a row): %s", res.Probes, failures, s.Failures, bad), nil)
		if failures < s.Failures {
			continue
		}
		res.Evidence = fmt.Sprintf("automatic rollback of revision %d after %d failed probes in a row: %s", in.Revision, failures, bad)
		var started string
		ar, err := automaticRollback(in, res.Evidence, 0)
		if err == nil {
			err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeOptions), acts.StartAutomaticRollback, ar).Get(ctx, &started)
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
	res.Outcome = "passed"
	t.emit("bake", eslog.LevelInfo, fmt.Sprintf("bake passed: %d probes over %s", res.Probes, s.BakePeriod), nil)
	return res, nil
}
