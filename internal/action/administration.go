package action

import (
	"context"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/store"
)

// The administration use cases: the retention cleanup (`rewind cleanup`),
// webhooks and the test notification (`rewind notify`). All need
// system.admin: a cleanup deletes history and artifacts, a webhook
// receives every change's notifications. Permission is decided before
// Temporal or the store is asked anything, so a refusal starts, changes
// and discloses nothing. A webhook's secret goes in and never comes out
// (store.Webhook does not marshal it).

// ShowCleanup is the cleanup's status: its schedule, runs and outbox.
type ShowCleanup struct{}

func (ShowCleanup) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "read the cleanup's status")
}

func (ShowCleanup) Run(ctx context.Context, env Env, who Actor) ([]StatusRow, error) {
	tc, err := env.temporal()
	if err != nil {
		return nil, err
	}
	return CleanupStatus(ctx, tc, env.Store)
}

// RunCleanup starts a cleanup now.
type RunCleanup struct{}

func (RunCleanup) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "run a cleanup")
}

func (RunCleanup) Run(ctx context.Context, env Env, who Actor) (CleanupStarted, error) {
	tc, err := env.temporal()
	if err != nil {
		return CleanupStarted{}, err
	}
	st, err := TriggerCleanup(ctx, tc)
	if err == nil {
		env.log().Info("cleanup triggered", "workflow", st.WorkflowID, "by", who.User)
	}
	return st, err
}

// ShowCleanupRun is one cleanup run.
type ShowCleanupRun struct {
	WorkflowID string
}

func (ShowCleanupRun) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "read a cleanup")
}

func (a ShowCleanupRun) Run(ctx context.Context, env Env, who Actor) (CleanupRun, error) {
	if a.WorkflowID == "" || len(a.WorkflowID) > 255 {
		return CleanupRun{}, domain.Errorf(domain.InvalidInput, "workflow id must be 1-255 characters")
	}
	tc, err := env.temporal()
	if err != nil {
		return CleanupRun{}, err
	}
	return CleanupRunOf(ctx, tc, a.WorkflowID)
}

// ResetSchedule rewrites the cleanup's schedule from the configuration.
type ResetSchedule struct{}

func (ResetSchedule) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "rewrite the cleanup schedule")
}

func (ResetSchedule) Run(ctx context.Context, env Env, who Actor) (ScheduleReset, error) {
	tc, err := env.temporal()
	if err != nil {
		return ScheduleReset{}, err
	}
	res, err := ResetCleanupSchedule(ctx, tc, env.Config)
	if err == nil {
		env.log().Info("cleanup schedule rewritten", "cron", res.Cron, "enabled", res.Enabled, "by", who.User)
	}
	return res, err
}

// ReleaseGarbage puts what cleanup set aside back in line.
type ReleaseGarbage struct{}

// Released is ReleaseGarbage's answer.
type Released struct {
	Released int `json:"released"`
}

func (ReleaseGarbage) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "release what cleanup set aside")
}

func (ReleaseGarbage) Run(ctx context.Context, env Env, who Actor) (Released, error) {
	n, err := env.Store.ReleaseGarbage(ctx)
	if err == nil {
		env.log().Info("set-aside artifacts released", "count", n, "by", who.User)
	}
	return Released{n}, err
}

// SendTestNotification sends a sample notification through the worker and
// waits for its delivery, at most notifyTestTimeout (under rewind serve's
// write timeout).
type SendTestNotification struct {
	DeploymentID string `json:"deploymentId,omitempty"`
}

const notifyTestTimeout = 90 * time.Second

func (SendTestNotification) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "send test notifications")
}

func (a SendTestNotification) Run(ctx context.Context, env Env, who Actor) (NotifyTested, error) {
	ctx, cancel := context.WithTimeout(ctx, notifyTestTimeout)
	defer cancel()
	tc, err := env.temporal()
	if err != nil {
		return NotifyTested{}, err
	}
	res, err := NotifyTest(ctx, env.Config, tc, a.DeploymentID, who.User)
	if err == nil {
		env.log().Info("test notification sent", "workflow", res.WorkflowID, "delivered", res.Delivered, "by", who.User)
	}
	return res, err
}

// CreateWebhook stores a webhook (AddWebhook's checks).
type CreateWebhook struct {
	DeploymentID string   `json:"deploymentId,omitempty"`
	URL          string   `json:"url"`
	Secret       string   `json:"secret"`
	Events       []string `json:"events,omitempty"`
}

func (CreateWebhook) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "add webhooks")
}

func (a CreateWebhook) Run(ctx context.Context, env Env, who Actor) (store.Webhook, error) {
	hook, err := AddWebhook(ctx, env.Store, notify.NewEgress(env.Config.WebhookAllowHosts), a.DeploymentID, a.URL, a.Secret, a.Events)
	if err == nil {
		env.log().Info("webhook added", "webhook", hook.ID, "deployment", hook.DeploymentID, "by", who.User)
	}
	return hook, err
}

// ListWebhooks lists every webhook, secrets left out.
type ListWebhooks struct{}

func (ListWebhooks) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "list webhooks")
}

func (ListWebhooks) Run(ctx context.Context, env Env, who Actor) ([]store.Webhook, error) {
	hooks, err := env.Store.Webhooks(ctx, "*")
	if hooks == nil {
		hooks = []store.Webhook{}
	}
	return hooks, err
}

// RemoveWebhook deletes a webhook.
type RemoveWebhook struct {
	ID string
}

// Removed is RemoveWebhook's answer.
type Removed struct {
	ID      string `json:"id"`
	Removed string `json:"removed"`
}

func (RemoveWebhook) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "remove webhooks")
}

func (a RemoveWebhook) Run(ctx context.Context, env Env, who Actor) (Removed, error) {
	if err := env.Store.DeleteWebhook(ctx, a.ID); err != nil {
		return Removed{}, err
	}
	env.log().Info("webhook removed", "webhook", a.ID, "by", who.User)
	return Removed{a.ID, "true"}, nil
}
