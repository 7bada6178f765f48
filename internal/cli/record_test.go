package cli

import (
	"github.com/rewindhq/rewind/internal/itest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// recordHistory saves a workflow's latest run history as JSON (the Temporal
// CLI's format) when REWIND_RECORD_HISTORIES names a directory; the replay
// tests in workflows/ read them from workflows/testdata/histories. Run
// `make record-histories` after changing a workflow on purpose.
func recordHistory(t *testing.T, s *stack, workflowID, name string) {
	t.Helper()
	dir := os.Getenv("REWIND_RECORD_HISTORIES")
	if dir == "" {
		return
	}
	out, err := exec.Command(itest.TemporalCLI(t), "workflow", "show", "--address", s.Addr, "--workflow-id", workflowID, "--output", "json").Output()
	if err != nil {
		t.Fatalf("temporal workflow show: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}
