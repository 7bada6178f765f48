// Package app wires rewind's parts together: configuration, store, Temporal
// client and worker. The worker binary and the integration tests both start
// the worker through Worker, so they cannot drift apart.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/namespace"
	"github.com/rewindhq/rewind/internal/redact"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// Logger builds the process logger: JSON on stderr at the configured level.
func Logger(cfg *config.Config) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.LogLevel))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// Dial connects to Temporal with the configured address, namespace, TLS,
// API key and payload encryption (ClientOptions).
func Dial(cfg *config.Config, logger *slog.Logger) (client.Client, error) {
	return dial(cfg, logger, nil)
}

func dial(cfg *config.Config, logger *slog.Logger, metrics client.MetricsHandler) (client.Client, error) {
	opts, err := ClientOptions(cfg, logger, metrics)
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(opts)
	if err != nil {
		return nil, dialError(cfg, err)
	}
	return c, nil
}

// Register puts every workflow and activity of rewind on one worker (a
// replayer or test environment), under their public names. A real worker
// splits them over two queues (RegisterShared, RegisterHost).
func Register(r worker.Registry, store *activities.StoreActivities, host *activities.HostActivities) {
	RegisterShared(r, store)
	r.RegisterActivity(host)
}

// RegisterShared registers what the shared task queue runs: the workflows
// and the store activities.
func RegisterShared(r worker.Registry, store *activities.StoreActivities) {
	RegisterWorkflows(r)
	r.RegisterActivity(store)
}

// RegisterWorkflows registers the workflows alone, for the replayer.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.DeployWorkflow, workflow.RegisterOptions{Name: workflows.DeployWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.RollbackWorkflow, workflow.RegisterOptions{Name: workflows.RollbackWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ExportEventsWorkflow, workflow.RegisterOptions{Name: workflows.ExportEventsWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.CleanupWorkflow, workflow.RegisterOptions{Name: workflows.CleanupWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.DrainDeadlineWorkflow, workflow.RegisterOptions{Name: workflows.DrainDeadlineWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.ApplyConfigWorkflow, workflow.RegisterOptions{Name: workflows.ApplyConfigWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.NotifyWorkflow, workflow.RegisterOptions{Name: workflows.NotifyWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.BakeWorkflow, workflow.RegisterOptions{Name: workflows.BakeWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.FleetRollbackWorkflow, workflow.RegisterOptions{Name: workflows.FleetRollbackWorkflowName})
}

