package action

import (
	"context"
	"sort"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// The read use cases of history and delivery metrics: `rewind history`,
// `rewind metrics`, and their API routes.

// ListDeploys is a page of a deployment's history, newest first, each
// revision with whether it is a rollback target now (R6 with the window
// the workers apply, R7), and where the next (older) page starts. Before 0
// is the newest page.
type ListDeploys struct {
	Deployment string
	Limit      int
	Before     int
}

func (a ListDeploys) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayRead(ctx, env.Store, a.Deployment)
}

func (a ListDeploys) Run(ctx context.Context, env Env, who Actor) (DeploysPage, error) {
	if a.Before < 0 {
		return DeploysPage{}, domain.Errorf(domain.InvalidInput, "before must be a revision number (1 or more), or absent for the newest")
	}
	revs, err := (&History{Store: env.Store, Limit: a.Limit, Before: a.Before}).Run(ctx, a.Deployment)
	if err != nil {
		return DeploysPage{}, err
	}
	p, err := WithTargets(ctx, env.Store, a.Deployment, revs, env.now(), env.rollbackWindow(ctx))
	if err != nil {
		return DeploysPage{}, err
	}
	if len(revs) == a.Limit && revs[len(revs)-1].Number > 1 {
		p.NextBefore = revs[len(revs)-1].Number
	}
	return p, nil
}

// rollbackWindow is R6's window as the workers apply it: the settings the
// last worker to start published, else this process's configuration.
func (e Env) rollbackWindow(ctx context.Context) time.Duration {
	days := 0
	if e.Config != nil {
		days = e.Config.RollbackWindowDays
	}
	if in, ok, err := e.Store.PublishedInstallation(ctx); err == nil && ok {
		days = in.RollbackWindowDays
	}
	return time.Duration(days) * 24 * time.Hour
}

// ShowMetrics is the delivery metrics (docs/metrics.md) over Since (30d
// when empty): of one deployment, to an actor who may read it; or, with no
// deployment, across the deployments the actor may read, each with its
// rates. An actor without grants gets an empty report, never another
// deployment's numbers.
type ShowMetrics struct {
	Deployment string
	Since      string
}

func (a ShowMetrics) Permit(ctx context.Context, env Env, who Actor) error {
	if a.Deployment == "" {
		return nil
	}
	return who.mayRead(ctx, env.Store, a.Deployment)
}

func (a ShowMetrics) Run(ctx context.Context, env Env, who Actor) (MetricsReport, error) {
	m := DeliveryMetrics{Store: env.Store, Since: a.Since, Now: env.Now}
	if a.Deployment == "" && who.Verified {
		grants, err := who.grants(ctx, env.Store)
		if err != nil {
			return MetricsReport{}, err
		}
		if all, ids := Readable(grants); !all {
			m.Readable = make([]string, 0, len(ids))
			for id := range ids {
				m.Readable = append(m.Readable, id)
			}
			sort.Strings(m.Readable)
		}
	}
	return m.Run(ctx, a.Deployment)
}
