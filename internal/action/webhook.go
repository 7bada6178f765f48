package action

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/store"
)

// AddWebhook checks and stores a webhook, for the CLI store-direct and
// `rewind serve` alike: an http(s) URL, known events, an existing
// deployment (or none: every deployment) and a secret of 16 bytes or more.
// The URL must go out: its host resolves to no internal address, unless
// an administrator allowed it (notify.Egress).
func AddWebhook(ctx context.Context, st *store.Store, egress notify.Egress, deploymentID, url, secret string, events []string) (store.Webhook, error) {
	if err := egress.Check(ctx, url); err != nil {
		return store.Webhook{}, err
	}
	if err := notify.CheckEvents(events); err != nil {
		return store.Webhook{}, err
	}
	if deploymentID != "" {
		if err := domain.CheckDeploymentID(deploymentID); err != nil {
			return store.Webhook{}, err
		}
		if _, err := st.GetDeployment(ctx, deploymentID); err != nil {
			return store.Webhook{}, err
		}
	}
	if len(secret) < 16 {
		return store.Webhook{}, domain.Errorf(domain.InvalidInput, "a webhook's secret must be 16 bytes or more")
	}
	id := make([]byte, 6)
	if _, err := rand.Read(id); err != nil {
		return store.Webhook{}, err
	}
	w := store.Webhook{ID: "wh_" + hex.EncodeToString(id), DeploymentID: deploymentID, URL: url, Secret: secret, Events: events, CreatedAt: time.Now()}
	return w, st.CreateWebhook(ctx, w)
}
