package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/workflows"
)

func deployCmd(s *session) *cobra.Command {
	var (
		in   workflows.DeployInput
		typ  string
		wait bool
	)
	cmd := &cobra.Command{
		Use:   "deploy <deployment> --image REF [--type IMAGE_AND_DAG|IMAGE_ONLY|DAG_ONLY] [--description TEXT] [--as USER] [--wait]",
		Short: "Deploy an image (and DAGs) as a new revision",
		Args:  exactArgs(1, "a deployment id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in.DeploymentID, in.RequestedBy, in.Type = args[0], s.requester(), domain.DeployType(typ)
			cfg, err := s.config()
			if err != nil {
				return err
			}
			st, err := s.store()
			if err != nil {
				return err
			}
			if err := in.Validate(); err != nil {
				return err
			}
			tc, err := s.temporal()
			if err != nil {
				return err
			}
			run, err := (&action.Deploy{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(s.ctx)
			if err != nil {
				return err
			}
			if !wait {
				if s.output == "json" {
					return s.json(map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()})
				}
				fmt.Fprintf(s.out, "deploy of %s started: workflow %s, run %s\n", in.DeploymentID, run.GetID(), run.GetRunID())
				return nil
			}
			var res workflows.DeployResult
			if err := run.Get(s.ctx, &res); err != nil {
				return err
			}
			if s.output == "json" {
				return s.json(res)
			}
			r := res.Revision
			fmt.Fprintf(s.out, "deployed %s revision %d: image %s, DAG bundle %s (workflow %s, run %s)\n",
				r.DeploymentID, r.Number, orDash(r.ImageRef), orDash(r.DagBundleVersion), r.WorkflowID, r.RunID)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&in.ImageRef, "image", "", "image reference, e.g. registry:5000/airflow:1.2.3")
	fl.StringVar(&typ, "type", string(domain.DeployImageAndDAG), "IMAGE_AND_DAG, IMAGE_ONLY or DAG_ONLY")
	fl.StringVar(&in.Description, "description", "", "why (at most 500 characters; a Git commit id is a good one)")
	fl.StringVar(&s.as, "as", "", "the requester (default $REWIND_USER, else the OS user)")
	fl.BoolVar(&wait, "wait", false, "wait until the deploy finishes")
	return cmd
}
