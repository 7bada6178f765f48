package workflows_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/workflows"
)

// The histories every release must keep replaying, by release folder
// (testdata/histories/<release>/<name>.json). Folders are recorded once
// with `make record-histories` and never overwritten.
var wantHistories = map[string][]string{
	"v0.1": {"rollback-upgrade", "rollback-downgrade", "rollback-dry-run", "rollback-compensated"},
	"v0.2": {
		"deploy-image", "deploy-dag-only", "deploy-failed", "deploy-refused",
		"rollback-upgrade", "rollback-downgrade", "rollback-dry-run", "rollback-compensated",
		"cleanup-continued-as-new", "cleanup-last-run", "export-events",
	},
	"v0.3": {
		"deploy-image", "deploy-dag-only", "deploy-failed", "deploy-refused",
		"rollback-upgrade", "rollback-downgrade", "rollback-dry-run", "rollback-compensated",
		"cleanup-continued-as-new", "cleanup-last-run", "export-events",
		// Recorded later from the v0.3 code (b0786f4) for issue 27: the
		// bake loop from before bake-judged (bakeV0) must keep replaying.
		"bake-rolled-back",
	},
	// Issue 27: the bake's judged loop (bake-judged), recorded from
	// TestAutomaticRollbackOfACrashLoopingScheduler and TestBakeDuringOtherChanges;
	// rollbacks whose plan asks the deployment's host (item 1, GetVersion
	// "rollback-plan-on-host"), recorded from TestRollbackThroughTheDevServerDockerAndRegistry.
	// The rest of v0.4 (issue 27: stop before the snapshot, the downgrade's
	// own point of no return, waiting for cancellation) is every workflow
	// type, with a snapshot restore and a change on a second host.
	"v0.4": {
		"bake-rolled-back", "bake-ended-by-a-rollback", "bake-continued-rolled-back",
		"rollback-upgrade", "rollback-downgrade", "rollback-dry-run",
		"deploy-image", "deploy-dag-only", "deploy-failed", "deploy-refused", "rollback-compensated",
		"cleanup-continued-as-new", "cleanup-last-run", "export-events",
		"drain-deadline", "notify-failed", "apply-config", "rollback-snapshot-restored", "rollback-on-host-b",
		// Issue 30: a fleet rollback of seven deployments, recorded from
		// TestFleetRollbackByImageDigest; one whose deployments' change
		// locks were held (lock waits, one bounded out) and one cancelled
		// while its children ran, from fleet_lock_cancel_integration_test.go;
		// and one cancelled during a child's metadata downgrade, which that
		// child finishes (GetVersion "finish-past-no-return").
		"fleet-rollback", "fleet-rollback-lock-held", "fleet-rollback-cancelled", "fleet-rollback-cancelled-past-no-return",
		"rollback-cancelled-past-no-return",
	},
	// Issue 31: rollbacks and a deploy whose store steps run as local
	// activities (workflow.GetVersion "store-local"), recorded from
	// TestRollbackThroughTheDevServerDockerAndRegistry and
	// TestDeployTwiceThroughTheDevServerAndReadHistoryBack.
	"v0.5": {"rollback-upgrade", "rollback-downgrade", "rollback-dry-run", "deploy-image", "export-events"},
}

// allWorkflowTypes is every workflow type a worker registers: each must
// have a recorded history, and a reordered step in it must be caught.
var allWorkflowTypes = []string{workflows.DeployWorkflowName, workflows.RollbackWorkflowName, workflows.CleanupWorkflowName,
	workflows.ExportEventsWorkflowName, workflows.BakeWorkflowName, workflows.DrainDeadlineWorkflowName, workflows.NotifyWorkflowName,
	workflows.ApplyConfigWorkflowName, workflows.FleetRollbackWorkflowName}

// Histories recorded from the dev server must replay against the current
// workflow code: a change that alters the commands a workflow issues fails
// here unless it is guarded with workflow.GetVersion.
func TestReplayRecordedHistories(t *testing.T) {
	files := recordedHistories(t)
	types := map[string]int{}
	for _, f := range files {
		h := readHistory(t, f)
		types[h.workflowType()]++
		t.Run(relName(f), func(t *testing.T) {
			if err := replay(t, f, f); err != nil {
				t.Fatalf("%s no longer replays: %v", f, err)
			}
		})
	}
	for _, wt := range allWorkflowTypes {
		if types[wt] == 0 {
			t.Errorf("no recorded history of %s", wt)
		}
	}
	if len(files) < 10 {
		t.Errorf("%d recorded histories, want at least 10", len(files))
	}
}

