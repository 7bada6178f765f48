package workflows_test

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/rewindhq/rewind/internal/app"
)

// Histories recorded from the dev server (make record-histories) must
// replay against the current workflow code: a change that alters the
// commands a workflow issues fails here unless it is guarded with
// workflow.GetVersion.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"rollback-upgrade.json": false, "rollback-downgrade.json": false, "rollback-dry-run.json": false, "rollback-compensated.json": false}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			app.RegisterWorkflows(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("%s no longer replays: %v", f, err)
			}
		})
		want[filepath.Base(f)] = true
	}
	for name, found := range want {
		if !found {
			t.Errorf("missing recorded history %s", name)
		}
	}
}
