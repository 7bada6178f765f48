package api

import (
	"context"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
)

// Liveness, readiness and metrics for orchestrators (compose healthchecks, Kubernetes
// probes). They carry no data and need no token: /healthz says the process
// serves HTTP, /readyz that the store and Temporal answer, so a load balancer
// sends nobody to a serve that could only fail. Neither says why it is not
// ready beyond the part's name: the details are in serve's log.
func (s *Server) registerHealth() {
	s.metrics = newHTTPMetrics()
	s.metrics.reg.MustRegister(newDeliveryCollector(s)) // delivery.go: DORA's five, installation-wide
	s.mux.Handle("GET /metrics", s.metrics.handler())
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := s.opts.Store.DB().PingContext(ctx); err != nil {
			s.log.Warn("readyz: store", "error", err)
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		if _, err := s.opts.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			s.log.Warn("readyz: temporal", "error", err)
			http.Error(w, "temporal unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
}
