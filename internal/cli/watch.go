package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

func watchCmd(s *session) *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "watch <deployment | workflow-id>",
		Short: "Follow a deployment's current (or last) change, or a workflow, step by step until it ends (exit 1 if it failed); a fleet/<id> child by child",
		Args:  exactArgs(1, "a deployment id, or a workflow id such as change/d1"),
		RunE: func(cmd *cobra.Command, args []string) error {
			be, err := s.backend()
			if err != nil {
				return err
			}
			id := watchTarget(args[0])
			if strings.HasPrefix(id, "fleet/") {
				return s.watchFleet(be, id, every)
			}
			return be.watch(id, every)
		},
	}
	cmd.Flags().DurationVar(&every, "every", 500*time.Millisecond, "how often to look")
	return cmd
}

// watchTemporal follows a change through Temporal itself (store-direct).
func (s *session) watchTemporal(id string, every time.Duration) error {
	snap, err := s.temporalProgress()
	if err != nil {
		return err
	}
	runID, status, err := follow(s.ctx, s.out, snap, id, "", every, nil)
	if err != nil {
		return err
	}
	tc, _ := s.temporal()
	if err := tc.GetWorkflow(s.ctx, id, runID).Get(s.ctx, nil); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "%s  %s finished: %s\n", time.Now().UTC().Format("15:04:05"), id, status)
	return nil
}

// watchTarget is the workflow a watch follows: a deployment's id names its
// change workflow (every deploy and rollback of it runs as change/<id>, so
// the newest run is the current or last change); anything with a slash is
// a workflow id as given.
func watchTarget(arg string) string {
	if !strings.Contains(arg, "/") && domain.CheckDeploymentID(arg) == nil {
		return action.ChangeWorkflowID(arg)
	}
	return arg
}
