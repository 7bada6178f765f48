package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// PostgresTestURL gives a test its own schema in the PostgreSQL named by
// REWIND_TEST_POSTGRES_URL and drops it afterwards. `make test` starts that
// server; without it the test fails rather than skipping, so CI cannot pass
// while silently not testing PostgreSQL.
func PostgresTestURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("REWIND_TEST_POSTGRES_URL")
	if base == "" {
		t.Fatal("REWIND_TEST_POSTGRES_URL is not set: run the tests with `make test`, which starts PostgreSQL")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", base); err == nil {
			a.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			a.Close()
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}
