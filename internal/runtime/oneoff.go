package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"

	"github.com/rewindhq/rewind/internal/domain"
)

// OneOffOptions adjust RunOneOff.
type OneOffOptions struct {
	// Name identifies the job in the container name and label
	// (rewind-<deployment>-oneoff-<name>); default "job".
	Name string
	// Revision is the change the job belongs to, recorded on its container.
	Revision int
	// Once makes the job run at most once per name and revision, for jobs
	// that must not run twice or be cut short (the metadata downgrade): a
	// retried call waits for the container an earlier attempt started, or
	// reads the result of one that finished, and nothing here ever stops
	// it. Its container is kept for that; the next Swap removes it.
	Once bool
	// Timeout bounds the wait (default 10m). A Once job is still left
	// running when it passes; any other job is killed.
	Timeout time.Duration
	// JoinNetwork is for jobs that run beside the components, several at
	// once (the start checks): the job runs in the network namespace of the
	// container it copies while that runs (joinNetwork), else on its
	// networks without its identity there (withoutIdentity). Without it a
	// job copies the container's endpoints whole: the metadata downgrade
	// runs with every component stopped, in the scheduler's place.
	JoinNetwork bool
	// Started, when set, is called once the job's container exists (made
	// by this call or an earlier one): from then on the job may run, which
	// is the point of no return of a metadata downgrade.
	Started func()
	// OwnEndpoint is for a long job beside running components (the
	// metadata migration, R21): it gets endpoints of its own on the
	// template's networks, without the template's identity there, so it
	// survives the template's restart and never takes its address.
	OwnEndpoint bool
	// Env, when set, is the job's whole environment instead of the
	// deployment's stored one (a tool that needs one password, not every
	// setting of Airflow).
	Env []string
	// Mounts are added to the template's (the snapshot volume).
	Mounts []mount.Mount
}

// OneOffResult is the outcome of a one-off job.
type OneOffResult struct {
	ExitCode   int       `json:"exitCode"`
	Output     string    `json:"output"` // stdout and stderr, interleaved
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// Attached: this call found the job started by an earlier attempt and
	// waited for it (or read its result) instead of starting it again.
	Attached bool `json:"attached,omitempty"`
}

// RunOneOff runs cmd to completion in a throwaway container of the
// deployment on imageRef (e.g. the R11 metadata downgrade: `airflow db
// downgrade` with the newer image before the older one starts). The
// container gets the deployment's stored environment (R17) and the mounts
// and network of its scheduler (or any component), so it reaches the same
// metadata database, with no restart policy. A non-zero exit is an ordinary
// error carrying the output.
func (r *Runtime) RunOneOff(ctx context.Context, dep domain.Deployment, imageRef string, cmd []string, opts OneOffOptions) (OneOffResult, error) {
	if err := domain.CheckDeploymentID(dep.ID); err != nil {
		return OneOffResult{}, err
	}
	if opts.Name == "" {
		opts.Name = "job"
	}
	env := r.storedEnv(dep)
	if opts.Env != nil {
		env = opts.Env
	}
	res, err := r.oneOff(ctx, dep, imageRef, env, cmd, opts)
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("%s exited with code %d%s", oneOffName(dep.ID, opts.Name), res.ExitCode, tailOf(res.Output))
	}
	return res, err
}

func oneOffName(deploymentID, name string) string {
	return "rewind-" + deploymentID + oneOffInfix + name
}

