package api

import (
	"net/http"
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
	e.st.Close()
	r := e.call(t, "GET", "/readyz", "", nil)
	if r.status != http.StatusServiceUnavailable || string(r.body) != "store unavailable\n" {
		t.Fatalf("/readyz with the store closed: %d %q", r.status, r.body)
	}
	if r := e.call(t, "GET", "/healthz", "", nil); r.status != http.StatusOK {
		t.Fatalf("/healthz with the store closed: %d", r.status)
	}
}