// The replay test must catch a reordered step: in each recorded history,
// swapping the activity types of the first two different activities (what
// the history would hold had the workflow run its steps in the other order)
// must fail to replay against the current code. A workflow of one step
// (ExportEventsWorkflow) gets that step replaced by another instead.
func TestReplayCatchesAReorderedStep(t *testing.T) {
	mutated := map[string]bool{}
	for _, f := range recordedHistories(t) {
		h := readHistory(t, f)
		if !h.swapFirstTwoActivities() && !h.renameFirstActivity() {
			continue
		}
		wt := h.workflowType()
		t.Run(relName(f), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reordered.json")
			h.write(t, path)
			err := replay(t, f, path)
			if err == nil {
				t.Fatalf("%s with two steps reordered still replays: the replay test would not catch it", f)
			}
			if !strings.Contains(err.Error(), "ScheduleActivityTask") {
				t.Fatalf("want the reordered activity reported, got %v", err)
			}
			mutated[wt] = true
		})
	}
	for _, wt := range allWorkflowTypes {
		if !mutated[wt] {
			t.Errorf("no history of %s had two different steps to reorder", wt)
		}
	}
}

// replay replays the history in path against the current code, as the run
// recorded in file (whose workflow id, kept beside it, child ids derive from).
func replay(t *testing.T, file, path string) error {
	t.Helper()
	r := worker.NewWorkflowReplayer()
	app.RegisterWorkflows(r)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var opts worker.ReplayWorkflowHistoryOptions
	if id, err := os.ReadFile(strings.TrimSuffix(file, ".json") + ".workflow-id"); err == nil {
		opts.OriginalExecution = workflow.Execution{ID: strings.TrimSpace(string(id)),
			RunID: h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetOriginalExecutionRunId()}
	}
	return r.ReplayWorkflowHistoryWithOptions(nil, h, opts)
}

func recordedHistories(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/histories/*/*.json")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	have := map[string]bool{}
	for _, f := range files {
		have[relName(f)] = true
	}
	for release, names := range wantHistories {
		for _, n := range names {
			if !have[release+"/"+n+".json"] {
				t.Errorf("missing recorded history %s/%s.json", release, n)
			}
		}
	}
	return files
}

func relName(f string) string {
	return filepath.Base(filepath.Dir(f)) + "/" + filepath.Base(f)
}

// history is a recorded history as generic JSON, numbers kept verbatim.
type history map[string]any

func readHistory(t *testing.T, path string) history {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var h history
	if err := d.Decode(&h); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return h
}

func (h history) write(t *testing.T, path string) {
	t.Helper()
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h history) events() []any {
	ev, _ := h["events"].([]any)
	return ev
}

func field(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func (h history) workflowType() string {
	ev := h.events()
	if len(ev) == 0 {
		return ""
	}
	s, _ := field(ev[0], "workflowExecutionStartedEventAttributes", "workflowType", "name").(string)
	return s
}

// swapFirstTwoActivities swaps the types of the first two scheduled
// activities whose types differ; false when there are no two.
func (h history) swapFirstTwoActivities() bool {
	var first map[string]any
	for _, e := range h.events() {
		at, ok := field(e, "activityTaskScheduledEventAttributes", "activityType").(map[string]any)
		if !ok {
			continue
		}
		if first == nil {
			first = at
			continue
		}
		if at["name"] != first["name"] {
			first["name"], at["name"] = at["name"], first["name"]
			return true
		}
	}
	return false
}

// renameFirstActivity gives the first scheduled activity another type.
func (h history) renameFirstActivity() bool {
	for _, e := range h.events() {
		if at, ok := field(e, "activityTaskScheduledEventAttributes", "activityType").(map[string]any); ok {
			at["name"] = "Not" + at["name"].(string)
			return true
		}
	}
	return false
}
