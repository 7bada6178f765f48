package action

import (
	"context"

	"github.com/rewindhq/rewind/internal/domain"
)

// The deployment use cases: `rewind deployment create|update|show|list`,
// and the API's /api/v1/deployments routes. Creating and updating are
// administration; showing needs read access; the list is what the actor
// may read. Through rewind serve environment values are redacted.

// CreateDeployment makes a deployment with its settings.
type CreateDeployment struct {
	ID string `json:"id"`
	DeploymentSettings
}

func (a CreateDeployment) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "create deployments")
}

func (a CreateDeployment) Run(ctx context.Context, env Env, who Actor) (domain.Deployment, error) {
	if err := domain.CheckDeploymentID(a.ID); err != nil {
		return domain.Deployment{}, err
	}
	d := NewDeployment(a.ID)
	if err := a.ApplyAs(&d, who.User); err != nil {
		return domain.Deployment{}, err
	}
	if err := env.Store.CreateDeployment(ctx, d); err != nil {
		return domain.Deployment{}, err
	}
	env.log().Info("deployment created", "deployment", d.ID, "by", who.User)
	return env.deployment(d), nil
}

// UpdateDeployment changes a deployment's settings; its DAG source is set
// when it is created and not after.
type UpdateDeployment struct {
	ID       string
	Settings DeploymentSettings
}

func (a UpdateDeployment) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "update deployments")
}

func (a UpdateDeployment) Run(ctx context.Context, env Env, who Actor) (domain.Deployment, error) {
	if err := domain.CheckDeploymentID(a.ID); err != nil {
		return domain.Deployment{}, err
	}
	if a.Settings.DagSource != nil {
		return domain.Deployment{}, domain.Errorf(domain.InvalidInput, "a deployment's DAG source is set when it is created")
	}
	d, err := env.Store.GetDeployment(ctx, a.ID)
	if err != nil {
		return domain.Deployment{}, err
	}
	if err := a.Settings.ApplyAs(&d, who.User); err != nil {
		return domain.Deployment{}, err
	}
	if err := env.Store.UpdateDeploymentSettings(ctx, d); err != nil {
		return domain.Deployment{}, err
	}
	env.log().Info("deployment updated", "deployment", d.ID, "by", who.User)
	return env.deployment(d), nil
}

// ShowDeployment is one deployment, to an actor who may read it.
type ShowDeployment struct{ ID string }

func (a ShowDeployment) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayRead(ctx, env.Store, a.ID)
}

func (a ShowDeployment) Run(ctx context.Context, env Env, who Actor) (domain.Deployment, error) {
	d, err := env.Store.GetDeployment(ctx, a.ID)
	if err != nil {
		return domain.Deployment{}, err
	}
	return env.deployment(d), nil
}

// ListDeployments is every deployment the actor may read, by id.
type ListDeployments struct{}

func (ListDeployments) Permit(context.Context, Env, Actor) error { return nil }

func (ListDeployments) Run(ctx context.Context, env Env, who Actor) ([]domain.Deployment, error) {
	may, err := who.readable(ctx, env.Store)
	if err != nil {
		return nil, err
	}
	out := []domain.Deployment{}
	for after := ""; ; {
		page, err := env.Store.ListDeployments(ctx, after, 500)
		if err != nil {
			return nil, err
		}
		for _, d := range page {
			if may(d.ID) {
				out = append(out, env.deployment(d))
			}
		}
		if len(page) < 500 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}
