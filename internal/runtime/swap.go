package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"golang.org/x/sync/errgroup"

	"github.com/rewindhq/rewind/internal/domain"
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
	Downgrade      bool
	DrainTimeout   time.Duration
	StopTimeout    time.Duration
	HealthTimeout  time.Duration
	HealthAttempts int
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
	// DrainDeadline is when a draining worker that has not finished its
	// tasks is killed (EnforceDrainDeadline).
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

// hookMu serialises the hook: Swap's slots call it from several goroutines.
var hookMu sync.Mutex

func hook(step string) error {
	if testHook != nil {
		hookMu.Lock()
		defer hookMu.Unlock()
		return testHook(step)
	}
	return nil
}

// one component's containers, classified by name.
type slot struct {
	comp     domain.Component
	name     string
	config   string             // hash of the component's stored configuration
	active   *container.Summary // rewind-<d>-<c>
	next     *container.Summary // rewind-<d>-<c>-next: the replacement being brought up
	draining []container.Summary
	// set during the swap
	nextID    string
	unchanged bool
	// what this slot did, merged into the Swap's report in slot order so
	// the report does not depend on which goroutine finished first.
	rep SwapReport
}

// Swap makes the deployment's containers run img, one container per
// component of dep.Components, each with the deployment's stored
// configuration (R17), and returns what it did.
//
// For each component it creates the replacement as <name>-next (see
// spec.go for what it is made of) and starts it. When every replacement is
// running (and healthy, if the image has a HEALTHCHECK) it retires the old
// containers and renames each replacement to the stable name. A
// replacement that crashes or turns unhealthy is recreated, at most
// HealthAttempts times within the health timeout; then the replacements are
// removed, the old containers keep running untouched, and Swap returns an
// Unhealthy refusal: retrying the whole step could not help.
//
// Retiring an old container depends on the component (R11):
//   - ordinary components are stopped (SIGTERM, StopTimeout) and removed;
//   - workers, without a downgrade, get restart policy "no", SIGTERM, and are
//     renamed <name>-draining-r<rev>-<id>-until<unix deadline>: they finish
//     their running tasks on the old code while the new worker takes new
//     ones. Swap does not wait for them; the deadline in the name is
//     enforced by EnforceDrainDeadline (from a durable timer), and a later
//     Swap removes them once exited;
//   - workers, on a downgrade, are killed (SIGKILL, exit 137) at once and
//     removed, and listed in the report; so are running draining workers
//     left from earlier deploys.
//
// Swap is idempotent: every step is decided from the containers' names and
// labels, so running it again after a failure at any point (including a crash
// between two Docker calls) finishes the job, and running it again after
// success changes nothing. A replacement left from another revision, image
// or configuration is removed, never started.
func (r *Runtime) Swap(ctx context.Context, dep domain.Deployment, img Image, opts SwapOptions) (SwapReport, error) {
	rep := SwapReport{DeploymentID: dep.ID, Revision: opts.Revision, Image: img.Ref}
	if err := checkSwap(dep, img, opts); err != nil {
		return rep, err
	}
	opts = r.withDefaults(opts)
	// Check the image is here before touching any container: a deploy whose
	// pull step did not run must fail without disturbing what runs.
	if _, err := r.cli.ImageInspect(ctx, img.ID); err != nil {
		return rep, classifyLocal(img, err)
	}
	slots, orphans, oneOffs, err := r.slots(ctx, dep)
	if err != nil {
		return rep, err
	}
	rev := strconv.Itoa(opts.Revision)
	matches := func(s *slot, c *container.Summary) bool {
		return c != nil && c.ImageID == img.ID && c.Labels[LabelRevision] == rev && c.Labels[LabelConfig] == s.config
	}

	// Phases 1 and 2: bring up the replacements until all are up.
	deadline := time.Now().Add(opts.HealthTimeout)
	var crashed error // why the last attempt's replacements went down
	for attempt := 1; ; attempt++ {
		// The slots are independent: each is decided from its own
		// containers' names and labels, so they come up together.
		err := eachSlot(slots, func(s *slot) error {
			return r.bringUp(ctx, dep, s, img, opts.Revision, matches, &s.rep)
		})
		mergeReports(&rep, slots)
		if err != nil {
			return rep, err
		}
		var wait []string
		for _, s := range slots {
			if s.unchanged {
				wait = append(wait, s.active.ID)
			} else {
				wait = append(wait, s.nextID)
			}
		}
		err = r.waitHealthy(ctx, wait, time.Until(deadline))
		if err == nil {
			break
		}
		// Leave the old containers in charge.
		_ = eachSlot(slots, func(s *slot) error {
			if !s.unchanged && s.nextID != "" {
				_ = r.remove(context.WithoutCancel(ctx), s.nextID)
				s.next, s.nextID = nil, ""
			}
			return nil
		})
		var down *unhealthyError
		if !errors.As(err, &down) {
			return rep, err // the Engine did not answer: worth retrying
		}
		if !down.timedOut {
			crashed = err
		} else if crashed != nil {
			err = fmt.Errorf("%w; before that: %v", err, crashed)
		}
		if down.timedOut || attempt >= opts.HealthAttempts || time.Until(deadline) < r.cfg.StableFor {
			return rep, domain.Errorf(domain.Unhealthy, "the new containers of %s on %s did not come up (attempt %d of %d, health timeout %s): %v",
				dep.ID, img.Ref, attempt, opts.HealthAttempts, opts.HealthTimeout, err)
		}
	}

	// Phase 3: retire the old containers and take over the names, every
	// slot at once: a slot's rename waits only for its own old container.
	err = eachSlot(slots, func(s *slot) error { return r.takeOver(ctx, s, img, opts, &s.rep) })
	mergeReports(&rep, slots)
	if err != nil {
		return rep, err
	}
	return rep, r.housekeep(ctx, slots, orphans, oneOffs, opts, &rep)
}

