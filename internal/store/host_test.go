package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// Issue 27: a deployment's host is fixed once any revision exists, in
// whatever state — a first deploy still INITIALIZED (or failed
// uncompensated) has its containers on the old host. Before any revision
// it may move; other settings change freely either way.
func TestHostIsFixedOnceARevisionExists(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		d := domain.Deployment{ID: "mover", Name: "mover", DagSource: domain.DagSourceImage, Host: "a", Components: domain.DefaultComponents()}
		if err := s.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		d.Host = "b"
		if err := s.UpdateDeploymentSettings(ctx, d); err != nil {
			t.Fatalf("no revision yet: the host may move: %v", err)
		}
		if _, err := s.CreateRevision(ctx, domain.Revision{DeploymentID: d.ID, Status: domain.StatusInitialized, CreatedAt: time.Now(),
			ImageRef: "reg/airflow:1", CreatedBy: "alice", Description: "first", WorkflowID: "change/mover", RunID: "r1"}); err != nil {
			t.Fatal(err)
		}
		d.Host = "a"
		err := s.UpdateDeploymentSettings(ctx, d)
		if domain.TypeOf(err) != domain.InvalidInput || !strings.Contains(err.Error(), "host b") {
			t.Fatalf("a first deploy in flight: the move must be refused, got %v", err)
		}
		got, _ := s.GetDeployment(ctx, d.ID)
		if got.Host != "b" {
			t.Fatalf("the refused move changed the host: %s", got.Host)
		}
		got.Description = "still editable"
		if err := s.UpdateDeploymentSettings(ctx, got); err != nil {
			t.Fatalf("other settings on the same host: %v", err)
		}
	})
}
