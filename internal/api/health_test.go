package api

import (
	"net/http"
	"strings"
	"testing"
)

// Readiness follows the parts serve needs: ready while the store and the
// dev server answer, 503 once the store is gone, and liveness stays 200 (the
// process still serves). Neither needs a token nor says more than the part.
func TestHealthAndReadiness(t *testing.T) {
	e := startEnv(t, false)
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := e.call(t, "GET", path, "", nil); r.status != http.StatusOK || string(r.body) != "ok\n" {
			t.Fatalf("%s: %d %q", path, r.status, r.body)
		}
	}
	// /metrics counts requests by route pattern, never by raw path.
	e.call(t, "GET", "/api/v1/deployments/no-such-deployment", "", nil)
	m := string(e.call(t, "GET", "/metrics", "", nil).body)
	for _, want := range []string{`rewind_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`,
		`route="GET /api/v1/deployments/{id}"`, "rewind_http_request_duration_seconds_bucket", "go_goroutines"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, m)
		}
	}
	if strings.Contains(m, "no-such-deployment") {
		t.Error("/metrics carries a raw path")
	}
	e.st.Close()
	r := e.call(t, "GET", "/readyz", "", nil)
	if r.status != http.StatusServiceUnavailable || string(r.body) != "store unavailable\n" {
		t.Fatalf("/readyz with the store closed: %d %q", r.status, r.body)
	}
	if r := e.call(t, "GET", "/healthz", "", nil); r.status != http.StatusOK {
		t.Fatalf("/healthz with the store closed: %d", r.status)
	}
}
