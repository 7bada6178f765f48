package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/workflows"
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
	seen := map[string]string{}
	say := func(key, line string) {
		if seen[key] != line {
			seen[key] = line
			fmt.Fprintf(s.out, "%s  %s\n", time.Now().UTC().Format("15:04:05"), line)
		}
	}
	for {
		desc, err := tc.DescribeWorkflowExecution(s.ctx, id, "")
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return domain.Errorf(domain.NotFound, "no workflow %s (deploys and rollbacks run as change/<deployment>)", id)
		}
		if err != nil {
			return err
		}
		info := desc.GetWorkflowExecutionInfo()
		runID := info.GetExecution().GetRunId()
		if v, err := tc.QueryWorkflow(s.ctx, id, runID, workflows.ProgressQuery); err == nil {
			var p workflows.Progress
			if v.Get(&p) == nil {
				for _, st := range p.Steps {
					if st.State == workflows.StepPending {
						continue
					}
					line := fmt.Sprintf("%-20s %s", st.Name, st.State)
					if st.Detail != "" {
						line += "  " + st.Detail
					}
					if st.Error != "" {
						line += "  " + clipText(st.Error, 160)
					}
					say("step/"+st.Name, line)
				}
			}
		}
		for _, pa := range desc.GetPendingActivities() {
			name := pa.GetActivityType().GetName()
			line := fmt.Sprintf("%-20s attempt %d", name, pa.GetAttempt())
			if f := pa.GetLastFailure(); f != nil && pa.GetAttempt() > 1 {
				line += ", retrying after: " + clipText(f.GetMessage(), 160)
			}
			if hb := pa.GetHeartbeatDetails(); hb != nil {
				var d activities.Heartbeat
				if dc.FromPayloads(hb, &d) == nil {
					if p := d.Progress; p != nil && p.BytesTotal > 0 {
						line += fmt.Sprintf(", %d/%d layers, %.1f/%.1f MB", p.LayersDone, p.Layers, float64(p.BytesDone)/(1<<20), float64(p.BytesTotal)/(1<<20))
					} else if d.Message != "" {
						line += ", " + clipText(d.Message, 80)
					}
				}
			}
			say("activity/"+name, line)
		}
		if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			err := tc.GetWorkflow(s.ctx, id, runID).Get(s.ctx, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "%s  %s finished: %s\n", time.Now().UTC().Format("15:04:05"), id, info.GetStatus())
			return nil
		}
		select {
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-time.After(every):
		}
	}
}
