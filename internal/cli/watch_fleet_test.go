package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/action"
)

// fleetSteps is a backend whose fleet goes through the given states, one
// per look.
type fleetSteps struct {
	backend
	steps []action.FleetResult
}

func (f *fleetSteps) fleetProgress(string) (action.FleetResult, error) {
	r := f.steps[0]
	if len(f.steps) > 1 {
		f.steps = f.steps[1:]
	}
	return r, nil
}

// `rewind watch fleet/<id>` prints each child once per state it reaches,
// each outcome as it finishes, the totals, and fails when a deployment
// was not rolled back.
func TestWatchFleetShowsEachChildAsItFinishes(t *testing.T) {
	child := func(dep, state string) action.FleetChild {
		c := action.FleetChild{DeploymentID: dep, Target: 1, State: state}
		switch state {
		case "running", "rolled-back":
			c.WorkflowID, c.RunID = "change/"+dep, "run-"+dep
		}
		if state == "rolled-back" {
			c.Revision = 3
		}
		if state == "waiting-for-lock" || state == "failed" {
			c.LockWaits = 2
		}
		if state == "failed" {
			c.ErrorType, c.Error = "ChangeInProgress", "another change held change/"+dep
		}
		return c
	}
	be := &fleetSteps{steps: []action.FleetResult{
		{Children: []action.FleetChild{child("a", "pending"), child("b", "running")}},
		{Children: []action.FleetChild{child("a", "waiting-for-lock"), child("b", "running")}},
		{Children: []action.FleetChild{child("a", "waiting-for-lock"), child("b", "rolled-back")}},
		{Done: true, Children: []action.FleetChild{child("a", "failed"), child("b", "rolled-back")}},
	}}
	var out bytes.Buffer
	s := &session{ctx: context.Background(), out: &out}
	err := s.watchFleet(be, "fleet/f1", time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 deployments were not rolled back") {
		t.Fatalf("a fleet with a failed child must fail the watch: %v", err)
	}
	got := out.String()
	want := []string{"b  running: change/b run-b", "a  waiting for its change lock", "b  rolled back: revision 3 restores 1",
		"a  failed: ChangeInProgress another change held change/a", "fleet/f1 finished: 1 rolled back, 1 failed, 0 not started"}
	at := 0
	for _, w := range want {
		i := strings.Index(got[at:], w)
		if i < 0 {
			t.Fatalf("missing or out of order %q:\n%s", w, got)
		}
		at += i + len(w)
	}
	if strings.Count(got, "b  running") != 1 || strings.Count(got, "waiting for its change lock") != 1 {
		t.Fatalf("each state is shown once:\n%s", got)
	}
}
