package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/rewindhq/rewind/internal/domain"
)

// A bake probe (issue 16, issue 27 items 8–9) judges what a deployment's
// containers do: a component that is missing, exited, restarting, restarted
// since the last probe, unhealthy, or whose scheduler fails its health
// check is a failed probe, with its exit code and last log lines as the
// evidence. Docker refusing an exec because the container is restarting or
// stopped is such an answer, not an error. Only an Engine that cannot be
// reached at all makes Probe return an error (the caller retries).

// ProbeOptions say what to probe.
type ProbeOptions struct {
	Components []string
	// Revision is the baked revision: its containers were started by the
	// deploy, which checked they had not restarted, so their restarts are
	// counted from 0 at the first probe. Containers of other revisions
	// (kept by the deploy) are counted from what the first probe sees.
	Revision int
	// Restarts are the restart counts the previous probe saw, by container id.
	Restarts map[string]int
	// ProveFor: a container of the baked revision that restarted during
	// the bake is running but unproven until it has stayed up this long
	// (the bake's interval × failures). Without it a crash loop whose runs
	// outlast the interval would show a healthy probe between crashes and
	// reset the count every time; with it a single crash fails one probe
	// and is never rolled back for alone.
	ProveFor     time.Duration
	HealthCheck  []string // run in the scheduler; exit 0 is healthy
	ImportErrors []string // run in the scheduler; prints a JSON list
	Timeout      time.Duration
}

// ProbeReport is what one probe found.
type ProbeReport struct {
	Failed   bool   `json:"failed"`
	Evidence string `json:"evidence,omitempty"`
	// SwapInProgress: a replacement (-next) container exists, so a swap
	// runs or was left half-done; what the probe saw is not the baked
	// revision's doing.
	SwapInProgress bool `json:"swapInProgress,omitempty"`
	// Unproven: nothing failed, but a container that restarted during the
	// bake has not stayed up for ProveFor yet: not judged either way.
	Unproven     string         `json:"unproven,omitempty"`
	Restarts     map[string]int `json:"restarts,omitempty"`
	ImportErrors int            `json:"importErrors"` // -1 unknown
}

