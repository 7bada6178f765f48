package workflows

import (
	"math"
	"testing"
	"time"
)

func TestHostWaitIsBounded(t *testing.T) {
	for in, want := range map[int]time.Duration{0: 10 * time.Minute, -5: 10 * time.Minute, 30: 30 * time.Second,
		86400: 24 * time.Hour, 86401: 24 * time.Hour, math.MaxInt: 24 * time.Hour, math.MinInt: 10 * time.Minute} {
		if got := hostWait(in); got != want {
			t.Errorf("hostWait(%d) = %s, want %s", in, got, want)
		}
	}
}
