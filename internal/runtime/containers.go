package runtime

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/rewindhq/rewind/internal/domain"
)

// Container is one of a deployment's containers as `rewind` and tests show it.
type Container struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Component string `json:"component,omitempty"`
	OneOff    string `json:"oneOff,omitempty"`
	// Role is where the container is in its life: "active" (holds the
	// stable name), "next" (replacement of an unfinished swap), "draining"
	// (old worker finishing its tasks) or "other".
	Role        string            `json:"role"`
	Revision    int               `json:"revision"`
	Image       string            `json:"image"`
	ImageID     string            `json:"imageId"`
	ImageRef    string            `json:"imageRef,omitempty"`
	ImageDigest string            `json:"imageDigest,omitempty"`
	State       string            `json:"state"`  // running, exited, …
	Status      string            `json:"status"` // Docker's "Up 3 minutes"
	Created     time.Time         `json:"created"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// Containers lists every container of the deployment, in any state, by
// component then name.
func (r *Runtime) Containers(ctx context.Context, deploymentID string) ([]Container, error) {
	cs, err := r.list(ctx, deploymentID)
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(cs))
	for _, c := range cs {
		name := nameOf(c)
		comp := c.Labels[LabelComponent]
		role := "other"
		if comp != "" {
			base := ContainerName(deploymentID, comp)
			switch {
			case name == base:
				role = "active"
			case name == base+nextSuffix:
				role = "next"
			case strings.HasPrefix(name, base+drainingInfix):
				role = "draining"
			}
		}
		rev, _ := strconv.Atoi(c.Labels[LabelRevision])
		out = append(out, Container{
			ID: c.ID, Name: name, Component: comp, OneOff: c.Labels[LabelOneOff], Role: role, Revision: rev,
			Image: c.Image, ImageID: c.ImageID, ImageRef: c.Labels[LabelImageRef], ImageDigest: c.Labels[LabelImageDigest],
			State: string(c.State), Status: c.Status, Created: time.Unix(c.Created, 0).UTC(), Labels: c.Labels,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Component != out[j].Component {
			return out[i].Component < out[j].Component
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Current describes what the deployment runs now: the image of its active
// containers (the scheduler's when they differ), with the versions read from
// that image's labels. ok is false when the deployment has no container.
// Activities use it to decide a downgrade against what actually runs.
func (r *Runtime) Current(ctx context.Context, deploymentID string) (img Image, ok bool, err error) {
	cs, err := r.Containers(ctx, deploymentID)
	if err != nil {
		return Image{}, false, err
	}
	var pick *Container
	for i := range cs {
		c := &cs[i]
		if c.Role != "active" {
			continue
		}
		if pick == nil || c.Component == "scheduler" {
			pick = c
		}
	}
	if pick == nil {
		return Image{}, false, nil
	}
	img = Image{Ref: pick.ImageRef, Digest: pick.ImageDigest, ID: pick.ImageID}
	if ii, err := r.cli.ImageInspect(ctx, pick.ImageID); err == nil && ii.Config != nil {
		img.Labels = ii.Config.Labels
		img.RuntimeVersion = ii.Config.Labels[r.cfg.RuntimeVersionLabel]
		img.AirflowVersion = ii.Config.Labels[r.cfg.AirflowVersionLabel]
	}
	return img, true, nil
}

// OneOffOptions adjust RunOneOff.
type OneOffOptions struct {
	// Name identifies the job in the container name and label
	// (rewind-<deployment>-oneoff-<name>); default "job".
	Name string
	// Timeout bounds the run (default 10m); the container is killed after.
	Timeout time.Duration
}

// OneOffResult is the outcome of RunOneOff.
type OneOffResult struct {
	ExitCode int    `json:"exitCode"`
	Output   string `json:"output"` // stdout and stderr, interleaved
}

// RunOneOff runs cmd to completion in a throwaway container of the
// deployment, on image ref (e.g. the R11 metadata downgrade: `airflow db
// downgrade` with the newer image before the older one starts). The
// container takes the configuration of the deployment's active scheduler
// (or any active component) — environment, mounts, network — so it reaches
// the same metadata database, with no restart policy. A container left by
// an earlier attempt is removed first, which makes the call safe to retry
// for commands that are themselves idempotent. A non-zero exit is an
// ordinary error carrying the output.
func (r *Runtime) RunOneOff(ctx context.Context, deploymentID, imageRef string, cmd []string, opts OneOffOptions) (OneOffResult, error) {
	var res OneOffResult
	if err := domain.CheckDeploymentID(deploymentID); err != nil {
		return res, err
	}
	if len(cmd) == 0 {
		return res, domain.Errorf(domain.InvalidInput, "one-off on %s needs a command", deploymentID)
	}
	if opts.Name == "" {
		opts.Name = "job"
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
	img := Image{Ref: imageRef, ID: ii.ID}
	name := "rewind-" + deploymentID + oneOffInfix + opts.Name

	cs, err := r.Containers(ctx, deploymentID)
	if err != nil {
		return res, err
	}
	var template string
	for _, c := range cs {
		if c.Name == name {
			if err := r.remove(ctx, c.ID); err != nil {
				return res, err
			}
			continue
		}
		if c.Role == "active" && (template == "" || c.Component == "scheduler") {
			template = c.ID
		}
	}
	cfg := &container.Config{Image: imageRef, Labels: map[string]string{}}
	hc := &container.HostConfig{}
	var nc *network.NetworkingConfig
	var more map[string]*network.EndpointSettings
	if template != "" {
		if cfg, hc, nc, more, err = r.fromContainer(ctx, template, img); err != nil {
			return res, err
		}
		cfg.Image = imageRef
		cfg.Healthcheck = nil
		for k := range cfg.Labels {
			if strings.HasPrefix(k, "rewind.") {
				delete(cfg.Labels, k)
			}
		}
	}
	cfg.Cmd = cmd
	cfg.Labels[LabelDeployment] = deploymentID
	cfg.Labels[LabelOneOff] = opts.Name
	hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyDisabled}
	hc.AutoRemove = false // we read the exit code and logs first
	created, err := r.cli.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if err != nil {
		return res, fmt.Errorf("create %s: %w", name, err)
	}
	defer func() { _ = r.remove(context.WithoutCancel(ctx), created.ID) }()
	for n, es := range more {
		if err := r.cli.NetworkConnect(ctx, n, created.ID, es); err != nil {
			return res, fmt.Errorf("connect %s to %s: %w", name, n, err)
		}
	}

	runCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	waitC, errC := r.cli.ContainerWait(runCtx, created.ID, container.WaitConditionNextExit)
	if err := r.cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		return res, fmt.Errorf("start %s: %w", name, err)
	}
	select {
	case w := <-waitC:
		res.ExitCode = int(w.StatusCode)
	case err := <-errC:
		if runCtx.Err() != nil && ctx.Err() == nil {
			res.Output = r.logs(context.WithoutCancel(ctx), created.ID)
			return res, fmt.Errorf("%s did not finish within %s%s", name, opts.Timeout, tailOf(res.Output))
		}
		return res, fmt.Errorf("wait for %s: %w", name, err)
	}
	res.Output = r.logs(ctx, created.ID)
	if res.ExitCode != 0 {
		return res, fmt.Errorf("%s exited with code %d%s", name, res.ExitCode, tailOf(res.Output))
	}
	return res, nil
}

// logs returns a container's stdout and stderr.
func (r *Runtime) logs(ctx context.Context, id string) string {
	rc, err := r.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, _ = stdcopy.StdCopy(&buf, &buf, rc)
	return buf.String()
}

// tail is the end of a container's log, for error messages.
func (r *Runtime) tail(ctx context.Context, id string) string {
	return tailOf(r.logs(ctx, id))
}

func tailOf(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	t := strings.TrimSpace(strings.Join(lines, "\n"))
	if t == "" {
		return ""
	}
	return "; last output:\n" + t
}

// isGone: the container or image does not exist (any more).
func isGone(err error) bool {
	return cerrdefs.IsNotFound(err) || strings.Contains(strings.ToLower(err.Error()), "no such")
}

// isNotRunning: a signal sent to a container that already exited.
func isNotRunning(err error) bool {
	return cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "is not running")
}
