package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
)

func cleanupCmd(s *session) *cobra.Command {
	var now, status, wait, reset, release bool
	cmd := &cobra.Command{
		Use:   "cleanup [--now [--wait] | --status | --reset-schedule | --release]",
		Short: "Run the retention cleanup now, or show its schedule and last result (R12)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n := count(now, status, reset, release); n != 1 {
				return usageError{fmt.Errorf("give one of --now, --status, --reset-schedule or --release")}
			}
			be, err := s.backend()
			if err != nil {
				return err
			}
			switch {
			case release:
				res, err := invoke(s, action.ReleaseGarbage{}, (*client.Client).ReleaseGarbage)
				n := res.Released
				if err != nil {
					return err
				}
				fmt.Fprintf(s.out, "released %d artifacts: the next cleanup tries to remove them again\n", n)
				return nil
			case reset:
				res, err := invoke(s, action.ResetSchedule{}, (*client.Client).ResetSchedule)
				if err != nil {
					return err
				}
				fmt.Fprintf(s.out, "schedule rewritten from this configuration: %q, %s\n", res.Cron, map[bool]string{true: "active", false: "paused (REWIND_CLEANUP_ENABLED=false)"}[res.Enabled])
				return nil
			case status:
				rows, err := invoke(s, action.ShowCleanup{}, (*client.Client).ShowCleanup)
				if err != nil {
					return err
				}
				return printCleanupStatus(s, rows)
			}
			run, err := invoke(s, action.RunCleanup{}, (*client.Client).RunCleanup)
			if err != nil {
				return err
			}
			if run.Paused {
				fmt.Fprintf(s.out, "note: the schedule is paused (%s)\n", run.Note)
			}
			if !wait {
				fmt.Fprintf(s.out, "cleanup started: workflow %s; see `rewind cleanup --status`\n", run.WorkflowID)
				return nil
			}
			res, err := be.cleanupWait(run.WorkflowID)
			if err != nil {
				return err
			}
			if s.output == "json" {
				return s.json(res)
			}
			fmt.Fprintln(s.out, cleanupSummary(res))
			return nil
		},
	}
	cmd.Flags().BoolVar(&now, "now", false, "trigger a cleanup now")
	cmd.Flags().BoolVar(&wait, "wait", false, "with --now, wait for it and print what it removed")
	cmd.Flags().BoolVar(&status, "status", false, "show the schedule, the next runs, the last result and what cleanup set aside")
	cmd.Flags().BoolVar(&reset, "reset-schedule", false, "rewrite the schedule from this configuration (workers only create it, never overwrite it)")
	cmd.Flags().BoolVar(&release, "release", false, "retry the artifacts cleanup set aside, once what stopped their removal is fixed")
	return cmd
}

func cleanupSummary(r action.CleanupResult) string { return action.CleanupSummary(r) }

func printCleanupStatus(s *session, rows []action.StatusRow) error {
	if s.output == "json" {
		m := map[string]string{}
		for _, r := range rows {
			m[r.Field] = r.Value
		}
		return s.json(m)
	}
	t := make([][]string, len(rows))
	for i, r := range rows {
		t[i] = []string{r.Field, r.Value}
	}
	return table(s.out, []string{"FIELD", "VALUE"}, t)
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
