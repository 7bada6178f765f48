package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/eslog"
)

// ExportEvents exports a change's events. Transient failures (Elasticsearch
// down, 429, 5xx) are retried by Temporal; documents Elasticsearch rejects
// for good are kept in the NDJSON fallback file so nothing is lost, and the
// activity fails without retrying.
func (a *StoreActivities) ExportEvents(ctx context.Context, events []eslog.Event) error {
	stop := heartbeatWhile(ctx, "exporting log events")
	defer stop()
	err := a.Exporter.Export(ctx, events)
	if err == nil {
		return nil
	}
	var perm *eslog.PermanentError
	if errors.As(err, &perm) && a.Fallback != nil {
		var rejected []eslog.Event
		for _, f := range perm.Failures {
			rejected = append(rejected, f.Event)
		}
		if ferr := a.Fallback.Export(ctx, rejected); ferr != nil {
			return ferr
		}
		activity.GetLogger(ctx).Error("Elasticsearch rejected log events; kept them in the NDJSON fallback", "rejected", len(rejected), "error", err)
		return temporal.NewNonRetryableApplicationError(err.Error(), "ExportRejected", err)
	}
	return err
}
