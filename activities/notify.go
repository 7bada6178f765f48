package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/notify"
)

// TargetsRequest asks which webhooks want an event of a deployment.
type TargetsRequest struct {
	DeploymentID string `json:"deploymentId"`
	Event        string `json:"event"`
}

// NotifyTargets returns the ids of the webhooks to notify; their URLs and
// secrets stay in the store, read by Deliver.
func (a *StoreActivities) NotifyTargets(ctx context.Context, req TargetsRequest) ([]string, error) {
	hooks, err := a.Store.Webhooks(ctx, req.DeploymentID)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, h := range hooks {
		if h.Wants(req.Event) {
			ids = append(ids, h.ID)
		}
	}
	return ids, nil
}

// DeliverRequest is one notification to one webhook.
type DeliverRequest struct {
	WebhookID    string              `json:"webhookId"`
	Notification notify.Notification `json:"notification"`
}

// Deliver posts the notification, signed with the webhook's secret and
// carrying its idempotency key, so a receiver takes it once however often
// it is retried. A receiver that is down or answers 5xx, 408 or 429 is
// retried (with backoff, by the workflow's policy); one that refuses the
// request itself (other 4xx) is not: retrying would not change its answer.
func (a *StoreActivities) Deliver(ctx context.Context, req DeliverRequest) error {
	h, err := a.Store.GetWebhook(ctx, req.WebhookID)
	if err != nil {
		return refuse(err) // removed since: nothing to deliver to
	}
	n := req.Notification
	n.ID = notify.Key(n.WorkflowID, n.RunID, n.Event, h.ID)
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	at := time.Now()
	// Checked again at each delivery: the host may resolve elsewhere now,
	// and the dialer checks each connection too (issue 26).
	var allow []string
	if a.Config != nil {
		allow = a.Config.WebhookAllowHosts
	}
	egress := notify.NewEgress(allow)
	if err := egress.Check(ctx, h.URL); err != nil {
		var unresolved *notify.UnresolvedError
		if errors.As(err, &unresolved) {
			return fmt.Errorf("webhook %s: %w; retrying", h.ID, err)
		}
		return temporal.NewNonRetryableApplicationError("webhook "+h.ID+": "+err.Error(), "InvalidInput", nil)
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return temporal.NewNonRetryableApplicationError("webhook "+h.ID+": "+notify.ScrubError(err, h.URL), "InvalidInput", nil)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "rewind-webhook/1")
	r.Header.Set(notify.HeaderIdempotency, n.ID)
	r.Header.Set(notify.HeaderEvent, n.Event)
	r.Header.Set(notify.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	r.Header.Set(notify.HeaderSignature, notify.Sign(h.Secret, at, body))
	resp, err := egress.Client(15 * time.Second).Do(r)
	if err != nil {
		return fmt.Errorf("webhook %s: %s", h.ID, notify.ScrubError(err, h.URL))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		activity.GetLogger(ctx).Info("notification delivered", "webhook", h.ID, "event", n.Event, "workflowId", n.WorkflowID, "status", c)
		return nil
	case c >= 300 && c < 400:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("webhook %s (%s) answered %s, a redirect; rewind never follows one: give the final URL",
			h.ID, notify.Redact(h.URL), resp.Status), "WebhookRefused", nil)
	case c >= 500 || c == http.StatusRequestTimeout || c == http.StatusTooManyRequests:
		return fmt.Errorf("webhook %s answered %s; retrying", h.ID, resp.Status)
	default:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("webhook %s refused the notification: %s", h.ID, resp.Status), "WebhookRefused", nil)
	}
}
