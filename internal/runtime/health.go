package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"golang.org/x/sync/errgroup"
)

// unhealthyError says new containers did not come up: one exited, restarted
// or turned unhealthy (a replacement may be worth recreating), or the
// health timeout ran out (it is not). Any other error of waitHealthy means
// the Engine did not answer.
type unhealthyError struct {
	msg      string
	timedOut bool
}

func (e *unhealthyError) Error() string { return e.msg }

// waitHealthy waits until every container runs, has run for StableFor since
// its last start without restarting (or, with a HEALTHCHECK, is healthy). A
// container that exits, restarts or turns unhealthy fails the wait at once.
// Each round inspects the pending containers concurrently; when all that is
// left is StableFor to pass, it sleeps exactly until then rather than
// polling past it.
func (r *Runtime) waitHealthy(ctx context.Context, ids []string, timeout time.Duration) error {
	if timeout <= 0 {
		return &unhealthyError{msg: "no time left within the health timeout", timedOut: true}
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := append([]string(nil), ids...)
	delay := 25 * time.Millisecond
	lastState := map[string]string{}
	for {
		checks := make([]healthCheck, len(pending))
		var g errgroup.Group
		g.SetLimit(swapParallelism)
		for i, id := range pending {
			g.Go(func() error {
				checks[i] = r.checkHealth(ctx, wctx, id)
				return nil
			})
		}
		_ = g.Wait()
		var still []string
		stableAt := time.Time{} // when the last container waiting only for StableFor gets there
		onlyStability := true
		for i, c := range checks {
			if c.err != nil {
				// A container seen crashing is the answer even if the
				// health timeout ran out while its log tail was read; an
				// inspection cut off by the timeout is just the timeout.
				var down *unhealthyError
				if errors.As(c.err, &down) || wctx.Err() == nil {
					return c.err
				}
				continue
			}
			if c.pending {
				still = append(still, pending[i])
				lastState[pending[i]] = c.state
				if c.stableAt.IsZero() {
					onlyStability = false
				} else if c.stableAt.After(stableAt) {
					stableAt = c.stableAt
				}
			}
		}
		if wctx.Err() != nil {
			if ctx.Err() != nil {
				return ctx.Err() // the activity was cancelled: not the containers' fault
			}
			var parts []string
			for _, id := range pending {
				parts = append(parts, short(id)+": "+lastState[id])
			}
			return &unhealthyError{msg: fmt.Sprintf("new containers not healthy within %s (%s)", timeout.Round(time.Millisecond), strings.Join(parts, ", ")), timedOut: true}
		}
		if len(still) == 0 {
			return nil
		}
		pending = still
		wait := delay
		if onlyStability {
			wait = max(time.Until(stableAt), time.Millisecond)
		}
		select {
		case <-wctx.Done():
		case <-time.After(wait):
		}
		if delay < 250*time.Millisecond {
			delay *= 2
		}
	}
}

// healthCheck is one container's state in one round of waitHealthy.
type healthCheck struct {
	pending  bool
	state    string    // why it is pending, for the timeout message
	stableAt time.Time // set when only StableFor is left to pass
	err      error     // *unhealthyError, or the Engine did not answer
}

func (r *Runtime) checkHealth(ctx, wctx context.Context, id string) healthCheck {
	ci, err := r.cli.ContainerInspect(wctx, id)
	if err != nil {
		return healthCheck{err: fmt.Errorf("inspect %s: %w", short(id), err)}
	}
	name := strings.TrimPrefix(ci.Name, "/")
	st := ci.State
	switch {
	case st.Status == container.StateExited || st.Status == container.StateDead || ci.RestartCount > 0 || st.Restarting:
		// The log tail says why; it reaches the change's failure
		// reason, which only people who may deploy see.
		return healthCheck{err: &unhealthyError{msg: fmt.Sprintf("%s did not stay up: state %s, exit code %d, restarts %d%s",
			name, st.Status, st.ExitCode, ci.RestartCount, r.tail(context.WithoutCancel(ctx), id))}}
	case !st.Running:
		return healthCheck{pending: true, state: string(st.Status)}
	case st.Health != nil:
		switch st.Health.Status {
		case container.Healthy:
			return healthCheck{}
		case container.Unhealthy:
			return healthCheck{err: &unhealthyError{msg: fmt.Sprintf("%s is unhealthy%s", name, lastProbe(st.Health))}}
		default:
			return healthCheck{pending: true, state: "health " + string(st.Health.Status)}
		}
	default:
		started, _ := time.Parse(time.RFC3339Nano, st.StartedAt)
		if time.Since(started) < r.cfg.StableFor {
			return healthCheck{pending: true, state: "running for less than " + r.cfg.StableFor.String(), stableAt: started.Add(r.cfg.StableFor)}
		}
		return healthCheck{}
	}
}

func lastProbe(h *container.Health) string {
	if h == nil || len(h.Log) == 0 {
		return ""
	}
	return ": " + strings.TrimSpace(h.Log[len(h.Log)-1].Output)
}
