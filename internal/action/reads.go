package action

import (
	"context"
	"sort"
	"time"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
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

// rollbackWindow is R6's window as the workers apply it (Installation).
func (e Env) rollbackWindow(ctx context.Context) time.Duration {
	in, _ := Installation(ctx, e.Store, e.Config)
	return time.Duration(in.RollbackWindowDays) * 24 * time.Hour
}

// Installation is what the workers decide with: the settings the last
// worker to start published, so a history, the page and the API never
// offer a rollback the workers refuse, nor hide one they allow. Before any
// worker started, or when they cannot be read (the error says why), cfg's
// own settings stand in.
func Installation(ctx context.Context, st *store.Store, cfg *config.Config) (store.Installation, error) {
	in, ok, err := st.PublishedInstallation(ctx)
	if ok && err == nil {
		return in, nil
	}
	if cfg == nil {
		return store.Installation{}, err
	}
	return store.Installation{RollbacksEnabled: cfg.RollbacksEnabled, RollbackWindowDays: cfg.RollbackWindowDays,
		CleanupEnabled: cfg.CleanupEnabled, CleanupOlderThanDays: cfg.CleanupOlderThanDays}, err
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
