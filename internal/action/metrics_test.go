package action

import (
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// Windows are N followed by h, d or w, 1h to 366 days; anything else is a
// typed refusal, overflowing numbers included.
func TestParseWindow(t *testing.T) {
	for in, want := range map[string]time.Duration{"1h": time.Hour, "30d": 30 * 24 * time.Hour, "52w": 52 * 7 * 24 * time.Hour, "366d": 366 * 24 * time.Hour} {
		if got, err := ParseWindow(in); err != nil || got != want {
			t.Errorf("%s: %s, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "0d", "30", "d", "30D", "1y", "367d", "53w", "9999w", "99999w", "999999999999999999999d", "-1d", "1.5d", "30d ", " 30d", "30d\n", "٣d", "30d;drop"} {
		if _, err := ParseWindow(in); domain.TypeOf(err) != domain.InvalidInput {
			t.Errorf("%q: %v, want InvalidInput", in, err)
		}
	}
}
