package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/client"
	"github.com/rewindhq/rewind/internal/domain"
)

func deployCmd(s *session) *cobra.Command {
	var (
		in   action.DeployInput
		typ  string
		dags string
		wait bool
		git  gitFlags
		// timeout bounds --wait, not the deploy.
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy <deployment> [--image REF] [--dags DIR] [--type IMAGE_AND_DAG|IMAGE_ONLY|DAG_ONLY] [--description TEXT] [--as USER] [--wait [--timeout D]]",
		Short: "Deploy an image (and DAGs) as a new revision",
		Args:  exactArgs(1, "a deployment id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.DeploymentID, in.Type = args[0], domain.DeployType(typ)
			if cmd.Flags().Changed("type") && !in.Type.Valid() {
				return usageError{fmt.Errorf("--type must be IMAGE_AND_DAG, IMAGE_ONLY or DAG_ONLY, not %q", typ)}
			}
			if in.ImageRef == "" && dags == "" {
				return usageError{fmt.Errorf("deploy needs --image REF, --dags DIR or both")}
			}
			if err := domain.CheckDeploymentID(in.DeploymentID); err != nil {
				return err
			}
			if err := git.check(); err != nil {
				return usageError{err}
			}
			be, err := s.backend()
			if err != nil {
				return err
			}
			in.RequestedBy = be.requester()
			d, err := invoke(s, action.ShowDeployment{ID: in.DeploymentID}, (*client.Client).ShowDeployment)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("type") {
				in.Type = inferType(d, in.ImageRef != "", dags != "")
			}
			if in.Type.ChangesImage() && in.ImageRef == "" {
				return usageError{fmt.Errorf("--image REF is required for a %s deploy (a DAG-only deploy is --type DAG_ONLY with --dags)", in.Type)}
			}
			if dags != "" {
				if d.DagSource != domain.DagSourceBundle {
					return domain.Errorf(domain.InvalidInput, "deployment %s takes its DAGs from %s; --dags needs dagSource bundle", d.ID, d.DagSource)
				}
				// Packed into the bundle store the worker unpacks from; the
				// same files always give the same digest.
				store, err := s.bundleStore()
				if err != nil {
					return err
				}
				digest, _, err := action.PackDags(s.ctx, store, dags)
				if err != nil {
					return err
				}
				in.DagBundleDigest, in.DagBundleVersion = digest, domain.NewDagBundleVersion(time.Now())
			}
			in.Git = git.provenance(s.ctx, dags, os.Getenv)
			if err := in.Validate(); err != nil {
				return err
			}
			run, err := be.deploy(in)
			if err != nil {
				return err
			}
			if !wait && !in.DryRun {
				if s.output == "json" {
					return s.json(map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()})
				}
				fmt.Fprintf(s.out, "deploy of %s started: workflow %s, run %s\n", in.DeploymentID, run.GetID(), run.GetRunID())
				return nil
			}
			var res action.DeployResult
			if err := s.waitAtMost(timeout, run.GetID(), func() error {
				if !in.DryRun {
					if err := s.showRun(be, run); err != nil {
						return err
					}
				}
				return run.Get(s.ctx, &res)
			}); err != nil {
				return err
			}
			if s.output == "json" {
				return s.json(res)
			}
			if res.DryRun {
				fmt.Fprintf(s.out, "Deploy plan for %s (nothing changed):\n", in.DeploymentID)
				printDagDiff(s.out, res.Plan.DagDiff, res.Plan.DagDiffNote)
				if res.Plan.ForcedPast > 0 {
					fmt.Fprintf(s.out, "This deploy overrides the guard of rollback #%d (--force).\n", res.Plan.ForcedPast)
				}
				return nil
			}
			r := res.Revision
			fmt.Fprintf(s.out, "deployed %s revision %d: image %s, DAG bundle %s (workflow %s, run %s)\n",
				r.DeploymentID, r.Number, orDash(r.ImageRef), orDash(r.DagBundleVersion), r.WorkflowID, r.RunID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&in.ImageRef, "image", "", "image reference, e.g. registry:5000/airflow:1.2.3")
	fl.StringVar(&dags, "dags", "", "directory of DAGs to deploy as a bundle (bundle deployments)")
	fl.StringVar(&typ, "type", "", "IMAGE_AND_DAG, IMAGE_ONLY or DAG_ONLY (default: from --image and --dags)")
	fl.StringVar(&in.Description, "description", "", "why (at most 500 characters; a Git commit id is a good one)")
	fl.StringVar(&s.as, "as", "", "the requester (default $REWIND_USER, else the OS user); refused through rewind serve, where it is the token's user")
	fl.BoolVar(&wait, "wait", false, "wait until the deploy finishes")
	fl.DurationVar(&timeout, "timeout", 0, "with --wait: stop waiting after this long (exit 3; the deploy goes on)")
	fl.BoolVar(&in.DryRun, "dry-run", false, "show the plan (with the DAG files it adds, removes and changes) and change nothing")
	fl.BoolVar(&in.Diff, "diff", false, "with --dry-run: the unified diff of changed DAG text files")
	fl.BoolVar(&in.AllowUnknownVersion, "allow-unknown-version", false, "deploy an image whose Airflow version cannot be determined (recorded on the revision, R20)")
	fl.BoolVar(&in.Force, "force", false, "deploy what the current rollback moved away from anyway (needs --description)")
	fl.StringVar(&git.commit, "git-commit", "", "the commit deployed (default: the CI system's commit variable, else HEAD of the work tree of --dags)")
	fl.StringVar(&git.branch, "git-branch", "", "its branch")
	fl.StringVar(&git.author, "git-author", "", "its author")
	fl.StringVar(&git.remote, "git-remote", "", "its remote (without credentials)")
	fl.StringVar(&git.subject, "git-subject", "", "its subject (the description when --description is empty)")
	fl.StringVar(&git.committedAt, "git-commit-time", "", "its committer time, RFC 3339 (default: CI_COMMIT_TIMESTAMP, else the DAGs' work tree); change lead time starts there")
	fl.BoolVar(&git.off, "no-git", false, "record no git provenance")
	return cmd
}

// inferType picks the deploy type from what was given: --dags alone is a
// DAG-only deploy; --image alone on a bundle deployment keeps the DAGs.
func inferType(d domain.Deployment, image, dags bool) domain.DeployType {
	switch {
	case dags && !image:
		return domain.DeployDAGOnly
	case image && !dags && d.DagSource == domain.DagSourceBundle:
		return domain.DeployImageOnly
	}
	return domain.DeployImageAndDAG
}

// bundleStore is where `deploy --dags` puts the bundle: the registry
// repository when one is configured, else the shared bundle root.
func (s *session) bundleStore() (action.BundleStore, error) {
	cfg, err := s.config()
	if err != nil {
		return nil, err
	}
	rt, err := app.Runtime(cfg)
	if err != nil {
		return nil, err
	}
	return app.BundleStore(cfg, rt)
}
