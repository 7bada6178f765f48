package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Metrics serves the worker's Prometheus metrics on /metrics: the Temporal
// SDK's (workflow and activity tasks, latencies, failures) and rewind's own,
// which workflows and activities record through the SDK's metrics handler:
// rewind_changes and rewind_change_duration_seconds by kind and outcome,
// rewind_compensations, rewind_pull_bytes. (The SDK's OpenTelemetry handler
// exposes counters as monotonic gauges, hence no _total suffix.)
type Metrics struct {
	Handler  client.MetricsHandler
	Addr     string
	server   *http.Server
	provider *sdkmetric.MeterProvider
}

// StartMetrics listens on addr; an empty addr turns metrics off.
func StartMetrics(addr string, logger *slog.Logger) (*Metrics, error) {
	if addr == "" {
		return &Metrics{}, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp), sdkmetric.WithView(changeViews()...))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// The worker's liveness for orchestrators (the compose file's
	// healthcheck): it answers while the process runs its workers.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	m := &Metrics{
		Handler: temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{Meter: provider.Meter("rewind"),
			OnError: func(err error) { logger.Warn("metrics", "error", err) }}),
		Addr:     ln.Addr().String(),
		server:   &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		provider: provider,
	}
	go func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "error", err)
		}
	}()
	logger.Info("metrics on /metrics", "address", m.Addr)
	return m, nil
}

func (m *Metrics) Stop() {
	if m == nil || m.server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.server.Shutdown(ctx)
	m.provider.Shutdown(ctx)
}

// ChangeDurationBuckets are the bucket bounds of
// rewind_change_duration_seconds, in seconds: a change takes from about a
// second (a rollback that reuses everything) to an hour (a slow pull or a
// long drain). OpenTelemetry's default bounds are sized for milliseconds
// and put every change in one bucket.
var ChangeDurationBuckets = []float64{0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}

// changeViews give rewind's own instruments their buckets and drop the
// labels the SDK's workflow handler adds that mean nothing for them
// (activity_type is always "none" in a workflow).
func changeViews() []sdkmetric.View {
	drop := attribute.NewDenyKeysFilter("activity_type")
	return []sdkmetric.View{
		sdkmetric.NewView(sdkmetric.Instrument{Name: "rewind_change_duration"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationExplicitBucketHistogram{Boundaries: ChangeDurationBuckets}, AttributeFilter: drop}),
		sdkmetric.NewView(sdkmetric.Instrument{Name: "rewind_changes"}, sdkmetric.Stream{AttributeFilter: drop}),
		sdkmetric.NewView(sdkmetric.Instrument{Name: "rewind_compensations"}, sdkmetric.Stream{AttributeFilter: drop}),
	}
}
