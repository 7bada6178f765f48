package itest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// MetadataDatabase makes a fresh database on the test PostgreSQL for an
// Airflow deployment's metadata, returning the URL components use (the
// SQLAlchemy form) and a connection for the test to look inside.
func MetadataDatabase(t *testing.T) (string, *pgx.Conn) {
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
	name := fmt.Sprintf("airflow_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	cfg, _ := pgx.ParseConfig(admin)
	url := fmt.Sprintf("postgresql+psycopg2://%s@127.0.0.1:%d/%s", cfg.User, cfg.Port, name)
	db, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", cfg.User, cfg.Port, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close(ctx)
		if c, err := pgx.Connect(ctx, admin); err == nil {
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return url, db
}

// PgClientImage is the PostgreSQL client image scripts/test-images.sh
// built from this machine's pg_dump and pg_restore, pinned by the digest
// the test registry serves (what REWIND_PG_CLIENT_IMAGE takes).
func PgClientImage(t *testing.T) string {
	t.Helper()
	reg := os.Getenv("REWIND_TEST_REGISTRY")
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	if reg == "" || len(matches) == 0 {
		t.Fatal("REWIND_TEST_REGISTRY and Debian's PostgreSQL are needed: run the tests with `make test`")
	}
	sort.Strings(matches)
	major := filepath.Base(filepath.Dir(filepath.Dir(matches[len(matches)-1])))
	ref := reg + "/rewind-test/pgclient:" + major
	if out, err := exec.Command("docker", "pull", "-q", ref).CombinedOutput(); err != nil {
		t.Fatalf("docker pull %s: %v\n%s", ref, err, out)
	}
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", ref).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, rd := range strings.Fields(string(out)) {
		if d, ok := strings.CutPrefix(rd, reg+"/rewind-test/pgclient@"); ok {
			return ref + "@" + d
		}
	}
	t.Fatalf("no digest for %s", ref)
	return ""
}
