package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/workflows"
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
			if release {
				return s.releaseGarbage()
			}
			tc, err := s.temporal()
			if err != nil {
				return err
			}
			if reset {
				return s.resetSchedule(tc)
			}
			h := tc.ScheduleClient().GetHandle(s.ctx, workflows.CleanupScheduleID)
			desc, err := h.Describe(s.ctx)
			if err != nil {
				return domain.Errorf(domain.NotFound, "schedule %s not found: start a worker, which creates it (%v)", workflows.CleanupScheduleID, err)
			}
			if status {
				return printCleanupStatus(s, tc, desc)
			}
			before := len(desc.Info.RecentActions)
			if err := h.Trigger(s.ctx, client.ScheduleTriggerOptions{}); err != nil {
				return err
			}
			var run *client.ScheduleWorkflowExecution
			for deadline := time.Now().Add(30 * time.Second); run == nil; time.Sleep(200 * time.Millisecond) {
				d, err := h.Describe(s.ctx)
				if err != nil {
					return err
				}
				if n := len(d.Info.RecentActions); n > before || (n == 10 && d.Info.RecentActions[n-1].ActualTime.After(time.Now().Add(-time.Minute))) {
					run = d.Info.RecentActions[n-1].StartWorkflowResult
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("the schedule did not start a cleanup within 30s")
				}
			}
			if desc.Schedule.State.Paused {
				fmt.Fprintf(s.out, "note: the schedule is paused (%s)\n", desc.Schedule.State.Note)
			}
			if !wait {
				fmt.Fprintf(s.out, "cleanup started: workflow %s; see `rewind cleanup --status`\n", run.WorkflowID)
				return nil
			}
			var res workflows.CleanupResult
			if err := tc.GetWorkflow(s.ctx, run.WorkflowID, "").Get(s.ctx, &res); err != nil {
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

func cleanupSummary(r workflows.CleanupResult) string {
	if !r.Enabled {
		return "cleanup is switched off (REWIND_CLEANUP_ENABLED=false): nothing deleted"
	}
	out := fmt.Sprintf("removed %d revisions older than %s, %d DAG bundle directories, %d bundle objects, %d images, %d metadata snapshots (%.1f MB freed) in %d deployments",
		r.Revisions, stamp(r.Cutoff), r.BundleDirs, r.BundleObjects, r.Images, r.Snapshots, float64(r.BytesFreed)/(1<<20), r.Deployments)
	if r.Failed > 0 {
		out += fmt.Sprintf("; %d artifacts could not be removed (%d set aside: see `rewind cleanup --status`)", r.Failed, r.SetAside)
	}
	return out
}

func printCleanupStatus(s *session, tc client.Client, d *client.ScheduleDescription) error {
	state := "active"
	if d.Schedule.State.Paused {
		state = "paused"
	}
	rows := [][]string{{"schedule", workflows.CleanupScheduleID}, {"state", state}, {"note", d.Schedule.State.Note}}
	for i, t := range d.Info.NextActionTimes {
		if i == 3 || d.Schedule.State.Paused {
			break
		}
		rows = append(rows, []string{"next run", stamp(t)})
	}
	if n := len(d.Info.RecentActions); n > 0 && d.Info.RecentActions[n-1].StartWorkflowResult != nil {
		last := d.Info.RecentActions[n-1]
		rows = append(rows, []string{"last run", stamp(last.ActualTime) + " " + last.StartWorkflowResult.WorkflowID})
		run := tc.GetWorkflow(s.ctx, last.StartWorkflowResult.WorkflowID, "")
		desc, err := tc.DescribeWorkflowExecution(s.ctx, run.GetID(), "")
		switch {
		case err != nil:
			rows = append(rows, []string{"last result", err.Error()})
		case desc.GetWorkflowExecutionInfo().GetCloseTime() == nil:
			rows = append(rows, []string{"last result", "running"})
		default:
			var res workflows.CleanupResult
			if err := run.Get(s.ctx, &res); err != nil {
				rows = append(rows, []string{"last result", "failed: " + err.Error()})
			} else {
				rows = append(rows, []string{"last result", cleanupSummary(res)})
			}
		}
	} else {
		rows = append(rows, []string{"last run", "never"})
	}
	aside, err := s.setAsideRows()
	if err != nil {
		return err
	}
	rows = append(rows, aside...)
	if s.output == "json" {
		m := map[string]string{}
		for _, r := range rows {
			m[r[0]] = r[1]
		}
		return s.json(m)
	}
	return table(s.out, []string{"FIELD", "VALUE"}, rows)
}
