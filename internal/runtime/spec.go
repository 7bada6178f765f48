package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	units "github.com/docker/go-units"

	"github.com/rewindhq/rewind/internal/domain"
)

// A container's specification comes from two places (R17: stored
// configuration is what runs):
//
//   - from the deployment as stored: the component's command, the
//     environment and the resources (CPU, memory). These are what
//     `rewind deployment update` changes, so every container a change starts
//     gets them, whatever the container it replaces had;
//   - from the container it replaces, when there is one: everything the
//     deployment does not describe and an operator may have set on the
//     Engine — mounts, networks and aliases, other host settings such as
//     CPU shares. A first deploy takes these from the Runtime's Config.
//
// Labels are rewind's own bookkeeping, and an image can carry labels too:
// Docker merges the image's labels under the container's. So every rewind.*
// label is set explicitly (empty where it does not apply) and a label baked
// into an image can never make a container look like a one-off, another
// component or another deployment's.

// rewindLabels are every label rewind reads; each is set on each container.
var rewindLabels = []string{LabelDeployment, LabelComponent, LabelRevision, LabelImageRef, LabelImageDigest, LabelOneOff, LabelConfig}

// labelsFor returns a container's labels: the non-rewind labels kept from
// base, then every rewind.* label rewind reads, set explicitly.
func labelsFor(base map[string]string, set map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		if !strings.HasPrefix(k, "rewind.") {
			out[k] = v
		}
	}
	for _, k := range rewindLabels {
		out[k] = set[k]
	}
	return out
}

// storedEnv is the environment a deployment's containers get: its stored
// variables, plus where Airflow reads DAGs when the deployment does not say.
func (r *Runtime) storedEnv(dep domain.Deployment) []string {
	env := make([]string, 0, len(dep.Env)+1)
	for k, v := range dep.Env {
		env = append(env, k+"="+v)
	}
	if _, set := dep.Env["AIRFLOW__CORE__DAGS_FOLDER"]; !set && r.cfg.BundleRoot != "" {
		env = append(env, "AIRFLOW__CORE__DAGS_FOLDER="+r.cfg.MountPath+"/current")
	}
	sort.Strings(env)
	return env
}

// ConfigHash names one component's stored configuration (command,
// environment, resources). It is a container label, so a Swap can tell a
// container that runs the stored configuration from one that does not.
func (r *Runtime) ConfigHash(dep domain.Deployment, c domain.Component) string {
	b, _ := json.Marshal(struct {
		Cmd    string
		Env    []string
		CPU    string
		Memory string
	}{c.Command, r.storedEnv(dep), dep.Resources.CPU, dep.Resources.Memory})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// resources turns the stored CPU and memory into Docker's limits.
func resources(dep domain.Deployment) (nanoCPUs, memory int64, err error) {
	if cpu := dep.Resources.CPU; cpu != "" {
		f, perr := strconv.ParseFloat(cpu, 64)
		if perr != nil || f <= 0 {
			return 0, 0, domain.Errorf(domain.InvalidInput, "CPU %q of %s is not a number of CPUs", cpu, dep.ID)
		}
		nanoCPUs = int64(f * 1e9)
	}
	if mem := dep.Resources.Memory; mem != "" {
		b, perr := units.RAMInBytes(mem)
		if perr != nil {
			return 0, 0, domain.Errorf(domain.InvalidInput, "memory %q of %s is not a size: %v", mem, dep.ID, perr)
		}
		memory = b
	}
	return nanoCPUs, memory, nil
}

// spec is one container to create: its configuration and the networks to
// connect before its first start (API 1.41 attaches only one at create).
type spec struct {
	cfg     *container.Config
	host    *container.HostConfig
	net     *network.NetworkingConfig
	connect map[string]*network.EndpointSettings
}

// componentSpec is the container of component c on img: the stored
// configuration, on top of template's Engine settings when there is a
// container to take them from (else the Runtime's defaults).
func (r *Runtime) componentSpec(ctx context.Context, dep domain.Deployment, c domain.Component, template string, img Image, labels map[string]string) (spec, error) {
	cmd := c.Argv()
	if len(cmd) == 0 {
		return spec{}, domain.Errorf(domain.InvalidInput, "component %s of %s has no command", c.Name, dep.ID)
	}
	nanoCPUs, memory, err := resources(dep)
	if err != nil {
		return spec{}, err
	}
	var s spec
	if template != "" {
		if s, err = r.fromContainer(ctx, template, img); err != nil {
			return spec{}, err
		}
	} else if s, err = r.fromDefaults(dep, img); err != nil {
		return spec{}, err
	}
	s.cfg.Cmd, s.cfg.Env = cmd, r.storedEnv(dep)
	s.cfg.Labels = labelsFor(s.cfg.Labels, labels)
	// Unset stored resources leave what the Engine has (an operator's
	// `docker update`); set ones are what runs.
	if nanoCPUs > 0 {
		s.host.NanoCPUs = nanoCPUs
	}
	if memory > 0 {
		s.host.Memory = memory
	}
	s.host.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}
	return s, nil
}

