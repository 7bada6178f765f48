package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
)

// The page shows what the workers decide with: serve's own environment
// says rollbacks are off and the window is 90 days, the worker published
// on and 1 day. The page follows the worker, and follows it again when it
// is restarted with rollbacks off.
func TestPageFollowsTheWorkersPublishedSettings(t *testing.T) {
	s := offlineServerWith(t, &config.Config{TaskQueue: "rewind", Namespace: "default", RollbackWindowDays: 90, RollbacksEnabled: false})
	ctx := context.Background()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	st := s.opts.Store
	if err := st.CreateDeployment(ctx, domain.Deployment{ID: "d1", DagSource: domain.DagSourceImage, RollbackEnabled: true}); err != nil {
		t.Fatal(err)
	}
	st.AddGrant(ctx, domain.Grant{User: "alice", DeploymentID: "d1", Role: "editor"})
	now := time.Now()
	for i, age := range []time.Duration{48 * time.Hour, 3 * time.Hour, time.Hour} {
		r, err := st.CreateRevision(ctx, domain.Revision{DeploymentID: "d1", CreatedAt: now.Add(-age), CreatedBy: "alice", Type: domain.DeployImageOnly,
			ImageRef: "127.0.0.1:5000/a:9.1.0", ImageDigest: "sha256:" + strings.Repeat(string(rune('a'+i)), 64), RuntimeVersion: "9.1.0",
			WorkflowID: "change/d1", RunID: fmt.Sprint("run", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.FinishRevision(ctx, store.Finish{DeploymentID: "d1", Number: r.Number, Status: domain.StatusDeployed, At: now.Add(-age)}); err != nil {
			t.Fatal(err)
		}
	}
	token := func() string { p, _, _ := IssueToken(ctx, st, "alice", "", time.Now()); return p }()
	c := browser(t)
	signIn(t, c, srv.URL, token)
	page := func() string {
		t.Helper()
		code, body, _ := get(t, c, srv.URL+"/deployments/d1")
		if code != 200 {
			t.Fatalf("history: %d %s", code, body)
		}
		return body
	}
	if body := page(); !strings.Contains(body, "rollbacks are disabled for this installation") || strings.Contains(body, `id="rollback-2"`) {
		t.Fatalf("before any worker published, serve's own settings (off):\n%s", body)
	}
	publish := func(on bool, days int) {
		if err := st.PublishInstallation(ctx, store.Installation{RollbacksEnabled: on, RollbackWindowDays: days, CleanupEnabled: true,
			CleanupOlderThanDays: 90, PublishedBy: "worker", PublishedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	publish(true, 1)
	body := page()
	if strings.Contains(body, "disabled for this installation") || !strings.Contains(body, `id="rollback-2"`) ||
		strings.Contains(body, `id="rollback-1"`) || !strings.Contains(body, "outside the 1-day retention window") {
		t.Fatalf("the worker's settings (on, 1 day):\n%s", body)
	}
	publish(false, 1)
	if body := page(); !strings.Contains(body, "rollbacks are disabled for this installation") || strings.Contains(body, `id="rollback-2"`) {
		t.Fatalf("the worker restarted with rollbacks off:\n%s", body)
	}
}