// Probe inspects every component's active container and runs the health
// and import-error checks in the scheduler.
func (r *Runtime) Probe(ctx context.Context, deploymentID string, o ProbeOptions) (ProbeReport, error) {
	if err := domain.CheckDeploymentID(deploymentID); err != nil {
		return ProbeReport{}, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	rep := ProbeReport{Restarts: map[string]int{}, ImportErrors: -1}
	cs, err := r.list(ctx, deploymentID)
	if err != nil {
		return rep, fmt.Errorf("list %s's containers: %w", deploymentID, err) // the Engine did not answer
	}
	names := map[string]bool{}
	for _, c := range cs {
		names[nameOf(c)] = true
	}
	var bad, unproven []string
	var scheduler *container.InspectResponse
	for _, comp := range o.Components {
		if err := checkComponent(comp); err != nil {
			return rep, err
		}
		name := ContainerName(deploymentID, comp)
		if names[name+nextSuffix] {
			rep.SwapInProgress = true
		}
		ci, err := r.cli.ContainerInspect(ctx, name)
		switch {
		case err != nil && isGone(err):
			bad = append(bad, fmt.Sprintf("%s has no container", comp))
			continue
		case err != nil:
			return rep, fmt.Errorf("inspect %s: %w", name, err) // the Engine did not answer
		case ci.Config == nil || ci.Config.Labels[LabelDeployment] != deploymentID:
			bad = append(bad, fmt.Sprintf("%s has no container of this deployment", comp))
			continue
		}
		rep.Restarts[ci.ID] = ci.RestartCount
		if why := r.judge(ctx, ci, o); why != "" {
			bad = append(bad, comp+" "+why)
			continue
		}
		if up := upFor(ci); o.ProveFor > 0 && ci.RestartCount > 0 && ci.Config.Labels[LabelRevision] == strconv.Itoa(o.Revision) && up < o.ProveFor {
			unproven = append(unproven, fmt.Sprintf("%s restarted %d times during the bake and has been up %s of the %s that prove it",
				comp, ci.RestartCount, up.Round(100*time.Millisecond), o.ProveFor))
		}
		if comp == "scheduler" {
			scheduler = &ci
		}
	}
	if scheduler != nil && len(o.HealthCheck) > 0 {
		why, err := r.probeExec(ctx, *scheduler, o.HealthCheck, o.Timeout)
		if err != nil {
			return rep, err
		}
		if why != "" {
			bad = append(bad, "scheduler "+why)
		} else if len(o.ImportErrors) > 0 {
			rep.ImportErrors = r.importErrors(ctx, *scheduler, o.ImportErrors, 2*o.Timeout)
		}
	}
	if len(bad) > 0 {
		rep.Failed, rep.Evidence = true, strings.Join(bad, "; ")
	} else if len(unproven) > 0 {
		rep.Unproven = strings.Join(unproven, "; ")
	}
	return rep, nil
}

// upFor is how long a running container has run since its last start.
func upFor(ci container.InspectResponse) time.Duration {
	started, err := time.Parse(time.RFC3339Nano, ci.State.StartedAt)
	if err != nil {
		return 0
	}
	return time.Since(started)
}

// judge says what is wrong with a component's container, or "".
func (r *Runtime) judge(ctx context.Context, ci container.InspectResponse, o ProbeOptions) string {
	st := ci.State
	if st == nil {
		return "has no state"
	}
	since, seen := o.Restarts[ci.ID]
	if !seen && ci.Config.Labels[LabelRevision] != strconv.Itoa(o.Revision) {
		since = ci.RestartCount // kept from an earlier revision: count from now
	}
	switch {
	case st.Restarting:
		return fmt.Sprintf("is restarting: exit code %d, %d restarts%s", st.ExitCode, ci.RestartCount, r.tail(ctx, ci.ID))
	case !st.Running:
		return fmt.Sprintf("is %s: exit code %d, %d restarts%s", st.Status, st.ExitCode, ci.RestartCount, r.tail(ctx, ci.ID))
	case st.Paused:
		return "is paused"
	case ci.RestartCount > since:
		// Docker restarted it (restart policy) since the last probe: it
		// crashed, even if it runs again right now.
		// Running again, Docker reports exit code 0: the log tail says
		// how the last run ended.
		return fmt.Sprintf("restarted %d times since the last probe (%d in all)%s",
			ci.RestartCount-since, ci.RestartCount, r.tail(ctx, ci.ID))
	case st.Health != nil && st.Health.Status == container.Unhealthy:
		return "is unhealthy" + lastProbe(st.Health)
	}
	return ""
}

// probeExec runs the health check: "" when it passed, else why it failed.
// An error only when the Engine cannot be reached.
func (r *Runtime) probeExec(ctx context.Context, ci container.InspectResponse, cmd []string, timeout time.Duration) (string, error) {
	name := strings.TrimPrefix(ci.Name, "/")
	code, out, err := r.execIn(ctx, ci, name, cmd, timeout)
	var to *execTimeout
	switch {
	case err == nil && code == 0:
		return "", nil
	case err == nil:
		return fmt.Sprintf("health check `%s` exited %d: %s", strings.Join(cmd, " "), code, strings.TrimSpace(clipTail(out, 500))), nil
	case errors.As(err, &to):
		return "health check " + to.msg, nil
	case cerrdefs.IsConflict(err) || cerrdefs.IsNotFound(err) || isGone(err) || strings.Contains(err.Error(), "is restarting") || strings.Contains(err.Error(), "is not running"):
		// The container went down between the inspection and the exec
		// ("Container … is restarting, wait until the container is
		// running"): that is the answer. Say what it is now.
		now := ""
		if ci2, ierr := r.cli.ContainerInspect(ctx, ci.ID); ierr == nil && ci2.State != nil {
			now = fmt.Sprintf(" (state %s, exit code %d, %d restarts)", ci2.State.Status, ci2.State.ExitCode, ci2.RestartCount)
		}
		return fmt.Sprintf("refused the health check: %v%s%s", err, now, r.tail(ctx, ci.ID)), nil
	}
	if uerr := r.unreachable(ctx, err); uerr != nil {
		return "", uerr
	}
	return "health check failed: " + err.Error(), nil
}

// importErrors counts the DAG import errors the scheduler reports; -1 when
// it cannot tell (the count is a second opinion, never a probe failure by
// itself unless it rises).
func (r *Runtime) importErrors(ctx context.Context, ci container.InspectResponse, cmd []string, timeout time.Duration) int {
	_, out, err := r.execIn(ctx, ci, strings.TrimPrefix(ci.Name, "/"), cmd, timeout)
	if err != nil {
		return -1
	}
	var list []json.RawMessage
	start := strings.IndexByte(out, '[')
	if start < 0 || json.Unmarshal([]byte(strings.TrimSpace(out[start:])), &list) != nil {
		return -1
	}
	return len(list)
}

// unreachable returns err when the Engine does not answer a ping (the probe
// could not run: retry), or nil when it does (err was an answer).
func (r *Runtime) unreachable(ctx context.Context, err error) error {
	if perr := r.Ping(ctx); perr != nil {
		return fmt.Errorf("%v (%w)", err, perr)
	}
	return nil
}