// Exporters builds the log exporter: Elasticsearch when addresses are
// configured (its index template put now if it answers, else on first
// export), the NDJSON file otherwise. The file is also the fallback for
// documents Elasticsearch rejects.
func Exporters(ctx context.Context, cfg *config.Config, logger *slog.Logger) (exporter, fallback eslog.Exporter, err error) {
	file, err := eslog.NewFile(eslog.DefaultLogDir(cfg.DataDir), cfg.ElasticsearchIndexPrefix)
	if err != nil {
		return nil, nil, err
	}
	if len(cfg.ElasticsearchAddresses) == 0 {
		return file, nil, nil
	}
	es, err := eslog.NewElasticsearch(eslog.ElasticsearchConfig{Addresses: cfg.ElasticsearchAddresses, Username: cfg.ElasticsearchUsername,
		Password: cfg.ElasticsearchPassword, APIKey: cfg.ElasticsearchAPIKey, IndexPrefix: cfg.ElasticsearchIndexPrefix, Logger: logger})
	if err != nil {
		// The client quotes a malformed address whole, password included.
		secrets := []string{cfg.ElasticsearchPassword, cfg.ElasticsearchAPIKey}
		for _, a := range cfg.ElasticsearchAddresses {
			secrets = append(secrets, redact.Secrets(a)...)
		}
		return nil, nil, errors.New("REWIND_ELASTICSEARCH_ADDRESSES: " + redact.Scrub(err.Error(), slices.DeleteFunc(secrets, func(s string) bool { return s == "" })))
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := es.EnsureTemplate(tctx); err != nil {
		logger.Warn("Elasticsearch index template not put yet; exports retry until Elasticsearch answers", "error", err)
	}
	return es, file, nil
}

// Running is a started worker and what it holds open.
type Running struct {
	worker  worker.Worker // the shared queue: workflows, store activities
	host    worker.Worker // <queue>@<host>: this host's activities
	client  client.Client
	store   *store.Store
	runtime *runtime.Runtime
	metrics *Metrics
	logger  *slog.Logger

	stopTimeout time.Duration
}

// MetricsAddr is where /metrics is served ("" when off).
func (r *Running) MetricsAddr() string { return r.metrics.Addr }

// Runtime connects to the Docker Engine with the configured labels,
// timeouts and bundle root.
func Runtime(cfg *config.Config) (*runtime.Runtime, error) {
	return runtime.New(runtime.Config{
		RuntimeVersionLabel: cfg.RuntimeVersionLabel, AirflowVersionLabel: cfg.AirflowVersionLabel,
		BundleRoot: cfg.BundleRoot, Network: cfg.DockerNetwork,
		DrainTimeout: cfg.DrainTimeout, StopTimeout: cfg.StopTimeout, HealthTimeout: cfg.HealthTimeout, HealthAttempts: cfg.HealthAttempts,
		RegistryConfig: cfg.RegistryConfig,
	})
}

// StartWorker opens the store, connects to Temporal, registers the search
// attributes and starts polling. When it returns without error the worker
// is ready: callers may start workflows that set the search attributes.
func StartWorker(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*Running, error) {
	if err := MakeDataDir(cfg); err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	// Requesters are verified with this key (R18); without one configured
	// the worker makes one in the data directory, shared with the CLI of
	// an embedded installation.
	if _, err := cfg.EnsureSigningKey(); err != nil {
		st.Close()
		return nil, fmt.Errorf("request signing key: %w", err)
	}
	metrics, err := StartMetrics(cfg.MetricsAddress, logger)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("REWIND_METRICS_ADDRESS %s: %w", cfg.MetricsAddress, err)
	}
	c, err := dial(cfg, logger, metrics.Handler)
	if err != nil {
		st.Close()
		metrics.Stop()
		return nil, err
	}
	faults, err := activities.ParseFaults(cfg.Faults)
	if err != nil {
		st.Close()
		c.Close()
		return nil, fmt.Errorf("REWIND_FAULTS: %w", err)
	}
	if len(faults) > 0 {
		logger.Warn("fault injection is on (REWIND_FAULTS): for tests only", "faults", faults.String())
	}
	exporter, fallback, err := Exporters(ctx, cfg, logger)
	if err != nil {
		st.Close()
		c.Close()
		return nil, err
	}
	rt, err := Runtime(cfg)
	if err != nil {
		st.Close()
		c.Close()
		return nil, err
	}
	if err := rt.Ping(ctx); err != nil {
		// Not fatal: Docker activities retry until the Engine is back.
		logger.Warn("Docker Engine unreachable; Docker steps will retry until it is back", "error", err)
	}
	r := &Running{client: c, store: st, runtime: rt, metrics: metrics, logger: logger}
	if err := retry(ctx, logger, "registering search attributes", func() error { return namespace.EnsureSearchAttributes(ctx, c, cfg.Namespace) }); err != nil {
		r.close()
		return nil, err
	}
	if err := retry(ctx, logger, "creating the cleanup schedule", func() error { return namespace.EnsureCleanupSchedule(ctx, c, cfg) }); err != nil {
		r.close()
		return nil, fmt.Errorf("cleanup schedule %s: %w", workflows.CleanupScheduleID, err)
	}
	// rewind serve shows what the workers decide with (R9, R6, cleanup).
	if err := retry(ctx, logger, "publishing the installation settings", func() error { return PublishInstallation(ctx, st, cfg) }); err != nil {
		r.close()
		return nil, err
	}
	// On SIGTERM running activities get this long to finish and report
	// (a swap half-done is safe to retry, but finishing it is faster).
	// Heartbeats reach Temporal at least every 2 s, so a cancelled change's
	// Docker step learns of it within 2 s, not 0.8 × its heartbeat timeout.
	opts := worker.Options{WorkerStopTimeout: cfg.WorkerStopTimeout, Interceptors: []interceptor.WorkerInterceptor{workflows.Summaries()},
		MaxHeartbeatThrottleInterval: 2 * time.Second, DefaultHeartbeatThrottleInterval: 2 * time.Second}
	r.stopTimeout = cfg.WorkerStopTimeout
	if len(faults) > 0 {
		opts.Interceptors = append(opts.Interceptors, faults.Interceptor())
	}
	r.worker = worker.New(c, cfg.TaskQueue, opts)
	r.host = worker.New(c, domain.HostQueue(cfg.TaskQueue, cfg.Host), opts)
	bundles, err := BundleStore(cfg, rt)
	if err != nil {
		r.close()
		return nil, err
	}
	dc, err := DataConverter(cfg)
	if err != nil {
		r.close()
		return nil, err
	}
	storeActs := &activities.StoreActivities{Store: st, Config: cfg, Temporal: c, DataConverter: dc, Runtime: rt, Images: rt, Bundles: bundles,
		Exporter: exporter, Fallback: fallback, Faults: faults}
	hostActs := &activities.HostActivities{Store: st, Config: cfg, Runtime: rt, Bundles: bundles, Images: rt}
	// Changes recorded before host queues (workflow.GetVersion
	// "host-queues") schedule their host activities on the shared queue;
	// they were all on the single host, so its workers keep serving them
	// there too, and an upgrade does not strand a change in flight.
	if cfg.Host == domain.DefaultHost {
		Register(r.worker, storeActs, hostActs)
	} else {
		RegisterShared(r.worker, storeActs)
	}
	r.host.RegisterActivity(hostActs)
	if err := r.worker.Start(); err != nil {
		r.close()
		return nil, err
	}
	if err := r.host.Start(); err != nil {
		r.host.Stop()
		r.worker.Stop()
		r.close()
		return nil, err
	}
	logger.Info("worker started", "taskQueue", cfg.TaskQueue, "host", cfg.Host, "hostQueue", domain.HostQueue(cfg.TaskQueue, cfg.Host), "namespace", cfg.Namespace, "temporal", cfg.TemporalAddress, "database", st.Dialect(),
		"temporalTLS", cfg.TemporalTLSOn(), "payloadEncryption", payloadEncryption(cfg))
	return r, nil
}

