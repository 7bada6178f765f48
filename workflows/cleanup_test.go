package workflows_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/workflows"
)

// imageRecorder stands in for the Docker runtime's image removal in these
// unit tests; the real removal runs against the Engine in internal/cli.
type imageRecorder struct{ removed []string }

func (r *imageRecorder) RemoveImageByDigest(_ context.Context, digest string) (int64, bool, error) {
	r.removed = append(r.removed, digest)
	return 100, true, nil
}

func (f *fixture) cleanup(t *testing.T, start time.Time) (*workflows.CleanupResult, *imageRecorder) {
	t.Helper()
	rec := &imageRecorder{}
	root := t.TempDir()
	f.acts.Images, f.acts.Bundles = rec, bundle.NewFSStore(root)
	f.acts.Config.BundleRoot, f.acts.Config.CleanupEnabled, f.acts.Config.CleanupOlderThanDays = root, true, 90
	env := f.env()
	env.SetStartTime(start)
	env.ExecuteWorkflow(workflows.CleanupWorkflowName, workflows.CleanupInput{BatchSize: 1})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.CleanupResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return &res, rec
}

// With the test clock 100 days ahead, everything but the most recent and
// current revision is older than the age and goes, with the artifacts only
// it referenced.
func TestCleanupWithTheTestClock(t *testing.T) {
	f := threeDeploys(t) // r1 9.1.0/v1, r2 9.1.0/v2, r3 8.0.0/v3 (current, most recent)
	res, rec := f.cleanup(t, time.Now().Add(100*24*time.Hour))
	revs := f.history(t)
	if len(revs) != 1 || revs[0].Number != 3 {
		t.Fatalf("only r3 must survive: %+v", revs)
	}
	if res.Revisions != 2 || res.BundleDirs != 2 || res.Images != 1 || !res.Enabled {
		t.Fatalf("result: %+v", res)
	}
	if len(rec.removed) != 1 || rec.removed[0] != stubImage("reg:5000/airflow:9.1.0").Digest {
		t.Fatalf("only r1/r2's image (9.1.0) is garbage; r3's (8.0.0) is kept: %v", rec.removed)
	}
	// Running it again deletes nothing more.
	again, rec2 := f.cleanup(t, time.Now().Add(100*24*time.Hour))
	if again.Revisions != 0 || len(rec2.removed) != 0 {
		t.Fatalf("second run: %+v %v", again, rec2.removed)
	}
	// A rollback to a revision cleanup removed is refused, never half-run.
	if _, _, err := f.rollback(t, rb(1, "")); errType(err) != "NotFound" {
		t.Fatalf("rollback to a removed revision: %v", err)
	}
	if n := len(f.history(t)); n != 1 {
		t.Fatalf("the refused rollback recorded a revision: %d", n)
	}
}

// A rollback revision shares its target's image and bundle: deleting the
// old original must not delete what the recent rollback row points to.
func TestCleanupKeepsWhatARollbackShares(t *testing.T) {
	f := threeDeploys(t)
	for n := 1; n <= 3; n++ {
		ageRevision(t, f, n, 120*24*time.Hour)
	}
	if _, _, err := f.rollback(t, rb(1, "")); err == nil { // r1 is outside the window now
		t.Fatal("want OutsideRetention")
	}
	f.acts.Config.RollbackWindowDays = 365
	if _, _, err := f.rollback(t, rb(1, "")); err != nil { // r4 = r1's artifacts, today
		t.Fatal(err)
	}
	res, rec := f.cleanup(t, time.Now())
	var left []int
	for _, r := range f.history(t) {
		left = append(left, r.Number)
	}
	sort.Ints(left)
	if len(left) != 1 || left[0] != 4 {
		t.Fatalf("r1-r3 are old and not current: only r4 stays, have %v", left)
	}
	for _, d := range rec.removed {
		if d == stubImage("reg:5000/airflow:9.1.0").Digest {
			t.Fatal("r4 still uses r1's image: it must not be removed")
		}
	}
	if res.BundleDirs != 2 { // v2 and v3; v1 is r4's
		t.Fatalf("bundle dirs removed: %d", res.BundleDirs)
	}
}

