package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Faults inject failures and pauses into activities, for the fault and
// crash tests (REWIND_FAULTS; empty, and so inert, in production):
//
//	PullImage=after:4s       pause after the Docker work, before reporting it
//	SwapComponents=before:2s pause before the Docker work
//	Verify=fail              fail for good (non-retryable FaultInjected)
//
// A worker killed during an "after" pause has done the work without
// reporting it: the retry must converge, which is what the tests check.
type Faults map[string]Fault

type Fault struct {
	Kind  string // before, after, fail
	Pause time.Duration
}

// ParseFaults reads "Activity=kind[:duration],…".
func ParseFaults(s string) (Faults, error) {
	f := Faults{}
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		name, spec, ok := strings.Cut(strings.TrimSpace(item), "=")
		kind, dur, _ := strings.Cut(spec, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("fault %q: want Activity=before:2s, Activity=after:2s or Activity=fail", item)
		}
		var d time.Duration
		switch kind {
		case "before", "after":
			var err error
			if d, err = time.ParseDuration(dur); err != nil || d <= 0 {
				return nil, fmt.Errorf("fault %q: %s needs a duration", item, kind)
			}
		case "fail":
		default:
			return nil, fmt.Errorf("fault %q: unknown kind %q", item, kind)
		}
		f[name] = Fault{Kind: kind, Pause: d}
	}
	return f, nil
}

func (f Faults) String() string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+f[k].Kind)
	}
	return strings.Join(parts, ",")
}

// inject runs the fault configured for activity name at the given moment
// ("before" or "after" the activity's work).
func (f Faults) inject(ctx context.Context, name, moment string) error {
	ft, ok := f[name]
	if !ok {
		return nil
	}
	switch {
	case ft.Kind == "fail" && moment == "before":
		return temporal.NewNonRetryableApplicationError("fault injected into "+name, "FaultInjected", nil)
	case ft.Kind == moment:
		select {
		case <-time.After(ft.Pause):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
