package action

import (
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/metadb"
	"github.com/rewindhq/rewind/internal/policy"
)

// DeploymentSettings are the changes `deployment create` and `deployment
// update` make, as the CLI's flags say them and as the API's body carries
// them: only what is set changes. One type for both paths, so the
// store-direct CLI and `rewind serve` apply and validate a change the same
// way, and an update never needs the current (secret) values sent back.
type DeploymentSettings struct {
	Name             *string           `json:"name,omitempty"`
	Description      *string           `json:"description,omitempty"`
	DagSource        *domain.DagSource `json:"dagSource,omitempty"`
	DagDeployEnabled *bool             `json:"dagDeployEnabled,omitempty"`
	RollbackEnabled  *bool             `json:"rollbackEnabled,omitempty"`
	Executor         *string           `json:"executor,omitempty"`
	Workers          *int              `json:"workers,omitempty"`
	CPU              *string           `json:"cpu,omitempty"`
	Memory           *string           `json:"memory,omitempty"`
	// AutoRollback, when present, replaces the bake settings; Enabled nil
	// keeps whether auto rollback is on.
	AutoRollback        *AutoRollbackSettings `json:"autoRollback,omitempty"`
	MetadataDatabaseURL *string               `json:"metadataDatabaseUrl,omitempty"`
	// Env sets variables, UnsetEnv removes them (after Env).
	Env      map[string]string `json:"env,omitempty"`
	UnsetEnv []string          `json:"unsetEnv,omitempty"`
	// Host is the Docker host the deployment runs on; it can change only
	// until the first deploy has put containers there.
	Host *string `json:"host,omitempty"`
	// Components, when non-empty, replaces the set.
	Components []domain.Component `json:"components,omitempty"`
}

// AutoRollbackSettings are the bake settings of a change; durations in
// nanoseconds, as domain.AutoRollback stores them.
type AutoRollbackSettings struct {
	Enabled    *bool         `json:"enabled,omitempty"`
	BakePeriod time.Duration `json:"bakePeriod"`
	Interval   time.Duration `json:"interval"`
	Failures   int           `json:"failures"`
}

// Defaults a deployment gets when nothing is said.
const (
	DefaultExecutor = "CeleryExecutor"
	DefaultWorkers  = 1
)

// NewDeployment is a deployment before its settings: image DAGs, the
// Airflow component set.
func NewDeployment(id string) domain.Deployment {
	return domain.Deployment{ID: id, Components: domain.DefaultComponents(), DagSource: domain.DagSourceImage, Host: domain.DefaultHost}
}

// ApplyAs is Apply by user: a change of the bake settings that leaves
// automatic rollback on records user as who enabled it, since its
// rollbacks run under their permissions (R22).
func (c DeploymentSettings) ApplyAs(d *domain.Deployment, user string) error {
	if err := c.Apply(d); err != nil {
		return err
	}
	if c.AutoRollback != nil && d.AutoRollback != nil && d.AutoRollback.Enabled {
		d.AutoRollback.EnabledBy = user
	}
	return nil
}

