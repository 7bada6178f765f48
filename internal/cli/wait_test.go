package cli

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A --wait --timeout whose last call the server ended at the deadline,
// before this process's timer cancelled the context, is the timeout (exit
// 3), not a failure (exit 1): the CI failure of stop 32.
func TestWaitEndedByTimeout(t *testing.T) {
	deadline := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	rst := errors.New("stream terminated by RST_STREAM with error code: CANCEL")
	for _, c := range []struct {
		name   string
		ctxErr error
		err    error
		now    time.Time
		want   bool
	}{
		{"context expired", context.DeadlineExceeded, context.DeadlineExceeded, deadline.Add(time.Millisecond), true},
		{"server ended the call at the deadline, timer not yet fired", nil, rst, deadline, true},
		{"server ended the call after the deadline", nil, rst, deadline.Add(time.Millisecond), true},
		{"a real failure before the deadline", nil, rst, deadline.Add(-time.Millisecond), false},
		{"finished in time", nil, nil, deadline.Add(time.Millisecond), false},
		{"cancelled by the user", context.Canceled, context.Canceled, deadline.Add(-time.Second), false},
	} {
		if got := waitEndedByTimeout(c.ctxErr, c.err, c.now, deadline); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