func (r *Runtime) oneOff(ctx context.Context, dep domain.Deployment, imageRef string, env, cmd []string, opts OneOffOptions) (OneOffResult, error) {
	var res OneOffResult
	if len(cmd) == 0 {
		return res, domain.Errorf(domain.InvalidInput, "one-off on %s needs a command", dep.ID)
	}
	if err := checkComponent(opts.Name); err != nil {
		return res, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Minute
	}
	ii, err := r.cli.ImageInspect(ctx, imageRef)
	if err != nil {
		return res, classifyLocal(Image{Ref: imageRef}, err)
	}
	name := oneOffName(dep.ID, opts.Name)
	rev := strconv.Itoa(opts.Revision)

	cs, err := r.Containers(ctx, dep.ID)
	if err != nil {
		return res, err
	}
	var existing string
	for _, c := range cs {
		switch {
		case c.Name == name && opts.Once && c.Revision == opts.Revision && c.ImageID == ii.ID:
			existing = c.ID
		case c.Name == name && opts.Once && c.State == string(container.StateRunning):
			return res, fmt.Errorf("%s of revision %s is still running; waiting for it before revision %d's", name, c.Labels[LabelRevision], opts.Revision)
		case c.Name == name:
			if err := r.remove(ctx, c.ID); err != nil {
				return res, err
			}
		}
	}
	template, templateRuns := oneOffTemplate(cs)
	id, attached := existing, existing != ""
	if !attached {
		s, err := r.oneOffSpec(ctx, dep, template, Image{Ref: imageRef, ID: ii.ID}, env, cmd)
		if err != nil {
			return res, err
		}
		if opts.OwnEndpoint {
			withoutIdentity(&s)
		}
		if opts.JoinNetwork {
			withoutIdentity(&s)
			if templateRuns {
				joinNetwork(&s, template)
			}
		}
		s.host.Mounts = append(s.host.Mounts, opts.Mounts...)
		s.cfg.Labels = labelsFor(s.cfg.Labels, map[string]string{LabelDeployment: dep.ID, LabelOneOff: opts.Name, LabelRevision: rev})
		if id, err = r.create(ctx, s, name); err != nil {
			return res, err
		}
	}
	if !opts.Once {
		defer func() { _ = r.remove(context.WithoutCancel(ctx), id) }()
	}
	if opts.Started != nil {
		opts.Started()
	}
	res, err = r.await(ctx, id, name, opts)
	res.Attached = attached
	return res, err
}

// oneOffTemplate is the container whose Engine settings a one-off copies
// (the scheduler, else any active component; "" when there is none) and
// whether it is running, so a one-off can join its network namespace.
func oneOffTemplate(cs []Container) (id string, running bool) {
	for _, c := range cs {
		if c.Role == "active" && (id == "" || c.Component == "scheduler") {
			id, running = c.ID, c.State == string(container.StateRunning)
		}
	}
	return id, running
}

// joinNetwork puts a one-off in the network namespace of the running
// container id, whose Engine settings it copied. It reaches what that
// container reaches, from the same address (a database that admits the
// scheduler by address admits its checks), and the Engine sets up no
// network for it: on a small Engine a network endpoint costs more than the
// rest of a short job's start and removal together, and its setup and
// teardown queue behind every other container's. The settings the Engine
// refuses with a joined namespace (a hostname, ports, DNS, links) are the
// other container's already, so they are dropped. Host, none and already
// joined namespaces are left as they are.
func joinNetwork(s *spec, id string) {
	if m := s.host.NetworkMode; m.IsHost() || m.IsNone() || m.IsContainer() {
		return
	}
	s.host.NetworkMode = container.NetworkMode("container:" + id)
	s.cfg.Hostname, s.cfg.Domainname, s.cfg.ExposedPorts = "", "", nil
	s.host.PortBindings, s.host.PublishAllPorts, s.host.Links = nil, false, nil
	s.host.DNS, s.host.DNSOptions, s.host.DNSSearch, s.host.ExtraHosts = nil, nil, nil, nil
	s.net, s.connect = &network.NetworkingConfig{}, nil
}

// oneOffSpec is a one-off container of img running cmd with env: the
// template's Engine settings (mounts, network, ...) or a first deploy's,
// no health check, no restart policy, kept after it exits so its exit code
// and logs can be read. Its labels are the caller's to set.
func (r *Runtime) oneOffSpec(ctx context.Context, dep domain.Deployment, template string, img Image, env, cmd []string) (spec, error) {
	var (
		s   spec
		err error
	)
	if template != "" {
		s, err = r.fromContainer(ctx, template, img)
	} else {
		s, err = r.fromDefaults(dep, img)
	}
	if err != nil {
		return s, err
	}
	s.cfg.Image, s.cfg.Cmd, s.cfg.Env, s.cfg.Healthcheck = img.Ref, cmd, env, nil
	s.host.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyDisabled}
	s.host.AutoRemove = false
	return s, nil
}

