package cli

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

// fleetFlags are `rewind rollback --fleet`'s own flags.
type fleetFlags struct {
	fleet                      bool
	imageDigest, commit        string
	between, deployments, wave string
	parallel                   int
	maxFailure                 float64
}

func (f *fleetFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.fleet, "fleet", false, "roll back every deployment whose current revision the selector names (no <deployment> argument)")
	fl.StringVar(&f.imageDigest, "image-digest", "", "with --fleet: the bad image digest (sha256:…)")
	fl.StringVar(&f.commit, "commit", "", "with --fleet: the bad git commit (7 to 64 hex digits, a prefix)")
	fl.StringVar(&f.between, "deployed-between", "", "with --fleet: T1,T2 (RFC 3339): current revisions created in between")
	fl.StringVar(&f.deployments, "deployments", "", "with --fleet: only these deployments (a,b,…)")
	fl.IntVar(&f.parallel, "parallel", 4, "with --fleet: rollbacks at once (1-32)")
	fl.StringVar(&f.wave, "wave", "", "with --fleet: wave sizes, e.g. 1,5,rest; a wave failing above --max-failure-rate stops the fleet")
	fl.Float64Var(&f.maxFailure, "max-failure-rate", 0.5, "with --fleet: the share of a wave's rollbacks that may fail before later waves are not started (0-1)")
}

