package runtime

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	units "github.com/docker/go-units"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

// SwapOptions are per deploy. Zero durations take the Runtime's Config.
type SwapOptions struct {
	// Revision is the revision being deployed; it is written on the new
	// containers and is half of what makes a repeated Swap a no-op.
	Revision int
	// Downgrade forces the R11 downgrade path (kill old workers at once).
	// Swap also detects a downgrade itself by comparing, as semantic
	// versions, the Runtime label of each old worker's image with the new
	// image's; either one is enough.
	Downgrade     bool
	DrainTimeout  time.Duration
	StopTimeout   time.Duration
	HealthTimeout time.Duration
}

// ContainerRef names a container in a report.
type ContainerRef struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	Component string `json:"component"`
	Image     string `json:"image,omitempty"`
	Revision  int    `json:"revision,omitempty"`
	// ExitCode is set for killed workers (137 after SIGKILL).
	ExitCode *int `json:"exitCode,omitempty"`
	// DrainDeadline is when Docker kills a draining worker that has not
	// finished its tasks.
	DrainDeadline *time.Time `json:"drainDeadline,omitempty"`
}

// SwapReport says what a Swap did, for the revision's report and logs.
type SwapReport struct {
	DeploymentID string `json:"deploymentId"`
	Revision     int    `json:"revision"`
	Image        string `json:"image"`
	Downgrade    bool   `json:"downgrade"`
	// Created: components that had no container (first deploy).
	Created []ContainerRef `json:"created,omitempty"`
	// Replaced: new containers that took over an old one's name.
	Replaced []ContainerRef `json:"replaced,omitempty"`
	// Unchanged: already on this image and revision (a repeated Swap).
	Unchanged []ContainerRef `json:"unchanged,omitempty"`
	// Drained: old workers sent SIGTERM and left to finish their tasks.
	Drained []ContainerRef `json:"drained,omitempty"`
	// Killed: old workers killed at once because of a downgrade (R11).
	Killed []ContainerRef `json:"killed,omitempty"`
	// Removed: containers of components the deployment no longer has, and
	// leftovers of interrupted swaps.
	Removed []ContainerRef `json:"removed,omitempty"`
}

// testHook, when set by tests, is called after each Docker call that changes
// state; an error returned from it aborts Swap there, as a worker crash
// between two Docker calls would.
var testHook func(step string) error

func hook(step string) error {
	if testHook != nil {
		return testHook(step)
	}
	return nil
}

// one component's containers, classified by name.
type slot struct {
	comp     domain.Component
	name     string
	active   *container.Summary // rewind-<d>-<c>
	next     *container.Summary // rewind-<d>-<c>-next: the replacement being brought up
	draining []container.Summary
	// set during the swap
	nextID    string
	unchanged bool
}

