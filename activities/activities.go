// Package activities holds everything rewind's workflows do to the world,
// in two types so a reader sees at once what runs where: StoreActivities
// (the store, Temporal, notifications, logs) on the shared task queue, and
// HostActivities (Docker, the bundle root, one-offs) on each Docker host's
// own queue. Every activity is safe to run twice: Temporal retries them
// after a worker dies between doing the work and reporting it.
package activities

import (
	"errors"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/internal/store"
)

// StoreActivities act on rewind's store and on Temporal: they decide
// (validate, plan, guard), record and finish revisions, notify, export
// logs and clean up. Any worker runs them, from the shared task queue,
// whatever Docker host it drives.
type StoreActivities struct {
	Store  *store.Store
	Config *config.Config
	// Temporal lets RecordRevision tell a running change from an abandoned
	// one (R14). Nil in unit tests: every holder then counts as running.
	Temporal client.Client
	// DataConverter reads payloads of histories (an abandoned change's
	// events); the default converter when nil.
	DataConverter converter.DataConverter
	// Runtime is this worker's Engine, read by rollbacks started before
	// plans asked the deployment's host (InspectRollback), and by a bake's
	// start when this worker drives the deployment's host; nil in unit
	// tests.
	Runtime *runtime.Runtime
	// Bundles holds packed DAG bundles by digest (checked and diffed here).
	Bundles bundle.Store
	// Images removes local images for cleanup (the runtime, when Docker is used).
	Images ImageRemover
	// Exporter sends log events to Elasticsearch, or to the NDJSON file
	// when none is configured; Fallback keeps what Elasticsearch rejects.
	Exporter eslog.Exporter
	Fallback eslog.Exporter
	// Faults is for fault and crash tests only (REWIND_FAULTS).
	Faults Faults
}

// HostActivities act on one Docker host: pull, bundles, one-offs,
// preflight, swap, verify, stop, metadata downgrade, snapshot and
// restore, drain and probe. A worker runs them from its host's queue
// (<queue>@<host>), so they reach the Engine the deployment runs on.
type HostActivities struct {
	// Store is read for the deployment's configuration (never carried in
	// payloads) and written for what the host found (an image's digest).
	Store  *store.Store
	Config *config.Config
	// Runtime is the Docker Engine this worker drives (DOCKER_HOST).
	Runtime *runtime.Runtime
	// Bundles holds packed DAG bundles by digest, fetched from the
	// registry into this host's bundle root when one is configured.
	Bundles bundle.Store
	// Images removes this host's images for cleanup (the runtime).
	Images ImageRemover
}

// refuse turns a domain refusal into a non-retryable application error with
// the stable SPEC §3 type; anything else stays retryable.
func refuse(err error) error {
	var de *domain.Error
	if errors.As(err, &de) {
		return temporal.NewNonRetryableApplicationError(de.Message, string(de.Type), nil)
	}
	return err
}