// request turns the flags into a fleet request; every malformed piece is a
// usage error (exit 2).
func (f *fleetFlags) request(description string) (action.FleetRequest, error) {
	req := action.FleetRequest{Description: description, Parallel: f.parallel, MaxFailure: f.maxFailure,
		Selector: action.FleetSelector{ImageDigest: f.imageDigest, Commit: strings.ToLower(f.commit)}}
	if f.between != "" {
		a, b, ok := strings.Cut(f.between, ",")
		t1, err1 := time.Parse(time.RFC3339, strings.TrimSpace(a))
		t2, err2 := time.Parse(time.RFC3339, strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil {
			return req, usageError{fmt.Errorf("--deployed-between must be T1,T2 in RFC 3339 (2026-01-02T15:04:05Z), not %q", clipArg(f.between))}
		}
		req.Selector.DeployedFrom, req.Selector.DeployedTo = &t1, &t2
	}
	if err := req.Selector.Validate(); err != nil {
		return req, usageError{fmt.Errorf("--fleet needs exactly one of --image-digest, --commit, --deployed-between: %s", action.Message(err))}
	}
	if f.deployments != "" {
		for _, d := range strings.Split(f.deployments, ",") {
			d = strings.TrimSpace(d)
			if err := domain.CheckDeploymentID(d); err != nil {
				return req, usageError{fmt.Errorf("--deployments: %s", action.Message(err))}
			}
			req.Deployments = append(req.Deployments, d)
		}
	}
	if f.wave != "" {
		parts := strings.Split(f.wave, ",")
		if len(parts) > 20 {
			return req, usageError{fmt.Errorf("--wave: at most 20 waves")}
		}
		for i, p := range parts {
			p = strings.TrimSpace(p)
			if p == "rest" && i == len(parts)-1 {
				req.Waves = append(req.Waves, 0)
				continue
			}
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 500 {
				return req, usageError{fmt.Errorf("--wave must be sizes like 1,5,rest (\"rest\" only last), not %q", clipArg(f.wave))}
			}
			req.Waves = append(req.Waves, n)
		}
	}
	if f.parallel < 1 || f.parallel > 32 {
		return req, usageError{fmt.Errorf("--parallel must be 1 to 32, not %d", f.parallel)}
	}
	if f.maxFailure < 0 || f.maxFailure > 1 {
		return req, usageError{fmt.Errorf("--max-failure-rate must be between 0 and 1")}
	}
	return req, nil
}

func clipArg(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// runFleet is `rewind rollback --fleet`: one plan, one confirmation, one
// FleetRollbackWorkflow.
func (s *session) runFleet(f *fleetFlags, description string, dryRun, yes, wait bool, timeout time.Duration) error {
	req, err := f.request(description)
	if err != nil {
		return err
	}
	be, err := s.backend()
	if err != nil {
		return err
	}
	req.RequestedBy = be.requester()
	plan, err := be.planFleet(req)
	if err != nil {
		return err
	}
	if s.output == "json" && dryRun {
		return s.json(plan)
	}
	if s.output != "json" {
		printFleetPlan(s, plan)
	}
	if dryRun {
		return nil
	}
	if len(plan.Items) == 0 {
		return domain.Errorf(domain.NotFound, "no deployment to roll back (%d refused); nothing changed", len(plan.Refused))
	}
	if !yes {
		fmt.Fprintf(s.out, "Type \"fleet\" to roll back these %d deployments: ", len(plan.Items))
		line, _ := bufio.NewReader(s.in).ReadString('\n')
		if strings.TrimSpace(line) != "fleet" {
			fmt.Fprintln(s.out)
			return domain.Errorf(domain.InvalidInput, "fleet rollback not confirmed; nothing changed (pass --yes to skip the confirmation)")
		}
	}
	run, err := be.startFleet(req, plan)
	if err != nil {
		return err
	}
	if !wait {
		if s.output == "json" {
			return s.json(map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()})
		}
		fmt.Fprintf(s.out, "fleet rollback of %d deployments started: workflow %s, run %s\n", len(plan.Items), run.GetID(), run.GetRunID())
		return nil
	}
	var res action.FleetResult
	if err := s.waitAtMost(timeout, run.GetID(), func() error {
		// Each child's outcome as it finishes, from the fleet's query.
		shown := map[string]bool{}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		done := make(chan error, 1)
		go func() { done <- run.Get(s.ctx, &res) }()
		for {
			select {
			case err := <-done:
				if err != nil {
					return err
				}
				s.showFleetChildren(res, shown)
				return nil
			case <-tick.C:
				if p, err := be.fleetProgress(run.GetID()); err == nil {
					s.showFleetChildren(p, shown)
				}
			case <-s.ctx.Done():
				return s.ctx.Err()
			}
		}
	}); err != nil {
		return err
	}
	if s.output == "json" {
		return s.json(res)
	}
	fmt.Fprintf(s.out, "fleet %s: %d rolled back, %d failed, %d not started, %d refused at plan\n", res.FleetID,
		res.Count("rolled-back"), res.Count("failed"), res.Count("not-started"), len(plan.Refused))
	if res.Stopped != "" {
		fmt.Fprintf(s.out, "stopped: %s\n", res.Stopped)
	}
	if n := res.Count("failed") + res.Count("not-started"); n > 0 {
		return domain.Errorf(domain.InvalidInput, "fleet %s: %d of %d deployments were not rolled back (see above)", res.FleetID, n, len(res.Children))
	}
	return nil
}

func (s *session) showFleetChildren(r action.FleetResult, shown map[string]bool) {
	if s.output == "json" {
		return
	}
	for _, c := range r.Children {
		if shown[c.DeploymentID] || (c.State != "rolled-back" && c.State != "failed" && c.State != "not-started") {
			continue
		}
		shown[c.DeploymentID] = true
		switch c.State {
		case "rolled-back":
			fmt.Fprintf(s.out, "%s  rolled back: revision %d restores %d (%s) — %s\n", c.DeploymentID, c.Revision, c.Target, orDash(c.ImageDigest), c.WorkflowID+" "+c.RunID)
		default:
			fmt.Fprintf(s.out, "%s  %s: %s %s\n", c.DeploymentID, c.State, c.ErrorType, c.Error)
		}
	}
}

func printFleetPlan(s *session, p action.FleetPlan) {
	fmt.Fprintf(s.out, "Fleet rollback plan (%s): %d to roll back, %d refused\n", p.Selector, len(p.Items), len(p.Refused))
	rows := [][]string{}
	for _, it := range p.Items {
		pl := it.Plan
		what := "drain workers: " + list(pl.WorkersDrained)
		if pl.Downgrade {
			what = "DOWNGRADE " + pl.FromRuntime + "→" + pl.ToRuntime + ", kill workers: " + list(pl.WorkersKilled)
		}
		rows = append(rows, []string{it.DeploymentID, strconv.Itoa(it.Current), strconv.Itoa(it.Target), orDash(pl.ToImageRef), what, pl.Digest})
	}
	if len(rows) > 0 {
		table(s.out, []string{"DEPLOYMENT", "FROM", "TO", "TARGET IMAGE", "WHAT", "PLAN DIGEST"}, rows)
	}
	if len(p.Refused) > 0 {
		fmt.Fprintln(s.out, "Refused:")
		rows = nil
		for _, r := range p.Refused {
			rows = append(rows, []string{r.DeploymentID, r.Type, r.Reason})
		}
		table(s.out, []string{"DEPLOYMENT", "TYPE", "WHY"}, rows)
	}
}
