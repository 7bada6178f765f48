package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/workflows"
)

var digestOf = map[string]string{}

func bundleArgs(v string) string {
	d := fmt.Sprintf("sha256:%064x", len(digestOf)+1)
	if old, ok := digestOf[v]; ok {
		d = old
	}
	digestOf[v] = d
	return `,"dagBundleVersion":"` + v + `","dagBundleDigest":"` + d + `"`
}

const (
	v1 = "2026-11-20T10:00:00.0000000Z"
	v2 = "2026-11-21T10:00:00.0000000Z"
	v3 = "2026-11-22T10:00:00.0000000Z"
)

// threeDeploys gives d1 the history of the rollback issue: r1 Runtime 9.1.0,
// r2 9.1.0 with other DAGs, r3 8.0.0.
func threeDeploys(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	ctx := context.Background()
	d, _ := f.store.GetDeployment(ctx, "d1")
	d.RollbackEnabled = true
	f.store.UpdateDeploymentSettings(ctx, d)
	for _, in := range []string{
		`{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","description":"r1"` + bundleArgs(v1) + `}`,
		`{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","description":"r2"` + bundleArgs(v2) + `}`,
		`{"deploymentId":"d1","imageRef":"reg:5000/airflow:8.0.0","requestedBy":"alice","description":"r3"` + bundleArgs(v3) + `}`,
	} {
		if _, _, err := f.deploy(t, in); err != nil {
			t.Fatal(err)
		}
	}
	f.docker.calls, f.docker.swaps, f.docker.bundles, f.docker.drains = nil, nil, nil, nil
	return f
}

func (f *fixture) rollback(t *testing.T, input string) (*workflows.RollbackResult, *testsuite.TestWorkflowEnvironment, error) {
	t.Helper()
	env := f.env()
	env.ExecuteWorkflow(workflows.RollbackWorkflowName, json.RawMessage(input))
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	var res workflows.RollbackResult
	err := env.GetWorkflowError()
	if err == nil {
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
	}
	return &res, env, err
}

func rb(rev int, extra string) string {
	return fmt.Sprintf(`{"deploymentId":"d1","revision":%d,"description":"pipeline broke at 3am","requestedBy":"alice"%s}`, rev, extra)
}

// R3: a rollback is a new revision with the target's image, digest and
// bundle version and its own time and description; R11: an upgrade drains.
func TestRollbackAddsARevisionLikeGitRevert(t *testing.T) {
	f := threeDeploys(t)
	res, _, err := f.rollback(t, rb(2, ""))
	if err != nil {
		t.Fatal(err)
	}
	revs := f.history(t)
	if len(revs) != 4 {
		t.Fatalf("want 4 revisions, have %d", len(revs))
	}
	r4, r2 := revs[0], revs[2]
	if r4.Number != 4 || r4.RollbackOf != 2 || r4.Status != domain.StatusDeployed || r4.Description != "pipeline broke at 3am" {
		t.Fatalf("r4: %+v", r4)
	}
	if r4.ImageRef != r2.ImageRef || r4.ImageDigest != r2.ImageDigest || r4.DagBundleVersion != r2.DagBundleVersion || r4.DagBundleDigest != r2.DagBundleDigest {
		t.Fatalf("r4 must carry r2's artifacts:\nr4 %+v\nr2 %+v", r4, r2)
	}
	if !r4.CreatedAt.After(r2.CreatedAt) || r2.Status != domain.StatusDeployed || r2.Description != "r2" {
		t.Fatalf("r2 must be kept as it was and r4 carry its own time: %+v", r2)
	}
	p := res.Plan
	if p.Downgrade || p.FromRuntime != "8.0.0" || p.ToRuntime != "9.1.0" || !p.ImageChanges || !p.BundleChanges || p.ToBundleVersion != v2 {
		t.Fatalf("plan: %+v", p)
	}
	if len(p.WorkersDrained) != 1 || len(p.WorkersKilled) != 0 {
		t.Fatalf("an upgrade drains workers (R11): %+v", p)
	}
	if strings.Contains(strings.Join(f.docker.calls, ","), "MetadataDowngrade") {
		t.Fatal("an upgrade must not run the metadata downgrade")
	}
	if len(f.docker.swaps) != 1 || f.docker.swaps[0].Image.Digest != r2.ImageDigest || f.docker.swaps[0].Downgrade {
		t.Fatalf("components must move to r2's digest without a downgrade: %+v", f.docker.swaps)
	}
	d, _ := f.store.GetDeployment(context.Background(), "d1")
	if d.CurrentRevision != 4 {
		t.Fatalf("current revision %d", d.CurrentRevision)
	}
}

