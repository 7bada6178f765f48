package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
)

// Faults inject failures and pauses into activities, for the fault and
// crash tests (REWIND_FAULTS; empty, and so inert, in production). The
// worker applies them to every activity through an interceptor:
//
//	PullImage=after:4s       pause after the work, before reporting it
//	SwapComponents=before:2s pause before the work
//	Verify=fail              fail for good (non-retryable FaultInjected)
//	CleanupBatch=mid:2s      pause at a point inside an activity that names one
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
			return nil, fmt.Errorf("fault %q: want Activity=before:2s, Activity=after:2s, Activity=mid:2s or Activity=fail", item)
		}
		var d time.Duration
		switch kind {
		case "before", "after", "mid":
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
		// Said in the worker's log, which is how a test sees a local
		// activity reach its pause: unlike an activity's, its attempt is
		// in no list of pending activities.
		if activity.IsActivity(ctx) {
			activity.GetLogger(ctx).Info("fault injected: pausing", "faultActivity", name, "moment", moment, "pause", ft.Pause.String(),
				"localActivity", activity.GetInfo(ctx).IsLocalActivity)
		}
		select {
		case <-time.After(ft.Pause):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Interceptor applies the faults to every activity the worker runs.
func (f Faults) Interceptor() interceptor.WorkerInterceptor { return &faultInterceptor{faults: f} }

type faultInterceptor struct {
	interceptor.WorkerInterceptorBase
	faults Faults
}

func (f *faultInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &faultActivity{faults: f.faults}
	i.Next = next
	return i
}

type faultActivity struct {
	interceptor.ActivityInboundInterceptorBase
	faults Faults
}

func (a *faultActivity) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	name := activity.GetInfo(ctx).ActivityType.Name
	if err := a.faults.inject(ctx, name, "before"); err != nil {
		return nil, err
	}
	res, err := a.Next.ExecuteActivity(ctx, in)
	if err == nil {
		if ferr := a.faults.inject(ctx, name, "after"); ferr != nil {
			return nil, ferr
		}
	}
	return res, err
}
