package workflows_test

import (
	"testing"

	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/workflows"
)

func (f *fixture) lastExport(t *testing.T) []eslog.Event {
	t.Helper()
	if len(f.exported) == 0 {
		t.Fatal("the change exported no events")
	}
	return f.exported[len(f.exported)-1]
}

// Every step of a rollback is an event, in order, with the run's ids and
// what the rollback is about (R13).
func TestRollbackStepsAreExportedInOrder(t *testing.T) {
	f := threeDeploys(t)
	res, _, err := f.rollback(t, rb(2, ""))
	if err != nil {
		t.Fatal(err)
	}
	events := f.lastExport(t)
	seen := map[string]bool{}
	for i, e := range events {
		if e.Seq != i+1 || e.WorkflowID != res.Revision.WorkflowID || e.RunID != res.Revision.RunID || e.Deployment != "d1" ||
			e.Kind != eslog.KindRollback || e.RequestedBy != "alice" || e.Validate() != nil {
			t.Fatalf("event %d: %+v", i, e)
		}
		if i > 0 && e.Timestamp.Before(events[i-1].Timestamp) {
			t.Fatalf("event %d goes back in time", i)
		}
		seen[e.Step] = true
	}
	for _, s := range res.Progress.Steps {
		if !seen[s.Name] {
			t.Errorf("step %q has no event", s.Name)
		}
	}
	last := events[len(events)-1]
	if last.Message != "rollback finished" || last.Revision != 4 || last.RollbackOf != 2 || last.ImageDigest == "" || last.DagBundleVersion != v2 {
		t.Fatalf("last event: %+v", last)
	}
	if events[0].Step != workflows.StepValidate {
		t.Fatalf("first event: %+v", events[0])
	}
}

// A refused change is logged too: who tried what, and why it was refused.
func TestRefusalsAreExported(t *testing.T) {
	f := threeDeploys(t)
	_, _, err := f.rollback(t, `{"deploymentId":"d1","revision":2,"description":"x","requestedBy":"mallory"}`)
	if errType(err) != "PermissionDenied" {
		t.Fatalf("got %v", err)
	}
	events := f.lastExport(t)
	last := events[len(events)-1]
	if last.Level != eslog.LevelError || last.RequestedBy != "mallory" || last.Message != "rollback failed" || last.Error == "" {
		t.Fatalf("last event: %+v", last)
	}
}

// A compensated rollback says what it put back.
func TestCompensationIsExported(t *testing.T) {
	f := threeDeploys(t)
	f.docker.failAt = "Verify"
	if _, _, err := f.rollback(t, rb(2, "")); err == nil {
		t.Fatal("want a failure")
	}
	var compensated int
	for _, e := range f.lastExport(t) {
		if e.Level == eslog.LevelWarn && (e.Step == workflows.StepSwap || e.Step == workflows.StepSwapBundle) {
			compensated++
		}
	}
	if compensated != 2 {
		t.Fatalf("want 2 compensation events, have %d", compensated)
	}
}