// R11, R16: a downgrade checks the older image starts, stops every
// component of the newer version, snapshots the metadata (all the newer
// version wrote is in it), runs the metadata downgrade with the newer
// image, and only then starts the older image.
func TestRollbackDowngradeStopsEverythingBeforeTheMetadataStep(t *testing.T) {
	f := threeDeploys(t)
	if _, _, err := f.rollback(t, rb(2, "")); err != nil { // r4 = 9.1.0
		t.Fatal(err)
	}
	f.docker.calls = nil
	res, _, err := f.rollback(t, rb(3, "")) // r5 = 8.0.0
	if err != nil {
		t.Fatal(err)
	}
	if !res.Plan.Downgrade || len(res.Plan.WorkersKilled) != 1 || res.Report.Downgrade == nil {
		t.Fatalf("plan/report: %+v %+v", res.Plan, res.Report)
	}
	calls := strings.Join(f.docker.calls, ",")
	want := "PullImage,UnpackBundle,Preflight,StopComponents,SnapshotMetadata,MetadataDowngrade with reg:5000/airflow@" +
		stubImage("reg:5000/airflow:9.1.0").Digest + ",SwapBundle,SwapComponents,Verify"
	if calls != want {
		t.Fatalf("steps:\n got %s\nwant %s", calls, want)
	}
	if last := f.docker.swaps[len(f.docker.swaps)-1]; !last.Downgrade {
		t.Fatal("the swap must be told it is a downgrade")
	}
	revs := f.history(t)
	if revs[0].Number != 5 || revs[0].RollbackOf != 3 || revs[0].RuntimeVersion != "8.0.0" {
		t.Fatalf("r5: %+v", revs[0])
	}
}

func TestRollbackScopes(t *testing.T) {
	t.Run("image keeps the current bundle", func(t *testing.T) {
		f := threeDeploys(t)
		if _, _, err := f.rollback(t, rb(1, `,"scope":"image"`)); err != nil {
			t.Fatal(err)
		}
		r := f.history(t)[0]
		if r.Type != domain.DeployImageOnly || r.ImageRef != "reg:5000/airflow:9.1.0" || r.DagBundleVersion != v3 {
			t.Fatalf("%+v", r)
		}
		if len(f.docker.bundles) != 0 {
			t.Fatalf("the bundle must not be swapped: %v", f.docker.bundles)
		}
	})
	t.Run("dags keeps the current image", func(t *testing.T) {
		f := threeDeploys(t)
		if _, _, err := f.rollback(t, rb(1, `,"scope":"dags"`)); err != nil {
			t.Fatal(err)
		}
		r := f.history(t)[0]
		if r.Type != domain.DeployDAGOnly || r.ImageRef != "reg:5000/airflow:8.0.0" || r.DagBundleVersion != v1 {
			t.Fatalf("%+v", r)
		}
		if len(f.docker.swaps) != 0 || strings.Join(f.docker.bundles, ",") != v1 {
			t.Fatalf("only the bundle moves: swaps %v bundles %v", f.docker.swaps, f.docker.bundles)
		}
	})
}

