package cli

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

func rollbackCmd(s *session) *cobra.Command {
	var (
		in        action.RollbackInput
		scope     string
		yes, wait bool
		timeout   time.Duration
		fleet     fleetFlags
	)
	cmd := &cobra.Command{
		Use: "rollback <deployment> [--to N] --description TEXT [--scope all|image|dags] [--dry-run] [--yes] [--as USER] [--wait [--timeout D]]\n" +
			"  rollback --fleet (--image-digest D | --commit SHA | --deployed-between T1,T2) [--deployments a,b] --description TEXT [--parallel N] [--wave 1,5,rest] [--max-failure-rate R] [--dry-run] [--yes] [--wait]",
		Short: "Roll back to an earlier revision, as a new revision; or, with --fleet, every deployment running a bad revision",
		Args: func(cmd *cobra.Command, args []string) error {
			if fleet.fleet {
				return exactArgs(0, "no deployment id with --fleet (the selector picks them)")(cmd, args)
			}
			return exactArgs(1, "a deployment id")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if fleet.fleet {
				if strings.TrimSpace(in.Description) == "" {
					return usageError{fmt.Errorf("--description TEXT is required: say why you roll back (R2)")}
				}
				if cmd.Flags().Changed("to") || cmd.Flags().Changed("scope") {
					return usageError{fmt.Errorf("--fleet picks each deployment's target itself; --to and --scope do not apply")}
				}
				return s.runFleet(&fleet, in.Description, in.DryRun, yes, wait, timeout)
			}
			for _, name := range []string{"image-digest", "commit", "deployed-between", "deployments", "parallel", "wave", "max-failure-rate"} {
				if cmd.Flags().Changed(name) {
					return usageError{fmt.Errorf("--%s needs --fleet", name)}
				}
			}
			in.DeploymentID, in.Scope = args[0], policy.Scope(scope)
			if strings.TrimSpace(in.Description) == "" {
				return usageError{fmt.Errorf("--description TEXT is required: say why you roll back (1-500 characters, R2)")}
			}
			switch in.Scope {
			case policy.ScopeAll, policy.ScopeImage, policy.ScopeDags:
			default:
				return usageError{fmt.Errorf("--scope must be all, image or dags, not %q", scope)}
			}
			be, err := s.backend()
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("to") {
				// As helm and Argo CD do: the previous good revision.
				if in.Revision, err = previousTarget(s, in.DeploymentID); err != nil {
					return err
				}
				fmt.Fprintf(s.err, "No --to: rolling back to revision %d, the newest valid target before the current revision.\n", in.Revision)
			}
			in.RequestedBy = be.requester()
			if err := in.Validate(); err != nil {
				return err
			}
			var run change
			if yes && wait && !in.DryRun {
				// Nothing to show and nobody to ask: one workflow plans and
				// rolls back, and any refusal comes back as its result.
				if run, err = be.rollback(in); err != nil {
					return err
				}
			} else {
				// The plan first, as a dry run that holds no lock: the worker
				// decides every rule on its own configuration and current
				// data, so a refusal is an immediate one-line error, and the
				// rollback then carries the plan it showed (R15).
				plan, err := be.planRollback(in)
				if err != nil {
					return err
				}
				if in.DryRun {
					if s.output == "json" {
						return s.json(plan)
					}
					printPlan(s.out, plan.Plan)
					return nil
				}
				if !yes {
					printPlan(s.out, plan.Plan)
					fmt.Fprintf(s.out, "Type the deployment id (%s) to roll back: ", in.DeploymentID)
					line, _ := bufio.NewReader(s.in).ReadString('\n')
					if strings.TrimSpace(line) != in.DeploymentID {
						fmt.Fprintln(s.out)
						return domain.Errorf(domain.InvalidInput, "rollback not confirmed; nothing changed (pass --yes to skip the confirmation)")
					}
				}
				if run, err = be.rollback(action.Confirmed(in, plan)); err != nil {
					return err
				}
			}
			if !wait {
				if s.output == "json" {
					return s.json(map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()})
				}
				fmt.Fprintf(s.out, "rollback of %s to revision %d started: workflow %s, run %s; follow it with `rewind watch %s`\n",
					in.DeploymentID, in.Revision, run.GetID(), run.GetRunID(), run.GetID())
				return nil
			}
			var res action.RollbackResult
			if err := s.waitAtMost(timeout, run.GetID(), func() error {
				if err := s.showRun(be, run); err != nil {
					return err
				}
				return run.Get(s.ctx, &res)
			}); err != nil {
				return err
			}
			if s.output == "json" {
				return s.json(res)
			}
			r := res.Revision
			fmt.Fprintf(s.out, "rolled back %s: revision %d restores revision %d (image %s, DAG bundle %s)\n",
				r.DeploymentID, r.Number, r.RollbackOf, orDash(r.ImageRef), orDash(r.DagBundleVersion))
			if res.Plan.Downgrade {
				fmt.Fprintf(s.out, "Runtime downgrade %s → %s: workers killed: %s; metadata downgraded\n", res.Plan.FromRuntime, res.Plan.ToRuntime, list(res.Plan.WorkersKilled))
				if res.Report != nil && res.Report.Snapshot != nil {
					fmt.Fprintf(s.out, "metadata snapshot taken first: %s (%d bytes)\n", res.Report.Snapshot.Path, res.Report.Snapshot.Bytes)
				}
			} else if len(res.Plan.WorkersDrained) > 0 {
				fmt.Fprintf(s.out, "workers draining their running tasks on the old code: %s\n", list(res.Plan.WorkersDrained))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&in.Revision, "to", 0, "the revision to roll back to (default: the newest valid target before the current revision, shown in the plan)")
	fl.StringVar(&in.Description, "description", "", "why (required, 1-500 characters)")
	fl.StringVar(&scope, "scope", "all", "all, image (keep the current DAGs) or dags (keep the current image)")
	fl.BoolVar(&in.DryRun, "dry-run", false, "show the plan and change nothing")
	fl.BoolVar(&in.AllowUnknownVersion, "allow-unknown-version", false, "roll back even when the versions cannot be compared (recorded on the revision, R20)")
	fl.BoolVar(&in.Diff, "diff", false, "show the unified diff of the DAG text files the rollback changes")
	fl.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	fl.StringVar(&s.as, "as", "", "the requester (default $REWIND_USER, else the OS user); refused through rewind serve, where it is the token's user")
	fl.BoolVar(&wait, "wait", false, "wait until the rollback finishes")
	fl.DurationVar(&timeout, "timeout", 0, "with --wait: stop waiting after this long (exit 3; the rollback goes on)")
	fleet.add(cmd)
	return cmd
}

func printPlan(w io.Writer, p action.RollbackPlan) {
	fmt.Fprintf(w, "Rollback plan for %s: revision %d → revision %d (scope %s)\n", p.Deployment.ID, p.Current.Number, p.Target.Number, p.Scope)
	rows := [][]string{
		{"image", p.FromImageRef, p.ToImageRef, changed(p.FromImageRef+p.FromImageDigest, p.ToImageRef+p.ToImageDigest)},
		{"image digest", orDash(p.FromImageDigest), orDash(p.ToImageDigest), changed(p.FromImageDigest, p.ToImageDigest)},
		{"Runtime", unknownIfEmpty(p.FromRuntime), unknownIfEmpty(p.ToRuntime), changed(p.FromRuntime, p.ToRuntime)},
		{"Airflow", unknownIfEmpty(p.FromAirflow), unknownIfEmpty(p.ToAirflow), changed(p.FromAirflow, p.ToAirflow)},
		{"versions from", orDash(p.FromVersionSource), orDash(p.ToVersionSource), ""},
		{"DAG bundle", orDash(p.FromBundleVersion), orDash(p.ToBundleVersion), changed(p.FromBundleVersion, p.ToBundleVersion)},
		{"DAG deploys", onOff(p.FromDagDeploy), onOff(p.ToDagDeploy), changed(onOff(p.FromDagDeploy), onOff(p.ToDagDeploy))},
	}
	table(w, []string{"", "FROM", "TO", ""}, rows)
	if p.VersionsUnknown {
		fmt.Fprintf(w, "The versions cannot be compared (unknown): rewind cannot tell an upgrade from a downgrade%s.\n",
			map[bool]string{true: "; allowed (--allow-unknown-version), treated as no downgrade", false: ""}[p.AllowUnknownVersion])
	}
	switch {
	case p.Downgrade:
		fmt.Fprintf(w, "This is a downgrade (a lower Runtime version, or without Runtime versions a lower Airflow version): every component stops and running tasks fail now (workers killed: %s; Airflow retries them on the old code); "+
			"then the metadata database is downgraded with the current image, and the older image starts.\n", list(p.WorkersKilled))
		fmt.Fprintf(w, "Point of no return: %s.\n", p.PointOfNoReturn)
	case p.MetadataMigrate:
		fmt.Fprintf(w, "This is an Airflow upgrade: %s. Running tasks finish on the code they started with (workers drained: %s).\n", p.MigrateNote, list(p.WorkersDrained))
		fmt.Fprintf(w, "Point of no return: %s.\n", p.PointOfNoReturn)
	case p.ImageChanges:
		fmt.Fprintf(w, "Running tasks finish on the code they started with (workers drained: %s); new tasks start on the rolled-back image.\n", list(p.WorkersDrained))
	}
	if p.TargetImageOn != "" {
		fmt.Fprintf(w, "The target image comes from %s.\n", p.TargetImageOn)
	}
	printDagDiff(w, p.DagDiff, p.DagDiffNote)
	fmt.Fprintln(w, "The target is started once and checked before anything changes. Resource settings, environment variables, name and description stay as they are now (R5).")
	fmt.Fprintf(w, "Plan %s\n", p.Digest)
}

// planTimeout bounds the wait for a worker to run a rollback's plan.
const planTimeout = 60 * time.Second

func unknownIfEmpty(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func changed(a, b string) string {
	if a == b {
		return "unchanged"
	}
	return "changes"
}

func list(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// previousTarget is the revision a rollback without --to goes to: the
// newest revision before the current one that is a valid target now
// (DEPLOYED, inside the retention window, above the Runtime floor) and runs
// something other than the current revision does.
func previousTarget(s *session, deploymentID string) (int, error) {
	if err := domain.CheckDeploymentID(deploymentID); err != nil {
		return 0, err
	}
	page, err := invoke(s, action.ListDeploys{Deployment: deploymentID, Limit: action.MaxHistoryLimit}, (*client.Client).ListDeploys)
	if err != nil {
		return 0, err
	}
	var cur *action.HistoryRow
	for i := range page.Deploys {
		if page.Deploys[i].Number == page.CurrentRevision {
			cur = &page.Deploys[i]
		}
	}
	if cur == nil {
		return 0, domain.Errorf(domain.InvalidInput, "deployment %s has no current revision to roll back from", deploymentID)
	}
	for _, r := range page.Deploys { // newest first
		if r.Number < cur.Number && r.RollbackTarget.Eligible &&
			(r.ImageDigest != cur.ImageDigest || r.DagBundleDigest != cur.DagBundleDigest) {
			return r.Number, nil
		}
	}
	return 0, domain.Errorf(domain.NotFound, "deployment %s has no valid rollback target before revision %d (see `rewind history %s`); name one with --to",
		deploymentID, cur.Number, deploymentID)
}