// Swap makes the deployment's containers run img, one container per
// component of dep.Components, and returns what it did.
//
// For each component it creates the replacement as <name>-next — from the
// current container's configuration with only the image and revision label
// changed (R5), or from dep on a first deploy — and starts it. When every
// replacement is running (and healthy, if the image has a HEALTHCHECK) it
// retires the old containers and renames each replacement to the stable
// name. If a replacement does not come up within the health timeout, the
// replacements are removed and the old containers keep running untouched.
//
// Retiring an old container depends on the component (R11):
//   - ordinary components are stopped (SIGTERM, StopTimeout) and removed;
//   - workers, without a downgrade, get restart policy "no", SIGTERM, and are
//     renamed <name>-draining-r<rev>-<id>: they finish their running tasks on
//     the old code while the new worker takes new ones. Swap does not wait
//     for them; Docker enforces the drain deadline (a stop with the drain
//     timeout issued in the background), and a later Swap removes them once
//     exited;
//   - workers, on a downgrade, are killed (SIGKILL, exit 137) at once and
//     removed, and listed in the report; so are running draining workers
//     left from earlier deploys.
//
// Swap is idempotent: every step is decided from the containers' names and
// labels, so running it again after a failure at any point (including a crash
// between two Docker calls) finishes the job, and running it again after
// success changes nothing. A replacement left from another revision or image
// is removed, never started.
func (r *Runtime) Swap(ctx context.Context, dep domain.Deployment, img Image, opts SwapOptions) (SwapReport, error) {
	rep := SwapReport{DeploymentID: dep.ID, Revision: opts.Revision, Image: img.Ref}
	if err := domain.CheckDeploymentID(dep.ID); err != nil {
		return rep, err
	}
	if opts.Revision <= 0 {
		return rep, domain.Errorf(domain.InvalidInput, "swap of %s needs a revision number", dep.ID)
	}
	if img.ID == "" {
		return rep, domain.Errorf(domain.InvalidInput, "swap of %s needs a pulled image (no image ID for %s)", dep.ID, img.Ref)
	}
	if len(dep.Components) == 0 {
		return rep, domain.Errorf(domain.InvalidInput, "deployment %s has no components", dep.ID)
	}
	seen := map[string]bool{}
	for _, c := range dep.Components {
		if err := checkComponent(c.Name); err != nil {
			return rep, err
		}
		if seen[c.Name] {
			return rep, domain.Errorf(domain.InvalidInput, "deployment %s lists component %s twice", dep.ID, c.Name)
		}
		seen[c.Name] = true
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = r.cfg.DrainTimeout
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = r.cfg.StopTimeout
	}
	if opts.HealthTimeout == 0 {
		opts.HealthTimeout = r.cfg.HealthTimeout
	}
	// Check the image is here before touching any container: a deploy whose
	// pull step did not run must fail without disturbing what runs.
	if _, err := r.cli.ImageInspect(ctx, img.ID); err != nil {
		return rep, classifyLocal(img, err)
	}

	all, err := r.list(ctx, dep.ID)
	if err != nil {
		return rep, err
	}
	slots := make([]*slot, 0, len(dep.Components))
	byComp := map[string]*slot{}
	for _, c := range dep.Components {
		s := &slot{comp: c, name: ContainerName(dep.ID, c.Name)}
		slots = append(slots, s)
		byComp[c.Name] = s
	}
	var orphans []container.Summary
	for i := range all {
		c := all[i]
		if c.Labels[LabelOneOff] != "" {
			continue
		}
		s := byComp[c.Labels[LabelComponent]]
		if s == nil {
			orphans = append(orphans, c)
			continue
		}
		switch name := nameOf(c); {
		case name == s.name:
			s.active = &c
		case name == s.name+nextSuffix:
			s.next = &c
		case strings.HasPrefix(name, s.name+drainingInfix):
			s.draining = append(s.draining, c)
		default:
			orphans = append(orphans, c) // renamed by hand: not ours to keep
		}
	}
	matches := func(c *container.Summary) bool {
		return c != nil && c.ImageID == img.ID && c.Labels[LabelRevision] == strconv.Itoa(opts.Revision)
	}

	// Phase 1: bring up the replacements.
	for _, s := range slots {
		if matches(s.active) {
			s.unchanged = true
			if s.next != nil { // stale replacement of an aborted other swap
				if err := r.remove(ctx, s.next.ID); err != nil {
					return rep, err
				}
				rep.Removed = append(rep.Removed, ref(*s.next))
			}
			if s.active.State != container.StateRunning && s.active.State != container.StateRestarting {
				if err := r.cli.ContainerStart(ctx, s.active.ID, container.StartOptions{}); err != nil {
					return rep, fmt.Errorf("start %s: %w", s.name, err)
				}
			}
			continue
		}
		if s.next != nil && !matches(s.next) {
			if err := r.remove(ctx, s.next.ID); err != nil {
				return rep, err
			}
			rep.Removed = append(rep.Removed, ref(*s.next))
			s.next = nil
		}
		if s.next != nil {
			s.nextID = s.next.ID
		} else {
			id, err := r.createReplacement(ctx, dep, s, img, opts.Revision)
			if err != nil {
				return rep, err
			}
			s.nextID = id
			if err := hook("created " + s.comp.Name); err != nil {
				return rep, err
			}
		}
		if s.next == nil || s.next.State != container.StateRunning {
			if err := r.cli.ContainerStart(ctx, s.nextID, container.StartOptions{}); err != nil {
				return rep, fmt.Errorf("start %s%s: %w", s.name, nextSuffix, err)
			}
			if err := hook("started " + s.comp.Name); err != nil {
				return rep, err
			}
		}
	}

	// Phase 2: every container of the new revision must be up.
	var wait []string
	for _, s := range slots {
		if s.unchanged {
			wait = append(wait, s.active.ID)
		} else {
			wait = append(wait, s.nextID)
		}
	}
	if err := r.waitHealthy(ctx, wait, opts.HealthTimeout); err != nil {
		// Leave the old containers in charge; a retry starts clean.
		for _, s := range slots {
			if s.nextID != "" {
				_ = r.remove(context.WithoutCancel(ctx), s.nextID)
			}
		}
		return rep, err
	}

	// Phase 3: retire the old containers and take over the names.
	for _, s := range slots {
		if s.unchanged {
			rep.Unchanged = append(rep.Unchanged, ref(*s.active))
			continue
		}
		newRef := ContainerRef{Name: s.name, ID: s.nextID, Component: s.comp.Name, Image: img.Pinned(), Revision: opts.Revision}
		if s.active == nil {
			if len(s.draining) > 0 {
				rep.Replaced = append(rep.Replaced, newRef)
			} else {
				rep.Created = append(rep.Created, newRef)
			}
		} else {
			old := *s.active
			if IsWorker(s.comp) {
				down := opts.Downgrade || r.isDowngrade(ctx, old.ImageID, img)
				if down {
					rep.Downgrade = true
					k, err := r.kill(ctx, old)
					if err != nil {
						return rep, err
					}
					rep.Killed = append(rep.Killed, k)
				} else {
					d, err := r.drain(ctx, s.name, old, opts.DrainTimeout)
					if err != nil {
						return rep, err
					}
					rep.Drained = append(rep.Drained, d)
				}
			} else {
				if err := r.stopRemove(ctx, old.ID, opts.StopTimeout); err != nil {
					return rep, err
				}
				if err := hook("removed " + s.comp.Name); err != nil {
					return rep, err
				}
			}
			rep.Replaced = append(rep.Replaced, newRef)
		}
		if err := r.cli.ContainerRename(ctx, s.nextID, s.name); err != nil {
			return rep, fmt.Errorf("rename %s%s to %s: %w", s.name, nextSuffix, s.name, err)
		}
		if err := hook("renamed " + s.comp.Name); err != nil {
			return rep, err
		}
	}

	// Housekeeping: draining workers of earlier deploys, orphans.
	for _, s := range slots {
		for _, d := range s.draining {
			switch {
			case d.State == container.StateExited || d.State == container.StateDead || d.State == container.StateCreated:
				if err := r.remove(ctx, d.ID); err != nil {
					return rep, err
				}
				rep.Removed = append(rep.Removed, ref(d))
			case opts.Downgrade || rep.Downgrade:
				k, err := r.kill(ctx, d)
				if err != nil {
					return rep, err
				}
				rep.Killed = append(rep.Killed, k)
			}
		}
	}
	for _, o := range orphans {
		if err := r.stopRemove(ctx, o.ID, opts.StopTimeout); err != nil {
			return rep, err
		}
		rep.Removed = append(rep.Removed, ref(o))
	}
	return rep, nil
}