func TestRollbackRestoresTheDagDeploySetting(t *testing.T) {
	f := threeDeploys(t) // deployed with DAG deploys enabled
	ctx := context.Background()
	d, _ := f.store.GetDeployment(ctx, "d1")
	d.DagDeployEnabled = false
	f.store.UpdateDeploymentSettings(ctx, d)
	if _, _, err := f.rollback(t, rb(2, "")); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.store.GetDeployment(ctx, "d1"); !d.DagDeployEnabled {
		t.Fatal("R4: the target's DAG deploy setting must be restored")
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	f := threeDeploys(t)
	res, env, err := f.rollback(t, rb(2, `,"dryRun":true`))
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Revision != nil || res.Plan.Target.Number != 2 || res.Plan.Current.Number != 3 {
		t.Fatalf("dry run result: %+v", res)
	}
	if len(f.history(t)) != 3 || len(f.docker.calls) != 0 {
		t.Fatalf("a dry run must record nothing and touch nothing: calls %v", f.docker.calls)
	}
	v, _ := env.QueryWorkflow(workflows.ProgressQuery)
	var p workflows.Progress
	v.Get(&p)
	if p.State != workflows.ChangeDone || p.Steps[1].Name != workflows.StepPlan || p.Steps[1].State != workflows.StepDone || p.Steps[2].State != workflows.StepSkipped {
		t.Fatalf("progress: %+v", p)
	}
}

func TestRollbackRefusals(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(t *testing.T, f *fixture)
		input string
		want  string
	}{
		{"R2 empty description", nil, `{"deploymentId":"d1","revision":2,"description":"","requestedBy":"alice"}`, "InvalidInput"},
		{"R2 501 characters", nil, `{"deploymentId":"d1","revision":2,"description":"` + strings.Repeat("x", 501) + `","requestedBy":"alice"}`, "InvalidInput"},
		{"revision zero", nil, rb(0, ""), "InvalidInput"},
		{"negative revision", nil, rb(-3, ""), "InvalidInput"},
		{"unknown scope", nil, rb(2, `,"scope":"everything"`), "InvalidInput"},
		{"revision as a string", nil, `{"deploymentId":"d1","revision":"2","description":"x","requestedBy":"alice"}`, "InvalidInput"},
		{"unknown revision", nil, rb(99, ""), "NotFound"},
		{"unknown deployment, no grant on it", nil, `{"deploymentId":"d9","revision":1,"description":"x","requestedBy":"alice"}`, "PermissionDenied"},
		{"R9 installation switch off", func(t *testing.T, f *fixture) { f.acts.Config.RollbacksEnabled = false }, rb(2, ""), "RollbacksDisabled"},
		{"R9 deployment switch off", func(t *testing.T, f *fixture) {
			d, _ := f.store.GetDeployment(ctx, "d1")
			d.RollbackEnabled = false
			f.store.UpdateDeploymentSettings(ctx, d)
		}, rb(2, ""), "RollbacksDisabled"},
		{"R8 git-sync", func(t *testing.T, f *fixture) {
			d, _ := f.store.GetDeployment(ctx, "d1")
			d.DagSource = domain.DagSourceGitSync
			f.store.UpdateDeploymentSettings(ctx, d)
		}, rb(2, ""), "UnsupportedDagSource"},
		{"R10 no permission", nil, `{"deploymentId":"d1","revision":2,"description":"x","requestedBy":"mallory"}`, "PermissionDenied"},
		{"R10 images-only user asks for all", nil, `{"deploymentId":"d1","revision":2,"description":"x","requestedBy":"imogen"}`, "PermissionDenied"},
		{"R6 failed target", func(t *testing.T, f *fixture) {
			f.docker.failAt = "Verify"
			f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.2.0","requestedBy":"alice"}`) // r4 FAILED
			f.docker.failAt = ""
		}, rb(4, ""), "OutsideRetention"},
		{"R6 outside the window", func(t *testing.T, f *fixture) {
			f.acts.Config.RollbackWindowDays = 1
			ageRevision(t, f, 1, 48*time.Hour)
		}, rb(1, ""), "OutsideRetention"},
		{"R7 Runtime below 5", func(t *testing.T, f *fixture) {
			f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:4.2.0","requestedBy":"alice","type":"IMAGE_ONLY"}`) // r4
			f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","type":"IMAGE_ONLY"}`) // r5
		}, rb(4, ""), "RuntimeTooOld"},
		{"R14 change in progress", func(t *testing.T, f *fixture) {
			f.store.CreateRevision(ctx, domain.Revision{DeploymentID: "d1", CreatedAt: time.Now(), CreatedBy: "bob", Type: domain.DeployImageOnly,
				ImageRef: "r:1", WorkflowID: "change/d1", RunID: "busy-run"})
		}, rb(2, ""), "ChangeInProgress"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := threeDeploys(t)
			if c.setup != nil {
				c.setup(t, f)
			}
			before := f.history(t)
			_, _, err := f.rollback(t, c.input)
			if errType(err) != c.want {
				t.Fatalf("got %v (%q), want %s", err, errType(err), c.want)
			}
			if after := f.history(t); len(after) != len(before) {
				t.Fatalf("a refused rollback recorded a revision: %d → %d", len(before), len(after))
			}
		})
	}
}

