package workflows_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
	"github.com/stretchr/testify/mock"
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
	f.host.Images, f.host.Bundles = rec, f.acts.Bundles
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

// Each host's garbage is removed on that host's queue, hosts at once; a
// host whose worker does not come within the wait keeps its garbage and
// does not fail the cleanup or hold up the others. A cleanup recorded
// before per-host cleanup (GetVersion "cleanup-hosts" answering
// DefaultVersion) removes everything inside its batches, as it did.
func TestCleanupRunsOnEachHostsQueue(t *testing.T) {
	for _, old := range []bool{false, true} {
		f := newFixture(t)
		ctx := context.Background()
		for _, h := range []string{"a", "b"} {
			if _, err := f.store.DB().ExecContext(ctx, `INSERT INTO garbage (kind, host, deployment_id, ref, created_at) VALUES ('image', $1, '', $2, 0)`, h, "sha256:"+h); err != nil {
				t.Fatal(err)
			}
		}
		f.acts.Config.CleanupEnabled, f.acts.Config.CleanupOlderThanDays = true, 90
		f.acts.Images = &imageRecorder{}
		env := f.env()
		if old {
			env.OnGetVersion("cleanup-hosts", workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		}
		var mu sync.Mutex
		queues := map[string]string{}
		env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
			key := info.ActivityType.Name
			if key == "CollectHostGarbage" {
				args.Get(&key)
			}
			mu.Lock()
			queues[key] = info.TaskQueue
			mu.Unlock()
		})
		env.OnActivity(f.host.CollectHostGarbage, mock.Anything, "a").Return(activities.CleanupBatchResult{Images: 1, BytesFreed: 10}, nil)
		env.OnActivity(f.host.CollectHostGarbage, mock.Anything, "b").Return(activities.CleanupBatchResult{},
			temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START, nil))
		env.ExecuteWorkflow(workflows.CleanupWorkflowName, workflows.CleanupInput{HostWaitSeconds: 30})
		if err := env.GetWorkflowError(); err != nil {
			t.Fatalf("old %v: a host without a worker must not fail the cleanup: %v", old, err)
		}
		var res workflows.CleanupResult
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		if old {
			if queues["a"] != "" || len(res.Hosts) != 0 || res.Images != 2 {
				t.Fatalf("a cleanup recorded before hosts removes every image in its batch: %+v %v", res, queues)
			}
			continue
		}
		shared := queues["CleanupBatch"]
		if shared == "" || queues["a"] != shared+"@a" || queues["b"] != shared+"@b" {
			t.Fatalf("each host's garbage goes to its own queue: %v", queues)
		}
		if len(res.Hosts) != 2 || res.Hosts[0].Host != "a" || res.Hosts[0].Images != 1 || res.Hosts[0].Waiting ||
			res.Hosts[1].Host != "b" || !res.Hosts[1].Waiting || res.Images != 1 || res.BytesFreed != 10 {
			t.Fatalf("host a's image goes, host b waits for the next run: %+v", res)
		}
		if pending, _ := f.store.PendingGarbageAfter(ctx, "b", store.Garbage{}, 10); len(pending) != 1 {
			t.Fatalf("host b's garbage stays in the outbox: %+v", pending)
		}
		skipped := false
		for _, es := range append(f.exported, f.incremental) {
			for _, e := range es {
				skipped = skipped || strings.HasPrefix(e.Message, "host b: skipped (no worker of host b within 30s")
			}
		}
		if !skipped {
			t.Fatal("the run's events must say host b was skipped, and why")
		}
	}
}

// CollectHostGarbage removes only its own host's rows: a task for another
// host (a misrouted queue, hostile input) is refused and changes nothing.
// Run again after it removed everything (a retry of an attempt whose
// result was lost), it removes nothing twice and succeeds.
func TestCollectHostGarbageStaysOnItsHost(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, h := range []string{"local", "b"} {
		if _, err := f.store.DB().ExecContext(ctx, `INSERT INTO garbage (kind, host, deployment_id, ref, created_at) VALUES ('image', $1, '', $2, 0)`, h, "sha256:"+h); err != nil {
			t.Fatal(err)
		}
	}
	rec := &imageRecorder{}
	f.host.Images = rec
	env := f.suite.NewTestActivityEnvironment()
	env.RegisterActivity(f.host)
	if _, err := env.ExecuteActivity(f.host.CollectHostGarbage, "b"); errType(err) != "InvalidInput" {
		t.Fatalf("host b's garbage on host local's worker: %v", err)
	}
	if n, _ := f.store.PendingGarbageByHost(ctx); len(n) != 2 || len(rec.removed) != 0 {
		t.Fatalf("a refused task removes nothing: %v %v", n, rec.removed)
	}
	for run := 1; run <= 2; run++ {
		v, err := env.ExecuteActivity(f.host.CollectHostGarbage, "local")
		if err != nil {
			t.Fatal(err)
		}
		var res activities.CleanupBatchResult
		if err := v.Get(&res); err != nil {
			t.Fatal(err)
		}
		if want := map[int]int{1: 1, 2: 0}[run]; res.Images != want || len(rec.removed) != 1 || rec.removed[0] != "sha256:local" {
			t.Fatalf("run %d: %+v, removed %v", run, res, rec.removed)
		}
	}
	if left, _ := f.store.PendingGarbageAfter(ctx, store.AllHosts, store.Garbage{}, 10); len(left) != 1 || left[0].Host != "b" {
		t.Fatalf("host b's row stays for b's worker: %+v", left)
	}
}
