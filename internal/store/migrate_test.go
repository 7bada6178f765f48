package store

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
)

// Migration 00012 gives every outbox row the host it is garbage on: rows
// recorded before hosts existed go to their deployment's host, or to
// 'local' for the shared image rows; bundle objects stay shared. Going
// down and up again keeps the rows.
func TestGarbageHostsMigration(t *testing.T) {
	eachStore(t, func(t *testing.T, _ string, s *Store) {
		ctx := context.Background()
		sub, err := fs.Sub(migrations, "migrations")
		if err != nil {
			t.Fatal(err)
		}
		p, err := goose.NewProvider(s.dialect, s.db, sub)
		if err != nil {
			t.Fatal(err)
		}
		d := deployment("onb")
		d.Host = "b"
		if err := s.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
		if _, err := p.DownTo(ctx, 11); err != nil {
			t.Fatal(err)
		}
		for _, row := range [][3]string{{GarbageImage, "", "sha256:i"}, {GarbageBundleObject, "", "sha256:o"},
			{GarbageBundleDir, "onb", "v1"}, {GarbageSnapshot, "gone", "snap"}} {
			if _, err := s.db.ExecContext(ctx, `INSERT INTO garbage (kind, deployment_id, ref, created_at) VALUES ($1,$2,$3,1)`, row[0], row[1], row[2]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, g := range allGarbage(t, s) {
			got = append(got, g.Kind+"@"+g.Host)
		}
		if want := "bundle-dir@b bundle-object@ image@local metadata-snapshot@local"; strings.Join(got, " ") != want {
			t.Fatalf("after 00012:\n got %s\nwant %s", strings.Join(got, " "), want)
		}
		if _, err := p.DownTo(ctx, 11); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(allGarbage(t, s)); n != 4 {
			t.Fatalf("down and up again: %d rows", n)
		}
	})
}