// swapParallelism bounds the Docker calls one Swap makes at once: enough
// for a deployment's components to come up together, few enough that one
// change does not queue a small Engine behind it.
const swapParallelism = 8

// eachSlot runs f for every slot, at most swapParallelism at once, and
// returns the error of the first slot (in slot order) that failed. A
// failing slot does not cancel the others: each runs to the end of its own
// steps, so an error leaves no more half-done slots than necessary, and
// whatever it leaves is what a crash between two Docker calls leaves, which
// the next Swap converges from.
func eachSlot(slots []*slot, f func(*slot) error) error {
	errs := make([]error, len(slots))
	var g errgroup.Group
	g.SetLimit(swapParallelism)
	for i, s := range slots {
		g.Go(func() error {
			errs[i] = f(s)
			return nil
		})
	}
	_ = g.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// mergeReports moves what each slot did into rep, in slot order.
func mergeReports(rep *SwapReport, slots []*slot) {
	for _, s := range slots {
		r := &s.rep
		rep.Downgrade = rep.Downgrade || r.Downgrade
		rep.Created = append(rep.Created, r.Created...)
		rep.Replaced = append(rep.Replaced, r.Replaced...)
		rep.Unchanged = append(rep.Unchanged, r.Unchanged...)
		rep.Drained = append(rep.Drained, r.Drained...)
		rep.Killed = append(rep.Killed, r.Killed...)
		rep.Removed = append(rep.Removed, r.Removed...)
		s.rep = SwapReport{}
	}
}

func checkSwap(dep domain.Deployment, img Image, opts SwapOptions) error {
	if err := domain.CheckDeploymentID(dep.ID); err != nil {
		return err
	}
	if opts.Revision <= 0 {
		return domain.Errorf(domain.InvalidInput, "swap of %s needs a revision number", dep.ID)
	}
	if img.ID == "" {
		return domain.Errorf(domain.InvalidInput, "swap of %s needs a pulled image (no image ID for %s)", dep.ID, img.Ref)
	}
	if len(dep.Components) == 0 {
		return domain.Errorf(domain.InvalidInput, "deployment %s has no components", dep.ID)
	}
	seen := map[string]bool{}
	for _, c := range dep.Components {
		if err := checkComponent(c.Name); err != nil {
			return err
		}
		if seen[c.Name] {
			return domain.Errorf(domain.InvalidInput, "deployment %s lists component %s twice", dep.ID, c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

func (r *Runtime) withDefaults(opts SwapOptions) SwapOptions {
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = r.cfg.DrainTimeout
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = r.cfg.StopTimeout
	}
	if opts.HealthTimeout == 0 {
		opts.HealthTimeout = r.cfg.HealthTimeout
	}
	if opts.HealthAttempts == 0 {
		opts.HealthAttempts = r.cfg.HealthAttempts
	}
	return opts
}

// slots classifies the deployment's containers by component and name.
func (r *Runtime) slots(ctx context.Context, dep domain.Deployment) (slots []*slot, orphans, oneOffs []container.Summary, err error) {
	all, err := r.list(ctx, dep.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	byComp := map[string]*slot{}
	for _, c := range dep.Components {
		s := &slot{comp: c, name: ContainerName(dep.ID, c.Name), config: r.ConfigHash(dep, c)}
		slots = append(slots, s)
		byComp[c.Name] = s
	}
	for i := range all {
		c := all[i]
		if c.Labels[LabelOneOff] != "" {
			oneOffs = append(oneOffs, c)
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
	return slots, orphans, oneOffs, nil
}

// bringUp makes sure the slot has a running container of the new revision:
// the active one when it already is, else a started <name>-next.
func (r *Runtime) bringUp(ctx context.Context, dep domain.Deployment, s *slot, img Image, rev int, matches func(*slot, *container.Summary) bool, rep *SwapReport) error {
	if matches(s, s.active) {
		s.unchanged = true
		if s.next != nil { // stale replacement of an aborted other swap
			if err := r.remove(ctx, s.next.ID); err != nil {
				return err
			}
			rep.Removed = append(rep.Removed, ref(*s.next))
			s.next = nil
		}
		return r.restart(ctx, s.active)
	}
	if s.next != nil && !matches(s, s.next) {
		if err := r.remove(ctx, s.next.ID); err != nil {
			return err
		}
		rep.Removed = append(rep.Removed, ref(*s.next))
		s.next = nil
	}
	if s.next != nil {
		s.nextID = s.next.ID
	} else {
		template := ""
		if s.active != nil {
			template = s.active.ID
		} else if len(s.draining) > 0 {
			// The stable name was freed by an interrupted swap: the newest
			// draining container still has the Engine settings to keep.
			sort.Slice(s.draining, func(i, j int) bool { return s.draining[i].Created > s.draining[j].Created })
			template = s.draining[0].ID
		}
		sp, err := r.componentSpec(ctx, dep, s.comp, template, img, map[string]string{
			LabelDeployment: dep.ID, LabelComponent: s.comp.Name, LabelRevision: strconv.Itoa(rev),
			LabelImageRef: img.Ref, LabelImageDigest: img.Digest, LabelConfig: s.config})
		if err != nil {
			return err
		}
		if s.nextID, err = r.create(ctx, sp, s.name+nextSuffix); err != nil {
			return err
		}
		if err := hook("created " + s.comp.Name); err != nil {
			return err
		}
	}
	if s.next == nil || s.next.State != container.StateRunning {
		if err := r.cli.ContainerStart(ctx, s.nextID, container.StartOptions{}); err != nil {
			return fmt.Errorf("start %s%s: %w", s.name, nextSuffix, err)
		}
		if err := hook("started " + s.comp.Name); err != nil {
			return err
		}
	}
	return nil
}

// restart starts a container that already runs the new revision but was
// stopped (StopAll before a metadata downgrade, then compensation), with
// the restart policy StopAll lifted put back.
func (r *Runtime) restart(ctx context.Context, c *container.Summary) error {
	if c.State == container.StateRunning || c.State == container.StateRestarting {
		return nil
	}
	if _, err := r.cli.ContainerUpdate(ctx, c.ID, container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}}); err != nil {
		return fmt.Errorf("restore restart policy of %s: %w", nameOf(*c), err)
	}
	if err := r.cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("start %s: %w", nameOf(*c), err)
	}
	return nil
}

// takeOver retires the slot's old container and gives the replacement the
// stable name.
func (r *Runtime) takeOver(ctx context.Context, s *slot, img Image, opts SwapOptions, rep *SwapReport) error {
	if s.unchanged {
		rep.Unchanged = append(rep.Unchanged, ref(*s.active))
		return nil
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
			if opts.Downgrade || r.isDowngrade(ctx, old.ImageID, img) {
				rep.Downgrade = true
				k, err := r.kill(ctx, old)
				if err != nil {
					return err
				}
				rep.Killed = append(rep.Killed, k)
			} else {
				d, err := r.drain(ctx, s.name, old, opts.DrainTimeout)
				if err != nil {
					return err
				}
				rep.Drained = append(rep.Drained, d)
			}
		} else {
			if err := r.stopRemove(ctx, old.ID, opts.StopTimeout); err != nil {
				return err
			}
			if err := hook("removed " + s.comp.Name); err != nil {
				return err
			}
		}
		rep.Replaced = append(rep.Replaced, newRef)
	}
	if err := r.cli.ContainerRename(ctx, s.nextID, s.name); err != nil {
		return fmt.Errorf("rename %s%s to %s: %w", s.name, nextSuffix, s.name, err)
	}
	return hook("renamed " + s.comp.Name)
}

// housekeep removes what earlier changes left: exited draining workers
// (killing running ones on a downgrade, or past their deadline), finished
// one-offs, and containers of components the deployment no longer has.
func (r *Runtime) housekeep(ctx context.Context, slots []*slot, orphans, oneOffs []container.Summary, opts SwapOptions, rep *SwapReport) error {
	now := time.Now()
	for _, s := range slots {
		for _, d := range s.draining {
			switch {
			case d.State == container.StateExited || d.State == container.StateDead || d.State == container.StateCreated:
				if err := r.remove(ctx, d.ID); err != nil {
					return err
				}
				rep.Removed = append(rep.Removed, ref(d))
			case opts.Downgrade || rep.Downgrade || drainOverdue(nameOf(d), now):
				k, err := r.kill(ctx, d)
				if err != nil {
					return err
				}
				rep.Killed = append(rep.Killed, k)
			default:
				reportDraining(rep, d)
			}
		}
	}
	// A one-off's result was recorded before the change got this far (the
	// metadata downgrade precedes the swap); a running one is left alone.
	for _, o := range oneOffs {
		if o.State != container.StateRunning && o.State != container.StateRestarting {
			if err := r.remove(ctx, o.ID); err != nil {
				return err
			}
		}
	}
	for _, o := range orphans {
		if err := r.stopRemove(ctx, o.ID, opts.StopTimeout); err != nil {
			return err
		}
		rep.Removed = append(rep.Removed, ref(o))
	}
	return nil
}

// reportDraining lists a worker still draining within its deadline, which
// an earlier attempt of this Swap (or an earlier change) drained, as
// Drained, with the deadline its name records: a retry after a crash
// reports what the attempt that did the work reported, so the workflow
// always starts the deadline (issue 27). A deadline started twice for one
// container is one workflow (its id names the container).
func reportDraining(rep *SwapReport, d container.Summary) {
	for _, x := range rep.Drained {
		if x.ID == d.ID {
			return
		}
	}
	deadline, ok := DrainDeadline(nameOf(d))
	if !ok {
		return
	}
	c := ref(d)
	c.DrainDeadline = &deadline
	rep.Drained = append(rep.Drained, c)
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