// isDowngrade compares the Runtime label of the image an old container runs
// with the new image's (R11). Unknown versions are not a downgrade: only
// SwapOptions.Downgrade can force the kill path then.
func (r *Runtime) isDowngrade(ctx context.Context, oldImageID string, img Image) bool {
	ii, err := r.cli.ImageInspect(ctx, oldImageID)
	if err != nil || ii.Config == nil {
		return false
	}
	down, err := policy.IsDowngrade(ii.Config.Labels[r.cfg.RuntimeVersionLabel], img.RuntimeVersion)
	return err == nil && down
}

// drain retires an old worker without killing its tasks. The order makes a
// retry safe: restart policy first (a worker that exits 0 after draining
// must not be restarted by "unless-stopped"), then SIGTERM, then the rename
// that frees the stable name. A retry after any of these repeats the earlier
// ones harmlessly (a second SIGTERM is still a warm shutdown).
func (r *Runtime) drain(ctx context.Context, name string, old container.Summary, timeout time.Duration) (ContainerRef, error) {
	d := ref(old)
	if _, err := r.cli.ContainerUpdate(ctx, old.ID, container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled}}); err != nil {
		return d, fmt.Errorf("disable restart of %s: %w", name, err)
	}
	if old.State == container.StateRunning {
		if err := r.cli.ContainerKill(ctx, old.ID, "SIGTERM"); err != nil && !isNotRunning(err) {
			return d, fmt.Errorf("SIGTERM %s: %w", name, err)
		}
		if err := hook("signalled " + d.Component); err != nil {
			return d, err
		}
		// Docker kills the worker if it has not finished by the deadline.
		// The stop call blocks for up to the timeout, so it runs on the
		// Runtime's background context, not the activity's.
		secs := int(timeout / time.Second)
		deadline := time.Now().Add(timeout)
		d.DrainDeadline = &deadline
		go func(id string) {
			ctx, cancel := context.WithTimeout(r.bg, timeout+time.Minute)
			defer cancel()
			_ = r.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs})
		}(old.ID)
	}
	newName := name + drainingInfix + "r" + old.Labels[LabelRevision] + "-" + short(old.ID)
	if err := r.cli.ContainerRename(ctx, old.ID, newName); err != nil {
		return d, fmt.Errorf("rename %s to %s: %w", name, newName, err)
	}
	d.Name = newName
	return d, hook("drained " + d.Component)
}

