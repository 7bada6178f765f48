package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// historyRelease names the folder this code records histories into. Each
// release's folder is kept and never overwritten, so the replay tests in
// workflows/ prove the current code still replays what every earlier
// release recorded. Bump it when a workflow changes on purpose (behind
// workflow.GetVersion) and record the new folder with
// `make record-histories`.
const historyRelease = "v0.5"

// recordHistory saves a workflow's latest run history as JSON (the Temporal
// CLI's format) when REWIND_RECORD_HISTORIES names a directory.
func recordHistory(t *testing.T, s *stack, workflowID, name string) {
	t.Helper()
	recordRun(t, s, workflowID, "", name)
}

// recordRun saves one run's history (the latest when runID is empty), and
// its workflow id beside it. A file already recorded is kept as it is.
func recordRun(t *testing.T, s *stack, workflowID, runID, name string) {
	t.Helper()
	dir := os.Getenv("REWIND_RECORD_HISTORIES")
	if dir == "" {
		return
	}
	dir = filepath.Join(dir, historyRelease)
	path := filepath.Join(dir, name+".json")
	if _, err := os.Stat(path); err == nil {
		t.Logf("%s is recorded already: kept", path)
		return
	}
	args := []string{"workflow", "show", "--address", s.Addr, "--workflow-id", workflowID, "--output", "json"}
	if runID != "" {
		args = append(args, "--run-id", runID)
	}
	out, err := exec.Command(itest.TemporalCLI(t), args...).Output()
	if err != nil {
		t.Fatalf("temporal workflow show: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	// The history does not hold its own workflow id, and child workflow
	// ids derive from it: replay needs it to issue the same commands.
	if err := os.WriteFile(filepath.Join(dir, name+".workflow-id"), []byte(workflowID+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// planWorkflowID finds the dry run a test just ran (plan/<deployment>/<nonce>).
func planWorkflowID(t *testing.T, s *stack, dep string) string {
	t.Helper()
	if os.Getenv("REWIND_RECORD_HISTORIES") == "" {
		return ""
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: `WorkflowId STARTS_WITH "` + workflows.PlanWorkflowID(dep, "") + `"`})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Executions) > 0 {
			return resp.Executions[0].GetExecution().GetWorkflowId()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dry run of %s found", dep)
		}
	}
}
