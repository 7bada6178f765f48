package runtime

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

// isDowngrade compares the version labels of the image an old container
// runs with the new image's, by R20's rule (R11). Unknown versions are not
// a downgrade: only SwapOptions.Downgrade can force the kill path then.
func (r *Runtime) isDowngrade(ctx context.Context, oldImageID string, img Image) bool {
	ii, err := r.cli.ImageInspect(ctx, oldImageID)
	if err != nil || ii.Config == nil {
		return false
	}
	old := Image{Ref: oldImageID}
	if r.readVersions(&old, ii.Config.Labels) != nil {
		return false
	}
	down, _ := policy.IsVersionDowngrade(policy.Versions{Runtime: old.RuntimeVersion, Airflow: old.AirflowVersion},
		policy.Versions{Runtime: img.RuntimeVersion, Airflow: img.AirflowVersion})
	return down
}

// disableRestart sets restart policy "no", so a container that exits is not
// brought back. Docker 20.10 refuses the update of a container that exits
// at that very moment ("cannot update a stopped container") and puts its old
// policy back; once it has exited the update applies, so it is tried again.
func (r *Runtime) disableRestart(ctx context.Context, id, name string) error {
	update := container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled}}
	var err error
	for try := 0; try < 5; try++ {
		if _, err = r.cli.ContainerUpdate(ctx, id, update); err == nil || isGone(err) {
			return err
		}
		if !strings.Contains(err.Error(), "cannot update a stopped container") {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(50<<try) * time.Millisecond):
		}
	}
	return fmt.Errorf("disable restart of %s: %w", name, err)
}

// drainingName is where a draining worker's deadline is recorded: Docker
// labels cannot change after a container is created, its name can, so the
// deadline survives any worker process and is visible in `docker ps`.
func drainingName(name string, old container.Summary, deadline time.Time) string {
	return name + drainingInfix + "r" + old.Labels[LabelRevision] + "-" + short(old.ID) + "-until" + strconv.FormatInt(deadline.Unix(), 10)
}

// DrainDeadline reads the deadline a draining container's name records.
func DrainDeadline(name string) (time.Time, bool) {
	i := strings.LastIndex(name, "-until")
	if i < 0 || !strings.Contains(name, drainingInfix) {
		return time.Time{}, false
	}
	secs, err := strconv.ParseInt(name[i+len("-until"):], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(secs, 0).UTC(), true
}

func drainOverdue(name string, now time.Time) bool {
	d, ok := DrainDeadline(name)
	return ok && now.After(d)
}

// drain retires an old worker without killing its tasks. The order makes a
// retry safe: restart policy first (a worker that exits 0 after draining
// must not be restarted by "unless-stopped"), then SIGTERM, then the rename
// that frees the stable name and records the deadline. A retry after any of
// these repeats the earlier ones harmlessly (a second SIGTERM is still a
// warm shutdown). Nothing here waits for the deadline: the workflow keeps a
// durable timer that calls EnforceDrainDeadline, so a worker restarted in
// between cannot forget it.
func (r *Runtime) drain(ctx context.Context, name string, old container.Summary, timeout time.Duration) (ContainerRef, error) {
	d := ref(old)
	if err := r.disableRestart(ctx, old.ID, name); err != nil {
		return d, err
	}
	deadline := time.Now().Add(timeout).Truncate(time.Second)
	if old.State == container.StateRunning {
		if err := r.cli.ContainerKill(ctx, old.ID, "SIGTERM"); err != nil && !isNotRunning(err) {
			return d, fmt.Errorf("SIGTERM %s: %w", name, err)
		}
		if err := hook("signalled " + d.Component); err != nil {
			return d, err
		}
		d.DrainDeadline = &deadline
	}
	newName := drainingName(name, old, deadline)
	if err := r.cli.ContainerRename(ctx, old.ID, newName); err != nil {
		return d, fmt.Errorf("rename %s to %s: %w", name, newName, err)
	}
	d.Name = newName
	return d, hook("drained " + d.Component)
}

// EnforceDrainDeadline kills a draining worker that is still running at
// the deadline its name records (R11: its tasks had their time). A worker
// that has exited, or is gone, is left as it is. Called early it refuses
// with an ordinary error, so a durable timer that fires before the host's
// clock reaches the deadline retries rather than cutting the drain short.
func (r *Runtime) EnforceDrainDeadline(ctx context.Context, deploymentID, containerID string) (ContainerRef, bool, error) {
	ci, err := r.cli.ContainerInspect(ctx, containerID)
	if err != nil {
		if isGone(err) {
			return ContainerRef{ID: containerID}, false, nil
		}
		return ContainerRef{ID: containerID}, false, fmt.Errorf("inspect %s: %w", short(containerID), err)
	}
	name := strings.TrimPrefix(ci.Name, "/")
	if ci.Config == nil || ci.Config.Labels[LabelDeployment] != deploymentID || !strings.Contains(name, drainingInfix) {
		return ContainerRef{ID: containerID, Name: name}, false, domain.Errorf(domain.InvalidInput, "container %s is not a draining worker of %s", name, deploymentID)
	}
	c := container.Summary{ID: ci.ID, Names: []string{ci.Name}, Labels: ci.Config.Labels, Image: ci.Config.Image}
	if !ci.State.Running {
		return ref(c), false, nil
	}
	deadline, ok := DrainDeadline(name)
	if !ok {
		return ref(c), false, domain.Errorf(domain.InvalidInput, "draining worker %s records no deadline", name)
	}
	if wait := time.Until(deadline); wait > time.Second {
		return ref(c), false, fmt.Errorf("drain deadline of %s is %s, %s from now", name, deadline.Format(time.RFC3339), wait.Round(time.Second))
	}
	k, err := r.kill(ctx, c)
	return k, err == nil, err
}

// kill ends a worker at once (R11 downgrade) and removes it, reporting its
// exit code (137 for SIGKILL).
func (r *Runtime) kill(ctx context.Context, c container.Summary) (ContainerRef, error) {
	k, err := r.killKeep(ctx, c)
	if err != nil {
		return k, err
	}
	return k, r.remove(ctx, c.ID)
}

// killKeep kills a container and waits until it has stopped, keeping it.
func (r *Runtime) killKeep(ctx context.Context, c container.Summary) (ContainerRef, error) {
	k := ref(c)
	if err := r.disableRestart(ctx, c.ID, k.Name); err != nil {
		if isGone(err) {
			return k, nil
		}
		return k, err
	}
	if err := r.cli.ContainerKill(ctx, c.ID, "SIGKILL"); err != nil && !isNotRunning(err) {
		return k, fmt.Errorf("SIGKILL %s: %w", k.Name, err)
	}
	waitC, errC := r.cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		return k, fmt.Errorf("wait for %s: %w", k.Name, err)
	}
	ci, err := r.cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		return k, fmt.Errorf("inspect %s: %w", k.Name, err)
	}
	code := ci.State.ExitCode
	k.ExitCode = &code
	return k, hook("killed " + k.Component)
}

