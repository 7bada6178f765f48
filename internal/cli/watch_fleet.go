package cli

import (
	"fmt"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

// watchFleet is `rewind watch fleet/<id>`: a fleet has no steps of its own,
// so it is followed through its query, one line per child each time its
// state changes (started, waiting for its lock, and its outcome as it
// finishes), then the fleet's totals. It exits 1 when a deployment was not
// rolled back, like `rewind rollback --fleet --wait`.
func (s *session) watchFleet(be backend, id string, every time.Duration) error {
	seen := map[string]string{}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		p, err := be.fleetProgress(id)
		if err != nil {
			return err
		}
		s.showFleetChanges(p, seen)
		if p.Done {
			fmt.Fprintf(s.out, "%s  %s finished: %d rolled back, %d failed, %d not started\n", time.Now().UTC().Format("15:04:05"), id,
				p.Count("rolled-back"), p.Count("failed"), p.Count("not-started"))
			if p.Stopped != "" {
				fmt.Fprintf(s.out, "stopped: %s\n", p.Stopped)
			}
			if n := p.Count("failed") + p.Count("not-started"); n > 0 {
				return domain.Errorf(domain.InvalidInput, "fleet %s: %d of %d deployments were not rolled back (see above)", id, n, len(p.Children))
			}
			return nil
		}
		select {
		case <-tick.C:
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
}

// showFleetChanges prints each child whose state changed since seen.
func (s *session) showFleetChanges(p action.FleetResult, seen map[string]string) {
	now := time.Now().UTC().Format("15:04:05")
	finished := map[string]bool{}
	for _, c := range p.Children {
		if seen[c.DeploymentID] == c.State {
			continue
		}
		if seen[c.DeploymentID] == "" && c.State == "pending" {
			seen[c.DeploymentID] = c.State
			continue
		}
		seen[c.DeploymentID] = c.State
		switch c.State {
		case "running":
			fmt.Fprintf(s.out, "%s  %s  running: %s %s\n", now, c.DeploymentID, c.WorkflowID, c.RunID)
		case "waiting-for-lock":
			fmt.Fprintf(s.out, "%s  %s  waiting for its change lock (another change holds it; attempt %d)\n", now, c.DeploymentID, c.LockWaits)
		case "pending":
			fmt.Fprintf(s.out, "%s  %s  pending\n", now, c.DeploymentID)
		default:
			if s.output != "json" {
				fmt.Fprint(s.out, now+"  ")
			}
			finished[c.DeploymentID] = false
			s.showFleetChildren(action.FleetResult{Children: []action.FleetChild{c}}, finished)
		}
	}
}