// kill ends a worker at once (R11 downgrade) and removes it, reporting its
// exit code (137 for SIGKILL).
func (r *Runtime) kill(ctx context.Context, c container.Summary) (ContainerRef, error) {
	k := ref(c)
	if _, err := r.cli.ContainerUpdate(ctx, c.ID, container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled}}); err != nil {
		return k, fmt.Errorf("disable restart of %s: %w", k.Name, err)
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
	if err := hook("killed " + k.Component); err != nil {
		return k, err
	}
	return k, r.remove(ctx, c.ID)
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

// createReplacement creates <name>-next. Its configuration is the current
// container's when there is one (R5: configuration is not rolled back, a
// deploy changes only the image), else the deployment's.
func (r *Runtime) createReplacement(ctx context.Context, dep domain.Deployment, s *slot, img Image, rev int) (string, error) {
	var (
		cfg     *container.Config
		hc      *container.HostConfig
		nc      *network.NetworkingConfig
		connect map[string]*network.EndpointSettings
		err     error
	)
	template := s.active
	if template == nil && len(s.draining) > 0 {
		// The stable name was freed by an interrupted swap: the newest
		// draining container still has the configuration to keep.
		sort.Slice(s.draining, func(i, j int) bool { return s.draining[i].Created > s.draining[j].Created })
		template = &s.draining[0]
	}
	if template != nil {
		cfg, hc, nc, connect, err = r.fromContainer(ctx, template.ID, img)
		if err != nil {
			return "", err
		}
		if template != s.active {
			hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}
		}
	} else {
		cfg, hc, nc, err = r.fromDeployment(dep, s.comp, img)
		if err != nil {
			return "", err
		}
	}
	cfg.Labels[LabelDeployment] = dep.ID
	cfg.Labels[LabelComponent] = s.comp.Name
	cfg.Labels[LabelRevision] = strconv.Itoa(rev)
	cfg.Labels[LabelImageRef] = img.Ref
	cfg.Labels[LabelImageDigest] = img.Digest
	created, err := r.cli.ContainerCreate(ctx, cfg, hc, nc, nil, s.name+nextSuffix)
	if err != nil {
		return "", fmt.Errorf("create %s%s: %w", s.name, nextSuffix, err)
	}
	// API 1.41 attaches one network at create; the others are connected
	// before the first start.
	for name, es := range connect {
		if err := r.cli.NetworkConnect(ctx, name, created.ID, es); err != nil {
			_ = r.remove(ctx, created.ID)
			return "", fmt.Errorf("connect %s%s to %s: %w", s.name, nextSuffix, name, err)
		}
	}
	return created.ID, nil
}

