package workflows

import (
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
)

// A host activity on a host queue loses its schedule-to-close timeout (a
// down host is waited for), so failures on a host that answers must stay
// bounded by attempts: never unlimited, about what the timeout allowed.
func TestHostActivityAttemptsStayBounded(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		rp   temporal.RetryPolicy
		want int32
	}{
		{10 * time.Second, temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 100 * time.Second}, 5}, // waits 1+2+4+8
		{10 * time.Second, temporal.RetryPolicy{}, 5}, // the SDK's defaults
		{0, temporal.RetryPolicy{}, 1},
		{1000 * time.Hour, temporal.RetryPolicy{InitialInterval: time.Millisecond, BackoffCoefficient: 1, MaximumInterval: time.Millisecond}, 10000},
	} {
		if got := attemptsWithin(c.d, c.rp); got != c.want || got == 0 {
			t.Errorf("attemptsWithin(%s, %+v) = %d, want %d (0 would mean unlimited)", c.d, c.rp, got, c.want)
		}
	}
}