// StopReport says what StopAll did.
type StopReport struct {
	// Stopped: components given SIGTERM and StopTimeout, kept for a
	// compensation to start again.
	Stopped []ContainerRef `json:"stopped,omitempty"`
	// Killed: workers (active or draining) killed at once (R11).
	Killed []ContainerRef `json:"killed,omitempty"`
}

// StopAll stops every running container of the deployment before a
// metadata downgrade (R16): the newer version must not run on metadata that
// no longer matches it. Workers are killed (R11: a downgrade fails running
// tasks at once), the other components stopped within StopTimeout; all keep
// their names and lose their restart policy, so nothing brings them back
// but a Swap, which restores it. One-offs are left alone. Idempotent: a
// container already stopped is left as it is.
func (r *Runtime) StopAll(ctx context.Context, dep domain.Deployment) (StopReport, error) {
	var rep StopReport
	if err := domain.CheckDeploymentID(dep.ID); err != nil {
		return rep, err
	}
	slots, orphans, _, err := r.slots(ctx, dep)
	if err != nil {
		return rep, err
	}
	type victim struct {
		c      container.Summary
		worker bool
	}
	var all []victim
	for _, s := range slots {
		for _, c := range append([]*container.Summary{s.active, s.next}, ptrs(s.draining)...) {
			if c != nil {
				all = append(all, victim{*c, IsWorker(s.comp) || c != s.active && c != s.next})
			}
		}
	}
	for _, o := range orphans {
		all = append(all, victim{o, false})
	}
	for _, v := range all {
		if v.c.State != container.StateRunning && v.c.State != container.StateRestarting {
			continue
		}
		if v.worker {
			k, err := r.killKeep(ctx, v.c)
			if err != nil {
				return rep, err
			}
			rep.Killed = append(rep.Killed, k)
			continue
		}
		if err := r.disableRestart(ctx, v.c.ID, nameOf(v.c)); err != nil && !isGone(err) {
			return rep, err
		}
		secs := int(r.cfg.StopTimeout / time.Second)
		if err := r.cli.ContainerStop(ctx, v.c.ID, container.StopOptions{Timeout: &secs}); err != nil && !isGone(err) {
			return rep, fmt.Errorf("stop %s: %w", nameOf(v.c), err)
		}
		if err := hook("stopped " + v.c.Labels[LabelComponent]); err != nil {
			return rep, err
		}
		rep.Stopped = append(rep.Stopped, ref(v.c))
	}
	return rep, nil
}

func ptrs(cs []container.Summary) []*container.Summary {
	out := make([]*container.Summary, len(cs))
	for i := range cs {
		out[i] = &cs[i]
	}
	return out
}

func (r *Runtime) stopRemove(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(timeout / time.Second)
	if err := r.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil && !isGone(err) {
		return fmt.Errorf("stop %s: %w", short(id), err)
	}
	return r.remove(ctx, id)
}

func (r *Runtime) remove(ctx context.Context, id string) error {
	if err := r.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true}); err != nil && !isGone(err) {
		return fmt.Errorf("remove %s: %w", short(id), err)
	}
	return nil
}

// KillOneOffs kills the deployment's running one-off jobs, keeping their
// containers for their logs. Only a compensation that must put the
// metadata back calls it: a restore under a running migration would
// corrupt both.
func (r *Runtime) KillOneOffs(ctx context.Context, deploymentID string) ([]ContainerRef, error) {
	_, _, oneOffs, err := r.slots(ctx, domain.Deployment{ID: deploymentID})
	if err != nil {
		return nil, err
	}
	var out []ContainerRef
	for _, o := range oneOffs {
		if o.State != container.StateRunning && o.State != container.StateRestarting {
			continue
		}
		k, err := r.killKeep(ctx, o)
		if err != nil {
			return out, err
		}
		out = append(out, k)
	}
	return out, nil
}