// fromContainer copies a container's configuration for a new image.
//
// Docker stores a container's configuration merged with its image's: the
// inspected Env, Labels, Cmd, Entrypoint, Healthcheck… include what the old
// image set. Copied as is, the old image's values would override the new
// image's (its ASTRONOMER_RUNTIME_VERSION, its version labels, its health
// check). So every value equal to the old image's default is dropped and
// left to the new image; what the operator set on the container stays.
func (r *Runtime) fromContainer(ctx context.Context, id string, img Image) (*container.Config, *container.HostConfig, *network.NetworkingConfig, map[string]*network.EndpointSettings, error) {
	ci, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("inspect %s: %w", short(id), err)
	}
	cfg := *ci.Config
	var oldImg image.InspectResponse
	if ii, err := r.cli.ImageInspect(ctx, ci.Image); err == nil {
		oldImg = ii
	}
	cfg.Image = img.Pinned()
	if cfg.Hostname == short(ci.ID) {
		cfg.Hostname = "" // Docker's default hostname is the container's short id
	}
	cfg.Labels = copyMap(cfg.Labels)
	if oc := oldImg.Config; oc != nil {
		cfg.Env = subtract(cfg.Env, oc.Env)
		for k, v := range oc.Labels {
			if cfg.Labels[k] == v {
				delete(cfg.Labels, k)
			}
		}
		if equal(cfg.Cmd, oc.Cmd) {
			cfg.Cmd = nil
		}
		if equal(cfg.Entrypoint, oc.Entrypoint) {
			cfg.Entrypoint = nil
		}
		if cfg.WorkingDir == oc.WorkingDir {
			cfg.WorkingDir = ""
		}
		if cfg.User == oc.User {
			cfg.User = ""
		}
		if cfg.StopSignal == oc.StopSignal {
			cfg.StopSignal = ""
		}
		if cfg.Healthcheck != nil && oc.Healthcheck != nil && equal(cfg.Healthcheck.Test, oc.Healthcheck.Test) &&
			cfg.Healthcheck.Interval == oc.Healthcheck.Interval && cfg.Healthcheck.Retries == oc.Healthcheck.Retries {
			cfg.Healthcheck = nil
		}
		if len(cfg.ExposedPorts) > 0 {
			ports := nat.PortSet{}
			for p := range cfg.ExposedPorts {
				if _, fromImage := oc.ExposedPorts[string(p)]; !fromImage {
					ports[p] = struct{}{}
				}
			}
			cfg.ExposedPorts = ports
		}
		if len(cfg.Volumes) > 0 {
			vols := map[string]struct{}{}
			for v := range cfg.Volumes {
				if _, fromImage := oc.Volumes[v]; !fromImage {
					vols[v] = struct{}{}
				}
			}
			cfg.Volumes = vols
		}
	}
	hc := *ci.HostConfig
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}}
	connect := map[string]*network.EndpointSettings{}
	if ci.NetworkSettings != nil && !hc.NetworkMode.IsContainer() && !hc.NetworkMode.IsHost() && !hc.NetworkMode.IsNone() {
		primary := string(hc.NetworkMode)
		for name, es := range ci.NetworkSettings.Networks {
			if es == nil {
				continue
			}
			e := &network.EndpointSettings{IPAMConfig: es.IPAMConfig, Links: es.Links, DriverOpts: es.DriverOpts}
			for _, a := range es.Aliases {
				if a != short(ci.ID) && a != strings.TrimPrefix(ci.Name, "/") {
					e.Aliases = append(e.Aliases, a)
				}
			}
			if name == primary || (primary == "default" && name == "bridge") {
				nc.EndpointsConfig[name] = e
			} else {
				connect[name] = e
			}
		}
	}
	return &cfg, &hc, nc, connect, nil
}

// fromDeployment builds a first deploy's container from the deployment.
func (r *Runtime) fromDeployment(dep domain.Deployment, c domain.Component, img Image) (*container.Config, *container.HostConfig, *network.NetworkingConfig, error) {
	cmd := strings.Fields(c.Command)
	if len(cmd) == 0 {
		return nil, nil, nil, domain.Errorf(domain.InvalidInput, "component %s of %s has no command", c.Name, dep.ID)
	}
	env := make([]string, 0, len(dep.Env)+1)
	for k, v := range dep.Env {
		env = append(env, k+"="+v)
	}
	if _, set := dep.Env["AIRFLOW__CORE__DAGS_FOLDER"]; !set && r.cfg.BundleRoot != "" {
		env = append(env, "AIRFLOW__CORE__DAGS_FOLDER="+r.cfg.MountPath+"/current")
	}
	sort.Strings(env)
	cfg := &container.Config{Image: img.Pinned(), Cmd: cmd, Env: env, Labels: map[string]string{}}
	hc := &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}}
	if r.cfg.Network != "" {
		hc.NetworkMode = container.NetworkMode(r.cfg.Network)
	}
	if r.cfg.BundleRoot != "" {
		src, err := filepath.Abs(filepath.Join(r.cfg.BundleRoot, dep.ID))
		if err != nil {
			return nil, nil, nil, err
		}
		// API 1.41 has no CreateMountpoint: the source must exist.
		if err := os.MkdirAll(src, 0o755); err != nil {
			return nil, nil, nil, fmt.Errorf("bundle directory: %w", err)
		}
		hc.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: src, Target: r.cfg.MountPath, ReadOnly: true}}
	}
	if cpu := dep.Resources.CPU; cpu != "" {
		f, err := strconv.ParseFloat(cpu, 64)
		if err != nil || f <= 0 {
			return nil, nil, nil, domain.Errorf(domain.InvalidInput, "CPU %q of %s is not a number of CPUs", cpu, dep.ID)
		}
		hc.NanoCPUs = int64(f * 1e9)
	}
	if mem := dep.Resources.Memory; mem != "" {
		b, err := units.RAMInBytes(mem)
		if err != nil {
			return nil, nil, nil, domain.Errorf(domain.InvalidInput, "memory %q of %s is not a size: %v", mem, dep.ID, err)
		}
		hc.Memory = b
	}
	return cfg, hc, &network.NetworkingConfig{}, nil
}

