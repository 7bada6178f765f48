package cli

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/api"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/store"
)

// login keeps the token in a file only its owner reads, checked with the
// server first; whoami and administration then go through rewind serve as
// the token's user; logout --revoke ends the token for every copy. A real
// rewind serve over the store (its Temporal client never dials: no change
// is started here: `cleanup` and `notify test` through rewind serve are
// TestCleanup*'s and TestWebhooksReceiveEveryNotificationOnce's remote
// halves). Single mode by nature: it is about the remote CLI's login file,
// after the store-direct bootstrap of an administrator.
func TestLoginWhoamiAndLogout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("REWIND_DATA_DIR", dir)
	t.Setenv("REWIND_DATABASE_URL", "")
	t.Setenv("REWIND_API_URL", "")
	t.Setenv("REWIND_TOKEN", "")
	t.Setenv("REWIND_WEBHOOK_ALLOW_HOSTS", "hooks.example.com") // resolves nowhere here; allowed as an administrator would
	conf := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", conf)
	cfg := itest.Config(t)
	st, err := store.Open(context.Background(), cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: itest.NopLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	srv, err := api.New(api.Options{Config: cfg, Store: st, Temporal: tc, Logger: itest.QuietSlog()})
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(srv.Handler())
	t.Cleanup(h.Close)

	// Store-direct: the bootstrap, and whoami says the requester is claimed.
	mustRewind(t, "grant", "alice", "--system", "--permission", "system.admin")
	if out := mustRewind(t, "whoami", "--as", "alice"); !strings.Contains(out, "alice (store-direct") || !strings.Contains(out, "system.admin") {
		t.Fatalf("store-direct whoami: %s", out)
	}
	tok := strings.TrimSpace(strings.Split(mustRewind(t, "token", "create", "--user", "alice"), "\n")[1])

	if r := rewindWithInput("rwd_000000000000_"+strings.Repeat("x", 43)+"\n", "login", "--url", h.URL); r.code != ExitRefused || !strings.Contains(r.stderr, "Unauthenticated") {
		t.Fatalf("login with a wrong token: exit %d %q", r.code, r.stderr)
	}
	path := filepath.Join(conf, "rewind", "credentials.json")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a refused login must keep nothing: %v", err)
	}
	if out := mustWithInput(t, tok+"\n", "login", "--url", h.URL); !strings.Contains(out, "logged in to "+h.URL+" as alice") {
		t.Fatalf("login: %s", out)
	}
	for p, want := range map[string]os.FileMode{filepath.Dir(path): os.ModeDir | 0o700, path: 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != want {
			t.Fatalf("%s: %v %v", p, fi.Mode(), err)
		}
	}
	// Through the file alone: whoami is the token's, --as is refused, and
	// administration works as the token's administrator.
	if out := mustRewind(t, "whoami"); !strings.Contains(out, "alice (through rewind serve, proven by token") {
		t.Fatalf("remote whoami: %s", out)
	}
	if r := rewind("whoami", "--as", "bob"); r.code != ExitRefused || !strings.HasPrefix(r.stderr, "rewind: InvalidInput: --as is refused") {
		t.Fatalf("--as remotely: exit %d %q", r.code, r.stderr)
	}
	mustRewind(t, "deployment", "create", "d1", "--env", "DB_PASSWORD=hunter2")
	if out := mustRewind(t, "deployment", "show", "d1"); strings.Contains(out, "hunter2") || !strings.Contains(out, "DB_PASSWORD=(redacted)") {
		t.Fatalf("deployment show through rewind serve must not carry the secret:\n%s", out)
	}
	// Webhooks through rewind serve: the secret goes in from a file and
	// never comes back.
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("0123456789abcdef-very-secret\n"), 0o600)
	if out := mustRewind(t, "notify", "add", "--url", "https://hooks.example.com/x", "--secret-file", secret, "--deployment", "d1"); !strings.Contains(out, "added webhook wh_") {
		t.Fatalf("notify add: %s", out)
	}
	hooks, err := st.Webhooks(context.Background(), "*")
	if err != nil || len(hooks) != 1 || hooks[0].Secret != "0123456789abcdef-very-secret" {
		t.Fatalf("the webhook must be stored with its secret: %+v %v", hooks, err)
	}
	if out := mustRewind(t, "notify", "list", "--output", "json"); !strings.Contains(out, hooks[0].ID) || strings.Contains(out, "very-secret") {
		t.Fatalf("notify list: %s", out)
	}
	mustRewind(t, "notify", "remove", hooks[0].ID)
	mustRewind(t, "logout", "--revoke")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("logout must remove the file: %v", err)
	}
	t.Setenv("REWIND_API_URL", h.URL)
	t.Setenv("REWIND_TOKEN", tok)
	if r := rewind("whoami"); r.code != ExitRefused || !strings.Contains(r.stderr, "Unauthenticated: the token was revoked") {
		t.Fatalf("after logout --revoke: exit %d %q", r.code, r.stderr)
	}
}

func mustWithInput(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := rewindWithInput(stdin, args...)
	if r.code != 0 {
		t.Fatalf("rewind %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.out
}

// A plain-HTTP API URL to another machine is warned about; HTTPS and
// loopback are not (issue 26).
func TestPlaintextAPIURLIsWarnedAbout(t *testing.T) {
	for u, warn := range map[string]bool{
		"http://rewind.internal:8080": true, "http://10.0.0.5:8080/": true, "http://[2001:db8::1]:8080": true,
		"https://rewind.example": false, "http://127.0.0.1:8080": false, "http://localhost:8080": false, "http://[::1]:8080": false,
	} {
		if got := plaintextWarning(u) != ""; got != warn {
			t.Errorf("%s: warned %v, want %v", u, got, warn)
		}
	}
}
