// Package runtime is the one place where rewind talks to a Docker Engine.
//
// A deployment's Airflow components run as containers on the Engine named by
// DOCKER_HOST. Each carries labels naming the deployment, the component and
// the revision that created it, and a stable name, rewind-<deployment>-<component>.
// Labels, not names, are how rewind finds a deployment's containers; names
// encode where a container is in a swap (see Swap), so that a swap
// interrupted at any point can be resumed by running it again.
//
// Nothing here knows about Temporal: activities call these methods and turn
// the errors into Temporal errors. Refusals a caller can act on are
// *domain.Error (NotFound, DigestMismatch, InvalidInput) and must not be
// retried; every other error (daemon or registry unreachable, timeouts) is
// ordinary and worth retrying.
package runtime

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/rewindhq/rewind/internal/domain"
)

// Labels rewind puts on every container it creates.
const (
	LabelDeployment  = "rewind.deployment"   // deployment id
	LabelComponent   = "rewind.component"    // component name (scheduler, worker, …)
	LabelRevision    = "rewind.revision"     // revision number that created the container
	LabelImageRef    = "rewind.image.ref"    // repo:tag as deployed
	LabelImageDigest = "rewind.image.digest" // sha256 repo digest as deployed
	LabelOneOff      = "rewind.oneoff"       // set on one-off containers (e.g. db-downgrade), empty on components
	LabelConfig      = "rewind.config"       // hash of the stored configuration the container runs (R17)
)

// Default image labels carrying the Astronomer Runtime and Airflow versions.
const (
	DefaultRuntimeVersionLabel = "io.astronomer.docker.runtime.version"
	DefaultAirflowVersionLabel = "io.astronomer.docker.airflow.version"
)

// DefaultMountPath is where <bundle root>/<deployment> appears in every
// container; Airflow reads DAGs from its `current` symlink (SPEC §1).
const DefaultMountPath = "/usr/local/airflow/dags"

// Config is fixed for the life of a Runtime. Zero values take the defaults
// documented on each field.
type Config struct {
	// RuntimeVersionLabel and AirflowVersionLabel name the image labels the
	// versions are read from (defaults: the Astronomer labels).
	RuntimeVersionLabel string
	AirflowVersionLabel string
	// BundleRoot is the host directory holding <deployment>/bundles/… and
	// <deployment>/current. A first deploy bind-mounts BundleRoot/<id>
	// read-only at MountPath. Empty: no mount.
	BundleRoot string
	MountPath  string // default DefaultMountPath
	// Network is the network a first deploy attaches containers to (empty:
	// the daemon's default). Later deploys copy the current container's.
	Network string
	// DrainTimeout is how long an old worker may keep finishing its tasks
	// after SIGTERM before Docker kills it (default 1h; R11).
	DrainTimeout time.Duration
	// StopTimeout is the grace period of non-worker components (default 30s).
	StopTimeout time.Duration
	// HealthTimeout bounds the wait for new containers to run and be
	// healthy (default 2m).
	HealthTimeout time.Duration
	// HealthAttempts is how many times, within HealthTimeout, a swap
	// recreates replacements that crash or turn unhealthy before it gives
	// up for good (default 3).
	HealthAttempts int
	// StableFor is how long a container without a HEALTHCHECK must have been
	// running since its last start to count as up, so that one that crashes
	// right after starting is not taken for healthy (default 250ms).
	StableFor time.Duration
	// RegistryConfig is the docker config (a directory holding config.json,
	// or the file itself) registry credentials are read from; empty:
	// docker's own, $DOCKER_CONFIG or ~/.docker (see auth.go).
	RegistryConfig string
	// HelperTimeout bounds one run of a credential helper (default
	// DefaultHelperTimeout).
	HelperTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.RuntimeVersionLabel == "" {
		c.RuntimeVersionLabel = DefaultRuntimeVersionLabel
	}
	if c.AirflowVersionLabel == "" {
		c.AirflowVersionLabel = DefaultAirflowVersionLabel
	}
	if c.MountPath == "" {
		c.MountPath = DefaultMountPath
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = time.Hour
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = 30 * time.Second
	}
	if c.HealthTimeout == 0 {
		c.HealthTimeout = 2 * time.Minute
	}
	if c.HealthAttempts == 0 {
		c.HealthAttempts = 3
	}
	if c.HelperTimeout == 0 {
		c.HelperTimeout = DefaultHelperTimeout
	}
	if c.StableFor == 0 {
		c.StableFor = 250 * time.Millisecond
	}
	return c
}

// Runtime drives one Docker Engine. It is safe for concurrent use on
// different deployments; R14 keeps two changes off the same deployment.
type Runtime struct {
	cli *client.Client
	cfg Config
}

// New connects to the Engine from the environment (DOCKER_HOST,
// DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) and negotiates the API version, so the
// same binary works with Docker 20.10 (API 1.41) and newer daemons.
func New(cfg Config) (*Runtime, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Runtime{cli: cli, cfg: cfg.withDefaults()}, nil
}

// Client exposes the Docker client for tests and diagnostics.
func (r *Runtime) Client() *client.Client { return r.cli }

// Config returns the effective configuration (defaults filled in).
func (r *Runtime) Config() Config { return r.cfg }

// Ping checks that the daemon answers; an error is transient.
func (r *Runtime) Ping(ctx context.Context) error {
	if _, err := r.cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker daemon unreachable: %w", err)
	}
	return nil
}

// Close closes the client.
func (r *Runtime) Close() error { return r.cli.Close() }

// ContainerName is the stable name of a component's container.
func ContainerName(deploymentID, component string) string {
	return "rewind-" + deploymentID + "-" + component
}

const (
	nextSuffix     = "-next"
	drainingInfix  = "-draining-"
	oneOffInfix    = "-oneoff-"
	killedExitCode = 137
)

// Component names become part of container names; the suffixes Swap uses
// for its intermediate states are reserved so names never collide.
var componentPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

func checkComponent(name string) error {
	if !componentPattern.MatchString(name) || strings.HasSuffix(name, nextSuffix) ||
		strings.Contains(name, drainingInfix) || strings.Contains(name, oneOffInfix) || strings.HasPrefix(name, "oneoff-") {
		return domain.Errorf(domain.InvalidInput, "component name %q is not valid: lowercase letters, digits and '-', not ending in -next nor containing -draining- or -oneoff-", name)
	}
	return nil
}

// IsWorker says whether a component runs tasks, and so is drained or killed
// rather than simply stopped (R11): "worker", "worker-…" or a Celery worker
// command.
func IsWorker(c domain.Component) bool {
	return c.Name == "worker" || strings.HasPrefix(c.Name, "worker-") || strings.Contains(c.Command, "celery worker")
}