// Stop stops polling on both queues at once, lets in-flight activities of
// both finish within the worker's stop timeout, and only then closes the
// Docker client, the Temporal client and the store they use (issue 27: the
// host queue's worker used to keep polling, and its Docker steps ran on
// under closed clients).
func (r *Running) Stop() {
	r.logger.Info("worker stopping", "stopTimeout", r.stopTimeout)
	var wg sync.WaitGroup
	for _, w := range []worker.Worker{r.worker, r.host} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Stop()
		}()
	}
	wg.Wait()
	r.close()
	r.logger.Info("worker stopped")
}

func (r *Running) close() {
	if r.runtime != nil {
		r.runtime.Close()
	}
	r.client.Close()
	r.store.Close()
	r.metrics.Stop()
}

// retry runs a start-up call a few times with backoff, so a Temporal server
// that is busy or still starting does not stop the worker from coming up.
func retry(ctx context.Context, logger *slog.Logger, what string, fn func() error) error {
	var err error
	for wait := time.Second; wait <= 16*time.Second; wait *= 2 {
		if err = fn(); err == nil {
			return nil
		}
		logger.Warn(what+" failed; retrying", "error", err, "in", wait)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	return err
}

// BundleStore is where DAG bundles are kept: the bundle root alone, or with
// REWIND_BUNDLE_REPOSITORY the registry, cached in the bundle root, with
// credentials resolved like every registry call (rt may be any Runtime of
// this configuration; it is used for nothing else).
func BundleStore(cfg *config.Config, rt *runtime.Runtime) (bundle.Store, error) {
	local := bundle.NewFSStore(cfg.BundleRoot)
	if cfg.BundleRepository == "" {
		return local, nil
	}
	remote, err := bundle.NewOCIStore(cfg.BundleRepository, rt.Credential)
	if err != nil {
		return nil, fmt.Errorf("REWIND_BUNDLE_REPOSITORY: %w", err)
	}
	return &bundle.Cached{Local: local, Remote: remote}, nil
}
