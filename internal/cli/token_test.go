package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/store"
)

// Tokens expire: --expires, else REWIND_TOKEN_TTL, else 90 days; a
// lifetime that is not positive is refused and stores nothing; the list
// shows when each expires. Store only: no Temporal needed. Single mode:
// REWIND_TOKEN_TTL and the data directory's modes are the store-direct
// CLI's own; through rewind serve the server's configuration decides
// (the API's expiry is internal/api's TestTokensExpire and the battery's).
func TestTokenExpiry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("REWIND_DATA_DIR", dir)
	t.Setenv("REWIND_DATABASE_URL", "")
	t.Setenv("REWIND_TOKEN_TTL", "")
	create := func(args ...string) (time.Duration, string) {
		t.Helper()
		before := time.Now()
		out := mustRewind(t, append([]string{"token", "create", "--user", "alice", "--output", "json"}, args...)...)
		var got struct {
			ID        string    `json:"id"`
			ExpiresAt time.Time `json:"expiresAt"`
			Token     string    `json:"token"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil || got.Token == "" {
			t.Fatalf("%s: %v", out, err)
		}
		return got.ExpiresAt.Sub(before).Round(time.Minute), got.ID
	}
	if d, _ := create(); d != 2160*time.Hour {
		t.Fatalf("default lifetime %s, want 2160h", d)
	}
	if d, _ := create("--expires", "1h"); d != time.Hour {
		t.Fatalf("--expires 1h: %s", d)
	}
	t.Setenv("REWIND_TOKEN_TTL", "24h")
	d, short := create()
	if d != 24*time.Hour {
		t.Fatalf("REWIND_TOKEN_TTL=24h: %s", d)
	}
	// The data directory and the database are the owner's alone.
	for p, want := range map[string]os.FileMode{dir: os.ModeDir | 0o700, filepath.Join(dir, "rewind.db"): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v", p, fi.Mode(), err)
		}
	}

	before := mustRewind(t, "token", "list", "--output", "json")
	for _, bad := range []string{"0", "-1h"} {
		r := rewind("token", "create", "--user", "alice", "--expires", bad)
		if r.code != ExitRefused || !strings.HasPrefix(r.stderr, "rewind: InvalidInput: ") {
			t.Errorf("--expires %s: exit %d %s", bad, r.code, r.stderr)
		}
	}
	if r := rewind("token", "create", "--user", "alice", "--expires", "90d"); r.code != ExitUsage {
		t.Errorf("--expires 90d: exit %d %s", r.code, r.stderr)
	}
	if after := mustRewind(t, "token", "list", "--output", "json"); after != before {
		t.Fatalf("a refused create stored something:\n%s\n%s", before, after)
	}

	table := mustRewind(t, "token", "list")
	if !strings.Contains(table, "EXPIRES") {
		t.Fatalf("no EXPIRES column:\n%s", table)
	}
	row := ""
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, short) {
			row = line
		}
	}
	if !strings.Contains(row, stamp(time.Now().Add(24 * time.Hour))[:13]) {
		t.Fatalf("the 24h token's row does not show its expiry: %q\n%s", row, table)
	}
	past := time.Now().Add(-time.Hour)
	if got := expiry(store.Token{ExpiresAt: &past}, time.Now()); got != stamp(past)+" (expired)" {
		t.Errorf("an expired token: %q", got)
	}
	if got := expiry(store.Token{}, time.Now()); got != "never" {
		t.Errorf("a token from before expiry: %q", got)
	}
}