// withoutIdentity keeps a component's networks in a copy of its settings
// and drops its identity on them: its pinned address and MAC address (the
// Engine refuses either to a second container while the first runs, and
// several checks run at once) and its aliases (other containers would
// resolve the component's name to the job), as `docker compose run` does
// without --use-aliases.
func withoutIdentity(s *spec) {
	s.cfg.MacAddress = "" // where API 1.41 keeps it
	for _, eps := range []map[string]*network.EndpointSettings{s.net.EndpointsConfig, s.connect} {
		for _, e := range eps {
			e.IPAMConfig, e.Aliases = nil, nil
		}
	}
}

// await starts the container unless it already ran, waits for it to exit
// and reads its result.
func (r *Runtime) await(ctx context.Context, id, name string, opts OneOffOptions) (OneOffResult, error) {
	var res OneOffResult
	ci, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return res, fmt.Errorf("inspect %s: %w", name, err)
	}
	runCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if ci.State.Status == container.StateCreated {
		waitC, errC := r.cli.ContainerWait(runCtx, id, container.WaitConditionNextExit)
		if err := r.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
			return res, fmt.Errorf("start %s: %w", name, err)
		}
		if err := hook("started oneoff " + name); err != nil {
			return res, err
		}
		select {
		case <-waitC:
		case err := <-errC:
			return res, r.waitFailed(ctx, runCtx, id, name, opts, err)
		}
	} else if ci.State.Running || ci.State.Restarting {
		waitC, errC := r.cli.ContainerWait(runCtx, id, container.WaitConditionNotRunning)
		select {
		case <-waitC:
		case err := <-errC:
			return res, r.waitFailed(ctx, runCtx, id, name, opts, err)
		}
	}
	if ci, err = r.cli.ContainerInspect(ctx, id); err != nil {
		return res, fmt.Errorf("inspect %s: %w", name, err)
	}
	res.ExitCode = ci.State.ExitCode
	res.StartedAt, _ = time.Parse(time.RFC3339Nano, ci.State.StartedAt)
	res.FinishedAt, _ = time.Parse(time.RFC3339Nano, ci.State.FinishedAt)
	res.Output = r.logs(ctx, id)
	return res, nil
}

// waitFailed explains why a wait ended early. Only a job that may be cut
// short is killed when its time is up; a Once job is left to finish.
func (r *Runtime) waitFailed(ctx, runCtx context.Context, id, name string, opts OneOffOptions, err error) error {
	if runCtx.Err() != nil && ctx.Err() == nil {
		if opts.Once {
			return fmt.Errorf("%s is still running after %s; it is left to finish and a retry waits for it", name, opts.Timeout)
		}
		out := r.logs(context.WithoutCancel(ctx), id)
		return fmt.Errorf("%s did not finish within %s%s", name, opts.Timeout, tailOf(out))
	}
	return fmt.Errorf("wait for %s: %w", name, err)
}

// PreflightCheck is one start check of a preflight and how it went.
type PreflightCheck struct {
	Command  string `json:"command"`
	ExitCode int    `json:"exitCode"`
	Output   string `json:"output,omitempty"`
	// Reused: the check did not run, because it passed at PassedAt, for
	// revision PassedRevision, with the same fingerprint
	// (REWIND_PREFLIGHT_REUSE).
	Reused         bool       `json:"reused,omitempty"`
	PassedAt       *time.Time `json:"passedAt,omitempty"`
	PassedRevision int        `json:"passedRevision,omitempty"`
}

