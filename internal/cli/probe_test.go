package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// probe is a healthcheck: 2xx from a loopback URL is exit 0, anything else
// a refusal, and a URL off loopback is a malformed command line, refused
// before anything is sent.
func TestProbe(t *testing.T) {
	status := http.StatusOK
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.WriteHeader(status)
	}))
	defer srv.Close()
	if r := rewind("probe", srv.URL+"/readyz"); r.code != ExitOK {
		t.Fatalf("200: exit %d %s", r.code, r.stderr)
	}
	status = http.StatusServiceUnavailable
	if r := rewind("probe", srv.URL+"/readyz"); r.code != ExitRefused || !strings.Contains(r.stderr, "503") {
		t.Fatalf("503: exit %d %s", r.code, r.stderr)
	}
	for _, u := range []string{"http://10.0.0.1:8080/readyz", "https://127.0.0.1/", "file:///etc/passwd", "http://example.com/"} {
		if r := rewind("probe", u); r.code != ExitUsage {
			t.Errorf("%s: exit %d %s", u, r.code, r.stderr)
		}
	}
	if hits != 2 {
		t.Errorf("the server saw %d requests, want 2", hits)
	}
}
