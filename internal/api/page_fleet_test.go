package api

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

// A fleet's child revision links its fleet on the Deploy History page;
// nothing else does, whatever its description says.
func TestFleetOfRevision(t *testing.T) {
	const id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
	child := row{Revision: domain.Revision{DeploymentID: "d1", RollbackOf: 1, WorkflowID: "change/d1", Description: "fleet " + id + ": bad base image"}}
	if got := fleetOfRevision(child); got != id {
		t.Fatalf("a fleet's child: %q", got)
	}
	for name, r := range map[string]row{
		"a deploy":         {Revision: domain.Revision{DeploymentID: "d1", WorkflowID: "change/d1", Description: child.Description}},
		"another workflow": {Revision: domain.Revision{DeploymentID: "d1", RollbackOf: 1, WorkflowID: "change/d2", Description: child.Description}},
		"not a fleet id":   {Revision: domain.Revision{DeploymentID: "d1", RollbackOf: 1, WorkflowID: "change/d1", Description: "fleet ../x: y"}},
		"fleet mid-text":   {Revision: domain.Revision{DeploymentID: "d1", RollbackOf: 1, WorkflowID: "change/d1", Description: "see fleet " + id + ": y"}},
	} {
		if got := fleetOfRevision(r); got != "" {
			t.Errorf("%s: %q", name, got)
		}
	}
}

// The fleet's page lists every child with links to its deployment, its
// revision and its change's progress, and says why one was not rolled back.
func TestFleetPageLinksItsChildren(t *testing.T) {
	p, err := newPage(&Server{})
	if err != nil {
		t.Fatal(err)
	}
	v := fleetView{ID: "f1", Fleet: action.FleetResult{FleetID: "fleet/f1", Description: "bad <image>", RequestedBy: "alice", Done: true,
		Children: []action.FleetChild{
			{DeploymentID: "d1", Target: 1, State: "rolled-back", WorkflowID: "change/d1", RunID: "r1", Revision: 3, Wave: 1},
			{DeploymentID: "d2", Target: 1, State: "failed", ErrorType: "ChangeInProgress", Error: "another change held change/d2", LockWaits: 4, Wave: 1},
		}}}
	var b strings.Builder
	if err := p.pages["fleet"].ExecuteTemplate(&b, "layout", v); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{`href="/deployments/d1"`, `href="/deployments/d1#rev-3"`, `href="/deployments/d1/changes/r1"`,
		"ChangeInProgress: another change held change/d2", "lock held: 4 attempts", "bad &lt;image&gt;"} {
		if !strings.Contains(out, want) {
			t.Errorf("the fleet page lacks %q:\n%s", want, out)
		}
	}
}