// R6's exception: the most recent deploy stays a target however old it is.
func TestMostRecentDeployIsATargetWhateverItsAge(t *testing.T) {
	f := threeDeploys(t)
	f.acts.Config.RollbackWindowDays = 1
	for n := 1; n <= 3; n++ {
		ageRevision(t, f, n, 400*24*time.Hour)
	}
	if _, _, err := f.rollback(t, rb(3, `,"dryRun":true`)); err != nil {
		t.Fatalf("the most recent deploy must remain a target: %v", err)
	}
	if _, _, err := f.rollback(t, rb(2, `,"dryRun":true`)); errType(err) != "OutsideRetention" {
		t.Fatalf("an older one must not: %v", err)
	}
}

func ageRevision(t *testing.T, f *fixture, n int, age time.Duration) {
	t.Helper()
	if _, err := f.store.DB().Exec(`UPDATE revisions SET created_at = created_at - $1 WHERE deployment_id='d1' AND number=$2`, age.Microseconds(), n); err != nil {
		t.Fatal(err)
	}
}

// A step failing for good after the first change puts back what changed,
// marks the revision FAILED with the reason and leaves the deployment on
// its previous revision. After the metadata downgrade (the point of no
// return) nothing is put back, and the reason says so.
func TestCompensationAfterEachStep(t *testing.T) {
	cases := []struct {
		failAt          string
		target          int
		snapshot        bool
		bundleBack      bool
		componentsBack  bool
		pointOfNoReturn bool
		restored        bool
	}{
		{"PullImage", 2, false, false, false, false, false},
		{"UnpackBundle", 2, false, false, false, false, false},
		{"Preflight", 2, false, false, false, false, false},
		{"SwapBundle", 2, false, true, false, false, false},
		{"SwapComponents", 2, false, true, true, false, false},
		{"Verify", 2, false, true, true, false, false},
		{"SnapshotMetadata/downgrade", 1, true, false, true, false, false}, // after the stop: the newer version starts again
		{"StopComponents/downgrade", 1, true, false, true, false, false},
		{"MetadataDowngrade/no snapshot", 1, false, false, false, true, false},
		{"SwapComponents/after downgrade, no snapshot", 1, false, false, false, true, false},
		{"MetadataDowngrade/snapshot", 1, true, false, true, false, true},
		{"SwapComponents/after downgrade, snapshot", 1, true, true, true, false, true},
		{"Verify/after downgrade, snapshot", 1, true, true, true, false, true},
	}
	for _, c := range cases {
		t.Run(c.failAt, func(t *testing.T) {
			f := threeDeploys(t)
			f.docker.snapshot = c.snapshot
			if c.target == 1 { // make r1 → a downgrade: current becomes 9.2.0
				if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.2.0","requestedBy":"alice","type":"IMAGE_ONLY"}`); err != nil {
					t.Fatal(err)
				}
				f.docker.calls, f.docker.swaps, f.docker.bundles = nil, nil, nil
			}
			f.docker.failAt = strings.Split(c.failAt, "/")[0]
			before, _ := f.store.GetDeployment(context.Background(), "d1")
			_, env, err := f.rollback(t, rb(c.target, ""))
			if errType(err) != "StubFailure" {
				t.Fatalf("got %v", err)
			}
			top := f.history(t)[0]
			if top.Status != domain.StatusFailed || !strings.Contains(top.FailureReason, "failed for good") {
				t.Fatalf("revision: %+v", top)
			}
			after, _ := f.store.GetDeployment(context.Background(), "d1")
			if after.CurrentRevision != before.CurrentRevision {
				t.Fatalf("current moved %d → %d", before.CurrentRevision, after.CurrentRevision)
			}
			prev, _ := f.store.GetRevision(context.Background(), "d1", before.CurrentRevision)
			nb := len(f.docker.bundles)
			bundleBack := nb > 0 && f.docker.bundles[nb-1] == prev.DagBundleVersion
			if bundleBack != c.bundleBack {
				t.Fatalf("bundle put back: %v, want %v (swaps to %v)", bundleBack, c.bundleBack, f.docker.bundles)
			}
			n := len(f.docker.swaps)
			componentsBack := n > 0 && f.docker.swaps[n-1].Revision == prev.Number && f.docker.swaps[n-1].Image.Digest == prev.ImageDigest
			if componentsBack != c.componentsBack {
				t.Fatalf("components put back: %v, want %v (%+v)", componentsBack, c.componentsBack, f.docker.swaps)
			}
			if c.pointOfNoReturn != strings.Contains(top.FailureReason, "point of no return") {
				t.Fatalf("reason must say whether the point of no return was passed: %q", top.FailureReason)
			}
			if c.restored != (len(f.docker.restored) == 1 && strings.Contains(top.FailureReason, "metadata restored from snapshot d1/r")) {
				t.Fatalf("metadata restored: %v, want %v (%q)", f.docker.restored, c.restored, top.FailureReason)
			}
			if c.restored {
				// The newer version may start again only once the metadata is back.
				calls := strings.Join(f.docker.calls, ",")
				if i, j := strings.LastIndex(calls, "RestoreMetadata"), strings.LastIndex(calls, "SwapComponents"); i < 0 || j < i {
					t.Fatalf("components put back before the metadata: %s", calls)
				}
			}
			if c.pointOfNoReturn && componentsBack {
				t.Fatal("the newer version must not start again on downgraded metadata")
			}
			v, _ := env.QueryWorkflow(workflows.ProgressQuery)
			var p workflows.Progress
			v.Get(&p)
			if p.State != workflows.ChangeFailed {
				t.Fatalf("progress: %+v", p)
			}
		})
	}
}

