package metadb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testDatabase is a fresh database on the PostgreSQL `make test` starts.
func testDatabase(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("REWIND_TEST_POSTGRES_URL")
	if admin == "" {
		t.Fatal("REWIND_TEST_POSTGRES_URL is not set: run the tests with `make test`, which starts PostgreSQL")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("metadb_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	cfg, _ := pgx.ParseConfig(admin)
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
}

// What a downgrade drops, a restore brings back with its rows; a second
// dump to the same path keeps the first.
func TestDumpAndRestore(t *testing.T) {
	db := testDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{`CREATE TABLE feature_3_0 (id int PRIMARY KEY, note text)`, `INSERT INTO feature_3_0 VALUES (1, 'kept'), (2, 'also kept')`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "d1", "r5.dump")
	snap, err := Dump(ctx, db, path)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Bytes == 0 || snap.ServerVersion == "" {
		t.Fatalf("snapshot %+v", snap)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("a snapshot holds the metadata: mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := Dump(ctx, db, path)
	if err != nil || !again.TakenAt.Equal(snap.TakenAt) {
		t.Fatalf("a retried dump must keep the complete one: %+v %v", again, err)
	}
	if _, err := conn.Exec(ctx, `DROP TABLE feature_3_0`); err != nil {
		t.Fatal(err)
	}
	if err := Restore(ctx, db, path); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM feature_3_0 WHERE note LIKE '%kept'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("restored rows: %d %v", n, err)
	}
	if err := Restore(ctx, db, path); err != nil {
		t.Fatalf("restoring twice must work: %v", err)
	}
	if err := Restore(ctx, db, path+".missing"); err == nil {
		t.Fatal("restoring a missing snapshot must fail")
	}
}