// Preflight starts the target image once per check, in throwaway
// containers with the deployment's stored configuration (R17), its mounts
// and network (the running scheduler's namespace, joined: joinNetwork),
// and DAGs read from dagsFolder (inside the container; empty: the
// deployment's `current`). The checks run concurrently. An image that
// cannot start, or a check that exits non-zero, is a PreflightFailed
// refusal carrying the check's output: nothing of the deployment has been
// touched. An Engine that does not answer is an ordinary error.
func (r *Runtime) Preflight(ctx context.Context, dep domain.Deployment, img Image, dagsFolder string, checks [][]string, rev int) ([]PreflightCheck, error) {
	if err := domain.CheckDeploymentID(dep.ID); err != nil {
		return nil, err
	}
	env := r.preflightEnv(dep, dagsFolder)
	out := make([]PreflightCheck, len(checks))
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, cmd := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.oneOff(ctx, dep, img.Pinned(), env, cmd, OneOffOptions{Name: "preflight-" + strconv.Itoa(i+1), Revision: rev,
				Timeout: r.cfg.HealthTimeout, JoinNetwork: true})
			out[i] = PreflightCheck{Command: strings.Join(cmd, " "), ExitCode: res.ExitCode, Output: clipTail(res.Output, 4000)}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			if domain.TypeOf(err) != "" {
				return out, err
			}
			if strings.Contains(err.Error(), "did not finish within") {
				return out, domain.Errorf(domain.PreflightFailed, "%s on %s: `%s` %v", dep.ID, img.Ref, out[i].Command, err)
			}
			return out, err
		}
	}
	for _, c := range out {
		if c.ExitCode != 0 {
			return out, domain.Errorf(domain.PreflightFailed, "%s on %s: the start check `%s` exited with code %d; nothing was changed%s",
				dep.ID, img.Ref, c.Command, c.ExitCode, tailOf(c.Output))
		}
	}
	return out, nil
}

// preflightEnv is the check containers' environment: the stored one, with
// DAGs read from dagsFolder when it is set.
func (r *Runtime) preflightEnv(dep domain.Deployment, dagsFolder string) []string {
	env := r.storedEnv(dep)
	if dagsFolder != "" {
		env = append(dropVar(env, "AIRFLOW__CORE__DAGS_FOLDER"), "AIRFLOW__CORE__DAGS_FOLDER="+dagsFolder)
	}
	return env
}

// PreflightFingerprint names what a preflight's outcome depends on that
// rewind controls: the image's content (its ID), the checks, and every
// Engine setting of the check containers (environment with the DAG folder,
// mounts, network, user, resources), built exactly as Preflight builds
// them from the deployment's current containers. Labels, rewind's own
// bookkeeping, are left out, and so is which container's network
// namespace the checks join (joinNetwork): its id changes with every swap,
// while its networks are in the settings. Two preflights with one
// fingerprint start identical containers on the same networks; what those
// reach outside (the files under a mount, a database) is for the caller to
// pin.
func (r *Runtime) PreflightFingerprint(ctx context.Context, dep domain.Deployment, img Image, dagsFolder string, checks [][]string) (string, error) {
	if err := domain.CheckDeploymentID(dep.ID); err != nil {
		return "", err
	}
	ii, err := r.cli.ImageInspect(ctx, img.Pinned())
	if err != nil {
		return "", classifyLocal(img, err)
	}
	cs, err := r.Containers(ctx, dep.ID)
	if err != nil {
		return "", err
	}
	template, _ := oneOffTemplate(cs)
	s, err := r.oneOffSpec(ctx, dep, template, Image{Ref: img.Pinned(), ID: ii.ID}, r.preflightEnv(dep, dagsFolder), nil)
	if err != nil {
		return "", err
	}
	withoutIdentity(&s)
	s.cfg.Image, s.cfg.Labels = ii.ID, nil
	b, err := json.Marshal(struct {
		Checks  [][]string
		Config  *container.Config
		Host    *container.HostConfig
		Net     *network.NetworkingConfig
		Connect map[string]*network.EndpointSettings
	}{checks, s.cfg, s.host, s.net, s.connect})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func dropVar(env []string, name string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	return out
}

func clipTail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