// A transient failure is retried, and the progress query counts attempts.
func TestTransientFailuresAreRetried(t *testing.T) {
	f := threeDeploys(t)
	f.docker.transient = map[string]int{"PullImage": 2}
	if _, _, err := f.rollback(t, rb(2, "")); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(strings.Join(f.docker.calls, ","), "PullImage"); got != 3 {
		t.Fatalf("pull attempts: %d", got)
	}
}

// R15: a rollback carries what its requester confirmed, and a plan that
// changed since (a deploy landed in between) is refused with nothing
// recorded. The same situation always gives the same digest.
func TestConfirmedPlanOrPlanChanged(t *testing.T) {
	f := threeDeploys(t)
	first, _, err := f.rollback(t, rb(2, `,"dryRun":true`))
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := f.rollback(t, rb(2, `,"dryRun":true`))
	if err != nil || again.Plan.Digest != first.Plan.Digest || !strings.HasPrefix(first.Plan.Digest, "sha256:") {
		t.Fatalf("the same plan must have the same digest: %q %q %v", first.Plan.Digest, again.Plan.Digest, err)
	}
	confirmed := fmt.Sprintf(`,"expectedCurrentRevision":%d,"planDigest":%q`, first.Plan.Current.Number, first.Plan.Digest)
	// Someone deploys between the plan and the confirmation.
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.2.0","requestedBy":"bob-ci","type":"IMAGE_ONLY"}`); err == nil {
		t.Fatal("bob has no grant and should have been refused")
	}
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.2.0","requestedBy":"alice","type":"IMAGE_ONLY"}`); err != nil {
		t.Fatal(err)
	}
	f.docker.calls = nil
	before := f.history(t)
	_, _, err = f.rollback(t, rb(2, confirmed))
	if errType(err) != "PlanChanged" || !strings.Contains(err.Error(), "now 4, not 3") {
		t.Fatalf("got %v", err)
	}
	if len(f.history(t)) != len(before) || len(f.docker.calls) != 0 {
		t.Fatalf("a refused confirmation must change nothing: %d → %d revisions, calls %v", len(before), len(f.history(t)), f.docker.calls)
	}
	// Only the digest, as a caller that does not know the revision sends it.
	_, _, err = f.rollback(t, rb(2, fmt.Sprintf(`,"planDigest":%q`, first.Plan.Digest)))
	if errType(err) != "PlanChanged" {
		t.Fatalf("got %v", err)
	}
	now, _, err := f.rollback(t, rb(2, `,"dryRun":true`))
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := f.rollback(t, rb(2, fmt.Sprintf(`,"expectedCurrentRevision":4,"planDigest":%q`, now.Plan.Digest)))
	if err != nil || res.Revision.Number != 5 {
		t.Fatalf("the plan confirmed now must run: %+v %v", res.Revision, err)
	}
	if _, _, err := f.rollback(t, rb(2, `,"planDigest":"sha256:nope"`)); errType(err) != "InvalidInput" {
		t.Fatalf("a malformed digest: %v", err)
	}
}

