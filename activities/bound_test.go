package activities

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// A step that hangs (a Docker stop that never returns) is cut at its bound
// and fails BoundExceeded, not retried; a retry keeps the deadline of the
// first attempt, read from the heartbeat details, so attempts cannot add
// up to hours (issue 27).
func TestBoundedStepsKeepTheFirstAttemptsDeadline(t *testing.T) {
	hang := func(ctx context.Context, bound time.Duration) error {
		_, ctx, done := bounded(ctx, "stopping components", 0, bound, "REWIND_HOST_STEP_BOUND")
		<-ctx.Done() // the Engine never answers
		return done(ctx.Err())
	}
	boundType := func(err error) string {
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) && ae.NonRetryable() {
			return ae.Type()
		}
		return ""
	}
	start := time.Now()
	if err := hang(context.Background(), 100*time.Millisecond); boundType(err) != "BoundExceeded" || !strings.Contains(err.Error(), "REWIND_HOST_STEP_BOUND") {
		t.Fatalf("a hanging step: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the bound fired after %s", d)
	}

	// A retry whose first attempt started two hours ago, bound one hour: it
	// is past its bound at once.
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.SetHeartbeatDetails(Heartbeat{Message: "stopping components", Since: time.Now().Add(-2 * time.Hour)})
	env.RegisterActivityWithOptions(func(ctx context.Context) error { return hang(ctx, time.Hour) }, activity.RegisterOptions{Name: "Hang"})
	_, err := env.ExecuteActivity("Hang")
	if !strings.Contains(err.Error(), "BoundExceeded") {
		t.Fatalf("a retry past the first attempt's deadline: %v", err)
	}

	// A step that finishes in time is untouched.
	_, ctx, done := bounded(context.Background(), "swap", 0, time.Hour, "REWIND_HOST_STEP_BOUND")
	if ctx.Err() != nil {
		t.Fatalf("a step in time was cut: %v", ctx.Err())
	}
	if err := done(errors.New("Engine said no")); boundType(err) != "" || err.Error() != "Engine said no" {
		t.Fatalf("an ordinary failure within the bound stays itself: %v", err)
	}
}