func TestCleanupSwitchedOffDeletesNothing(t *testing.T) {
	f := threeDeploys(t)
	f.acts.Config.CleanupEnabled = false
	env := f.env()
	env.SetStartTime(time.Now().Add(400 * 24 * time.Hour))
	env.ExecuteWorkflow(workflows.CleanupWorkflowName, workflows.CleanupInput{})
	var res workflows.CleanupResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Enabled || res.Revisions != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := len(f.history(t)); n != 3 {
		t.Fatalf("switched off, cleanup deleted revisions: %d left", n)
	}
}

// A long cleanup continues as new with its cursor, cutoff and totals, so
// its history stays small however many deployments there are.
func TestCleanupContinuesAsNew(t *testing.T) {
	f := threeDeploys(t)
	ctx := context.Background()
	for _, id := range []string{"d2", "d3"} {
		d, _ := f.store.GetDeployment(ctx, "d1")
		d.ID = id
		f.store.CreateDeployment(ctx, d)
	}
	f.acts.Config.CleanupEnabled, f.acts.Config.CleanupOlderThanDays = true, 90
	f.acts.Images, f.acts.Bundles, f.acts.Config.BundleRoot = &imageRecorder{}, bundle.NewFSStore(t.TempDir()), t.TempDir()
	env := f.env()
	env.SetStartTime(time.Now().Add(100 * 24 * time.Hour))
	env.ExecuteWorkflow(workflows.CleanupWorkflowName, workflows.CleanupInput{BatchSize: 1, BatchesPerRun: 2})
	var can *workflow.ContinueAsNewError
	if err := env.GetWorkflowError(); !errors.As(err, &can) {
		t.Fatalf("want continue-as-new after 2 batches, got %v", err)
	}
	var next workflows.CleanupInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
		t.Fatal(err)
	}
	if next.After != "d2" || next.Cutoff == nil || next.Totals == nil || next.Totals.Batches != 2 || next.Totals.Revisions != 2 {
		t.Fatalf("carried state: after=%q totals=%+v", next.After, next.Totals)
	}
}

// Cleanup never wedges: an artifact that cannot be removed (here the DAG
// bundle `current` still points at) is set aside and reported, the rest
// goes, and the next run proceeds without retrying it.
func TestCleanupSetsAsideWhatItCannotRemove(t *testing.T) {
	f := threeDeploys(t) // r1 v1, r2 v2, r3 v3 (current)
	root := t.TempDir()
	for _, v := range []string{v1, v2} {
		if err := os.MkdirAll(bundle.VersionDir(root, "d1", v), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Someone pointed `current` back at r1's bundle by hand.
	if err := os.Symlink(filepath.Join("bundles", v1), filepath.Join(root, "d1", "current")); err != nil {
		t.Fatal(err)
	}
	run := func() *workflows.CleanupResult {
		f.acts.Images, f.acts.Bundles = &imageRecorder{}, bundle.NewFSStore(root)
		f.acts.Config.BundleRoot, f.acts.Config.CleanupEnabled, f.acts.Config.CleanupOlderThanDays = root, true, 90
		env := f.env()
		env.SetStartTime(time.Now().Add(100 * 24 * time.Hour))
		env.ExecuteWorkflow(workflows.CleanupWorkflowName, workflows.CleanupInput{BatchSize: 1})
		if err := env.GetWorkflowError(); err != nil {
			t.Fatalf("a cleanup with an unremovable artifact must still finish: %v", err)
		}
		var res workflows.CleanupResult
		env.GetWorkflowResult(&res)
		return &res
	}
	res := run()
	if res.Revisions != 2 || res.BundleDirs != 1 || res.SetAside != 1 || res.Failed != 1 {
		t.Fatalf("first run: %+v", res)
	}
	if _, err := os.Stat(bundle.VersionDir(root, "d1", v2)); !os.IsNotExist(err) {
		t.Fatalf("v2 must be removed: %v", err)
	}
	aside, n, err := f.store.SetAsideGarbage(context.Background(), 10)
	if err != nil || n != 1 || aside[0].Ref != v1 || !strings.Contains(aside[0].LastError, "current") {
		t.Fatalf("set aside: %+v %d %v", aside, n, err)
	}
	again := run()
	if again.Failed != 0 || again.SetAside != 0 {
		t.Fatalf("the next run must not retry what was set aside: %+v", again)
	}
	if released, err := f.store.ReleaseGarbage(context.Background()); err != nil || released != 1 {
		t.Fatalf("release: %d %v", released, err)
	}
}
