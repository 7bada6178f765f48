package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

// The client fills a route's wildcards path-escaped (a workflow id holds a
// slash), sends the token, and turns the server's error body into a
// domain error of its type — a refusal reads the same as store-direct.
func TestClientRoutesAndErrors(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery+" "+r.Header.Get("Authorization"))
		switch r.URL.EscapedPath() {
		case "/api/v1/workflows/change%2Fd1/progress":
			json.NewEncoder(w).Encode(action.Progress{WorkflowID: "change/d1", Status: "RUNNING"})
		default:
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]any{"error": domain.ErrorDetail{Type: "PermissionDenied", Message: "bob lacks deployment.read"}})
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, "rwd_token")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Progress(context.Background(), "change/d1", "")
	if err != nil || p.Status != "RUNNING" {
		t.Fatalf("progress: %+v %v", p, err)
	}
	_, err = c.ShowRevision(context.Background(), action.ShowRevision{Deployment: "d1", Number: 3})
	if domain.TypeOf(err) != domain.PermissionDenied {
		t.Fatalf("a refusal: %v", err)
	}
	want := []string{"GET /api/v1/workflows/change%2Fd1/progress?runId= Bearer rwd_token", "GET /api/v1/deployments/d1/revisions/3? Bearer rwd_token"}
	for i := range want {
		if i >= len(got) || got[i] != want[i] {
			t.Fatalf("requests: %q, want %q", got, want)
		}
	}
	for _, bad := range []string{"ftp://x", "not a url", ""} {
		if _, err := New(bad, "t"); domain.TypeOf(err) != domain.InvalidInput {
			t.Errorf("New(%q): %v", bad, err)
		}
	}
	if _, err := New(srv.URL, ""); domain.TypeOf(err) != domain.InvalidInput {
		t.Errorf("no token: %v", err)
	}
}
