package namespace

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/workflows"
)

// CleanupCatchupWindow is how late a missed cleanup (server down at its
// time) still runs.
const CleanupCatchupWindow = 6 * time.Hour

// EnsureCleanupSchedule creates the rewind-cleanup Schedule from the
// configuration when there is none, so every worker start leaves exactly
// one; switched off, it is created paused. An existing schedule is left as
// it is: the first worker owns its definition, and what an operator changed
// since (`temporal schedule update`, a pause) is not overwritten by the next
// worker to start with an older or different configuration. A run reads the
// worker's REWIND_CLEANUP_* settings itself, so switching cleanup off takes
// effect at once either way; ResetCleanupSchedule rewrites the schedule.
func EnsureCleanupSchedule(ctx context.Context, c client.Client, cfg *config.Config) error {
	err := createCleanupSchedule(ctx, c, cfg)
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return nil
	}
	return err
}

func cleanupSchedule(cfg *config.Config) (client.ScheduleSpec, *client.ScheduleWorkflowAction, string) {
	spec := client.ScheduleSpec{CronExpressions: []string{cfg.CleanupCron}}
	action := &client.ScheduleWorkflowAction{
		ID: "cleanup", Workflow: workflows.CleanupWorkflowName, TaskQueue: cfg.TaskQueue,
		Args:                  []any{workflows.CleanupInput{}},
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.AttrKind.ValueSet(workflows.KindCleanup)),
	}
	note := fmt.Sprintf("rewind: cleanup of revisions older than %d days at %q, %s", cfg.CleanupOlderThanDays, cfg.CleanupCron, onOff(cfg.CleanupEnabled))
	return spec, action, note
}

func createCleanupSchedule(ctx context.Context, c client.Client, cfg *config.Config) error {
	spec, action, note := cleanupSchedule(cfg)
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: workflows.CleanupScheduleID, Spec: spec, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: CleanupCatchupWindow,
		Paused: !cfg.CleanupEnabled, Note: note,
	})
	return err
}

// ResetCleanupSchedule makes the schedule what this configuration says —
// cron, workflow, task queue, paused or not — creating it if need be: the
// operator's explicit `rewind cleanup --reset-schedule`.
func ResetCleanupSchedule(ctx context.Context, c client.Client, cfg *config.Config) error {
	sc := c.ScheduleClient()
	spec, action, note := cleanupSchedule(cfg)
	err := createCleanupSchedule(ctx, c, cfg)
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return err
	}
	h := sc.GetHandle(ctx, workflows.CleanupScheduleID)
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		s.Spec, s.Action = &spec, action
		s.Policy = &client.SchedulePolicies{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, CatchupWindow: CleanupCatchupWindow}
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if err != nil {
		return err
	}
	desc, err := h.Describe(ctx)
	if err != nil {
		return err
	}
	switch paused := desc.Schedule.State.Paused; {
	case cfg.CleanupEnabled && paused:
		return h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
	case !cfg.CleanupEnabled && !paused:
		return h.Pause(ctx, client.SchedulePauseOptions{Note: note})
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "enabled"
	}
	return "switched off (REWIND_CLEANUP_ENABLED=false)"
}