// fromContainer copies the Engine settings of a container for a new image.
//
// Docker stores a container's configuration merged with its image's: the
// inspected Labels, Entrypoint, Healthcheck… include what the old image set.
// Copied as is, the old image's values would override the new image's (its
// version labels, its health check). So every value equal to the old
// image's default is dropped and left to the new image. The command and
// environment are not copied at all: they come from the stored deployment.
func (r *Runtime) fromContainer(ctx context.Context, id string, img Image) (spec, error) {
	ci, err := r.cli.ContainerInspect(ctx, id)
	if err != nil {
		return spec{}, fmt.Errorf("inspect %s: %w", short(id), err)
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
		for k, v := range oc.Labels {
			if cfg.Labels[k] == v {
				delete(cfg.Labels, k)
			}
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
	s := spec{cfg: &cfg, host: &hc, net: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{}},
		connect: map[string]*network.EndpointSettings{}}
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
				s.net.EndpointsConfig[name] = e
			} else {
				s.connect[name] = e
			}
		}
	}
	return s, nil
}

// fromDefaults is a first deploy's Engine settings: the bundle root
// bind-mounted read-only, the configured network.
func (r *Runtime) fromDefaults(dep domain.Deployment, img Image) (spec, error) {
	cfg := &container.Config{Image: img.Pinned(), Labels: map[string]string{}}
	hc := &container.HostConfig{}
	if r.cfg.Network != "" {
		hc.NetworkMode = container.NetworkMode(r.cfg.Network)
	}
	if r.cfg.BundleRoot != "" {
		src, err := filepath.Abs(filepath.Join(r.cfg.BundleRoot, dep.ID))
		if err != nil {
			return spec{}, err
		}
		// API 1.41 has no CreateMountpoint: the source must exist.
		if err := os.MkdirAll(src, 0o755); err != nil {
			return spec{}, fmt.Errorf("bundle directory: %w", err)
		}
		hc.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: src, Target: r.cfg.MountPath, ReadOnly: true}}
	}
	return spec{cfg: cfg, host: hc, net: &network.NetworkingConfig{}}, nil
}

// create creates the container of a spec under name and connects its
// extra networks; on a failure to connect it removes what it created.
func (r *Runtime) create(ctx context.Context, s spec, name string) (string, error) {
	created, err := r.cli.ContainerCreate(ctx, s.cfg, s.host, s.net, nil, name)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	for n, es := range s.connect {
		if err := r.cli.NetworkConnect(ctx, n, created.ID, es); err != nil {
			_ = r.remove(context.WithoutCancel(ctx), created.ID)
			return "", fmt.Errorf("connect %s to %s: %w", name, n, err)
		}
	}
	return created.ID, nil
}