// Apply writes the settings onto d and validates the result. Errors are
// InvalidInput and name the setting.
func (c DeploymentSettings) Apply(d *domain.Deployment) error {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	for field, v := range map[string]*string{"name": c.Name, "description": c.Description} {
		if v != nil {
			if err := policy.CheckText(field, *v); err != nil {
				return err
			}
		}
	}
	set(&d.Name, c.Name)
	set(&d.Description, c.Description)
	set(&d.Resources.CPU, c.CPU)
	set(&d.Resources.Memory, c.Memory)
	if c.DagSource != nil {
		d.DagSource = *c.DagSource
	}
	if c.DagDeployEnabled != nil {
		d.DagDeployEnabled = *c.DagDeployEnabled
	}
	if c.RollbackEnabled != nil {
		d.RollbackEnabled = *c.RollbackEnabled
	}
	set(&d.Resources.Executor, c.Executor)
	if d.Resources.Executor == "" {
		d.Resources.Executor = DefaultExecutor
	}
	if c.Workers != nil {
		d.Resources.Workers = *c.Workers
	} else if d.Resources.Workers == 0 {
		d.Resources.Workers = DefaultWorkers
	}
	if a := c.AutoRollback; a != nil {
		ar := domain.AutoRollback{BakePeriod: a.BakePeriod, Interval: a.Interval, Failures: a.Failures}
		if d.AutoRollback != nil {
			ar.EnabledBy = d.AutoRollback.EnabledBy
		}
		switch {
		case a.Enabled != nil:
			ar.Enabled = *a.Enabled
		case d.AutoRollback != nil:
			ar.Enabled = d.AutoRollback.Enabled
		}
		if err := domain.CheckAutoRollback(&ar); err != nil {
			return err
		}
		d.AutoRollback = &ar
	}
	if c.MetadataDatabaseURL != nil {
		if err := metadb.Check(*c.MetadataDatabaseURL); err != nil {
			return err
		}
		d.MetadataDatabaseURL = *c.MetadataDatabaseURL
	}
	if d.Env == nil {
		d.Env = map[string]string{}
	}
	for k, v := range c.Env {
		if !ValidEnvName(k) {
			return domain.Errorf(domain.InvalidInput, "environment variable %q: a name is letters, digits and _, not starting with a digit", clipName(k))
		}
		d.Env[k] = v
	}
	for _, k := range c.UnsetEnv {
		delete(d.Env, k)
	}
	if len(c.Components) > 0 {
		seen := map[string]bool{}
		comps := make([]domain.Component, 0, len(c.Components))
		for _, comp := range c.Components {
			if domain.CheckDeploymentID(comp.Name) != nil || seen[comp.Name] {
				return domain.Errorf(domain.InvalidInput, "component %q: want a unique NAME=COMMAND with a lowercase name", clipName(comp.Name+"="+comp.Command))
			}
			seen[comp.Name] = true
			norm, err := NormalizeComponent(comp)
			if err != nil {
				return err
			}
			comps = append(comps, norm)
		}
		d.Components = comps
	}
	if c.Host != nil && *c.Host != d.Host {
		if err := domain.CheckHost(*c.Host); err != nil {
			return err
		}
		// The containers, the bundle root and the snapshots of a deployed
		// deployment are on its host: moving it would strand them.
		if d.CurrentRevision > 0 {
			return domain.Errorf(domain.InvalidInput, "--host: deployment %s runs on host %s already; moving a deployed deployment to another host is not supported", d.ID, d.Host)
		}
		d.Host = *c.Host
	}
	if d.Host == "" {
		d.Host = domain.DefaultHost
	}
	if d.Name == "" {
		d.Name = d.ID
	}
	if !d.DagSource.Valid() {
		return domain.Errorf(domain.InvalidInput, "--dag-source %q: want image, bundle, nfs or git-sync", clipName(string(d.DagSource)))
	}
	// One container per component is what the runtime starts: a worker
	// count it would ignore is refused rather than recorded.
	if c.Workers != nil && *c.Workers != DefaultWorkers {
		return domain.Errorf(domain.InvalidInput, "workers %d: rewind runs one container per component; run more workers as more worker components (--component worker-2=\"airflow celery worker\")", *c.Workers)
	}
	if d.Resources.Workers < 0 || d.Resources.Workers > 100 {
		return domain.Errorf(domain.InvalidInput, "--workers must be between 0 and 100")
	}
	if len(d.Name) > 200 || len(d.Description) > 1000 {
		return domain.Errorf(domain.InvalidInput, "name (200) or description (1000 characters) is too long")
	}
	return nil
}

// ValidEnvName: an environment variable's name as a shell would take it.
func ValidEnvName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func clipName(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:59]) + "…"
	}
	return s
}