// waitHealthy waits until every container runs, has run for StableFor since
// its last start without restarting (or, with a HEALTHCHECK, is healthy). A
// container that exits, restarts or turns unhealthy fails the wait at once.
func (r *Runtime) waitHealthy(ctx context.Context, ids []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := append([]string(nil), ids...)
	delay := 25 * time.Millisecond
	lastState := map[string]string{}
	for {
		var still []string
		for _, id := range pending {
			ci, err := r.cli.ContainerInspect(ctx, id)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				return fmt.Errorf("inspect %s: %w", short(id), err)
			}
			name := strings.TrimPrefix(ci.Name, "/")
			st := ci.State
			switch {
			case st.Status == container.StateExited || st.Status == container.StateDead || ci.RestartCount > 0 || st.Restarting:
				return fmt.Errorf("%s did not stay up: state %s, exit code %d, restarts %d%s", name, st.Status, st.ExitCode, ci.RestartCount, r.tail(ctx, id))
			case !st.Running:
				still = append(still, id)
				lastState[id] = string(st.Status)
			case st.Health != nil:
				switch st.Health.Status {
				case container.Healthy:
				case container.Unhealthy:
					return fmt.Errorf("%s is unhealthy%s", name, lastProbe(st.Health))
				default:
					still = append(still, id)
					lastState[id] = "health " + string(st.Health.Status)
				}
			default:
				started, _ := time.Parse(time.RFC3339Nano, st.StartedAt)
				if time.Since(started) < r.cfg.StableFor {
					still = append(still, id)
					lastState[id] = "running for less than " + r.cfg.StableFor.String()
				}
			}
		}
		if ctx.Err() != nil {
			var parts []string
			for _, id := range pending {
				parts = append(parts, short(id)+": "+lastState[id])
			}
			return fmt.Errorf("new containers not healthy within %s (%s)", timeout, strings.Join(parts, ", "))
		}
		if len(still) == 0 {
			return nil
		}
		pending = still
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		if delay < 250*time.Millisecond {
			delay *= 2
		}
	}
}

func lastProbe(h *container.Health) string {
	if h == nil || len(h.Log) == 0 {
		return ""
	}
	return ": " + strings.TrimSpace(h.Log[len(h.Log)-1].Output)
}

// list returns every container (any state) labelled with the deployment.
func (r *Runtime) list(ctx context.Context, deploymentID string) ([]container.Summary, error) {
	cs, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelDeployment+"="+deploymentID))})
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", deploymentID, err)
	}
	return cs, nil
}

func classifyLocal(img Image, err error) error {
	if isGone(err) {
		return domain.Errorf(domain.NotFound, "image %s (%s) is not on the Docker Engine; pull it first", img.Ref, short(img.ID))
	}
	return fmt.Errorf("inspect image %s: %w", img.Ref, err)
}

func ref(c container.Summary) ContainerRef {
	rev, _ := strconv.Atoi(c.Labels[LabelRevision])
	return ContainerRef{Name: nameOf(c), ID: c.ID, Component: c.Labels[LabelComponent], Image: c.Image, Revision: rev}
}

func nameOf(c container.Summary) string {
	if len(c.Names) == 0 {
		return ""
	}
	return strings.TrimPrefix(c.Names[0], "/")
}

func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func subtract(env, base []string) []string {
	drop := map[string]bool{}
	for _, e := range base {
		drop[e] = true
	}
	out := make([]string, 0, len(env))
	for _, e := range env {
		if !drop[e] {
			out = append(out, e)
		}
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
