package action

import (
	"testing"
	"time"

	activitypb "go.temporal.io/api/activity/v1"
	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Only an activity scheduled on a host queue, not started and not backing
// off before a retry, waits for that host's worker.
func TestWaitingForHost(t *testing.T) {
	now := time.Now()
	pa := func(state enumspb.PendingActivityState, queue string, next time.Time) *workflowpb.PendingActivityInfo {
		p := &workflowpb.PendingActivityInfo{State: state,
			ActivityOptions: &activitypb.ActivityOptions{TaskQueue: &taskqueuepb.TaskQueue{Name: queue}}}
		if !next.IsZero() {
			p.NextAttemptScheduleTime = timestamppb.New(next)
		}
		return p
	}
	cases := []struct {
		p    *workflowpb.PendingActivityInfo
		want string
	}{
		{pa(enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, "rewind@b", time.Time{}), "b"},
		{pa(enumspb.PENDING_ACTIVITY_STATE_STARTED, "rewind@b", time.Time{}), ""},
		{pa(enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, "rewind", time.Time{}), ""},
		{pa(enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, "rewind@b", now.Add(time.Minute)), ""},
		{pa(enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, "rewind@b", now.Add(-time.Minute)), "b"},
		{&workflowpb.PendingActivityInfo{State: enumspb.PENDING_ACTIVITY_STATE_SCHEDULED}, ""},
	}
	for i, c := range cases {
		if got := WaitingForHost(c.p, now); got != c.want {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
	}
}
