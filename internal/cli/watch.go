package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/app"
)

func watchCmd(s *session) *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "watch <workflow-id>",
		Short: "Follow a deploy or rollback step by step until it ends (exit 1 if it failed)",
		Args:  exactArgs(1, "a workflow id, e.g. change/d1"),
		RunE: func(cmd *cobra.Command, args []string) error {
			tc, err := s.temporal()
			if err != nil {
				return err
			}
			// Heartbeat details come raw from a describe call: decode them
			// with the client's converter, which decrypts when keys are set.
			dc, err := app.DataConverter(s.cfg)
			if err != nil {
				return err
			}
			id := args[0]
			runID, status, err := follow(s, tc, dc, id, "", every)
			if err != nil {
				return err
			}
			if err := tc.GetWorkflow(s.ctx, id, runID).Get(s.ctx, nil); err != nil {
				return err
			}
			fmt.Fprintf(s.out, "%s  %s finished: %s\n", time.Now().UTC().Format("15:04:05"), id, status)
			return nil
		},
	}
	cmd.Flags().DurationVar(&every, "every", 500*time.Millisecond, "how often to look")
	return cmd
}