// R10 before R8/R9: a requester without permission learns nothing about the
// deployment's switches or DAG source.
func TestPermissionIsCheckedBeforeSettingsAreDisclosed(t *testing.T) {
	f := threeDeploys(t)
	f.acts.Config.RollbacksEnabled = false
	_, _, err := f.rollback(t, `{"deploymentId":"d1","revision":2,"description":"x","requestedBy":"mallory","dryRun":true}`)
	if errType(err) != "PermissionDenied" || strings.Contains(err.Error(), "disabled") {
		t.Fatalf("got %v", err)
	}
	if _, _, err := f.rollback(t, rb(2, `,"dryRun":true`)); errType(err) != "RollbacksDisabled" {
		t.Fatalf("alice may know: %v", err)
	}
}

// Plans travel in workflow history: no environment value or database URL
// in them (issue 13).
func TestPlansCarryNoSecrets(t *testing.T) {
	f := threeDeploys(t)
	ctx := context.Background()
	d, _ := f.store.GetDeployment(ctx, "d1")
	d.Env = map[string]string{"DB_PASSWORD": "s3cret"}
	d.MetadataDatabaseURL = "postgres://airflow:s3cret@db/airflow"
	f.store.UpdateDeploymentSettings(ctx, d)
	res, _, err := f.rollback(t, rb(2, `,"dryRun":true`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	if strings.Contains(string(b), "s3cret") || res.Plan.Deployment.Env["DB_PASSWORD"] != domain.RedactedValue {
		t.Fatalf("a plan leaks a secret: %s", b)
	}
	if !res.Plan.MetadataSnapshot == res.Plan.Downgrade && res.Plan.Downgrade {
		t.Fatalf("plan: %+v", res.Plan)
	}
}

// R11: a drained worker's deadline is a durable timer of its own.
func TestDrainedWorkersGetADurableDeadline(t *testing.T) {
	f := threeDeploys(t)
	if _, _, err := f.rollback(t, rb(2, "")); err != nil {
		t.Fatal(err)
	}
	if len(f.docker.drains) != 1 || f.docker.drains[0].DeploymentID != "d1" || f.docker.drains[0].Deadline.IsZero() {
		t.Fatalf("drain deadlines started: %+v", f.docker.drains)
	}
}
