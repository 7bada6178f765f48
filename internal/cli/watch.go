package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func watchCmd(s *session) *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "watch <workflow-id>",
		Short: "Follow a deploy or rollback step by step until it ends (exit 1 if it failed)",
		Args:  exactArgs(1, "a workflow id, e.g. change/d1"),
		RunE: func(cmd *cobra.Command, args []string) error {
			be, err := s.backend()
			if err != nil {
				return err
			}
			return be.watch(args[0], every)
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
