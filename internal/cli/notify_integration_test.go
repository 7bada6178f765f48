package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/workflows"
)

// receiver is a webhook endpoint that fails its first calls, checks every
// signature and counts deliveries it accepted by idempotency key.
type receiver struct {
	mu       sync.Mutex
	secret   string
	failures int // calls left to answer 500
	calls    int
	bad      []string
	accepted map[string]int
	events   map[string]notify.Notification
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	if rc.failures > 0 {
		rc.failures--
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
		return
	}
	if err := notify.Verify(rc.secret, r.Header.Get(notify.HeaderSignature), r.Header.Get(notify.HeaderTimestamp), body, time.Now(), 5*time.Minute); err != nil {
		rc.bad = append(rc.bad, err.Error())
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var n notify.Notification
	key := r.Header.Get(notify.HeaderIdempotency)
	if json.Unmarshal(body, &n) != nil || n.ID != key || n.Text == "" {
		rc.bad = append(rc.bad, "body: "+string(body))
	}
	rc.accepted[key]++
	rc.events[key] = n
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) seen() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, n := range rc.events {
		out = append(out, n.Kind+":"+n.Event)
	}
	sort.Strings(out)
	return out
}

// Notifications: a receiver that answers 500 to its first three calls
// still receives every notification, each exactly once by its idempotency
// key, each with a valid signature.
func TestWebhooksReceiveEveryNotificationOnce(t *testing.T) {
	s := startStack(t)
	// Each half has its own receiver, deployment and webhook (scoped to
	// that deployment), so each counts only its own notifications.
	eachMode(t, func(t *testing.T, m *cliMode) {
		rc := &receiver{secret: "a-webhook-secret-of-some-length", failures: 3, accepted: map[string]int{}, events: map[string]notify.Notification{}}
		srv := httptest.NewServer(rc)
		defer srv.Close()
		secret := filepath.Join(t.TempDir(), "secret")
		os.WriteFile(secret, []byte(rc.secret+"\n"), 0o600)
		dep := itest.UniqueID("hook")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		if r := m.rewind("notify", "add", "--url", "ftp://example.com", "--secret-file", secret); r.code != ExitRefused || !strings.Contains(r.stderr, "InvalidInput") {
			t.Fatalf("a non-http webhook: %d %s", r.code, r.stderr)
		}
		m.mustRewind("notify", "add", "--url", srv.URL+"/hook", "--secret-file", secret, "--deployment", dep)
		if out := m.mustRewind("notify", "list"); !strings.Contains(out, srv.URL) || strings.Contains(out, rc.secret) {
			t.Fatalf("list must show the webhook, never its secret:\n%s", out)
		}
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait")
		m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "the healthcheck broke", "--yes", "--wait")
		if r := m.as("alice", "deploy", dep, "--image", itest.Image(t, "broken"), "--wait"); r.code != ExitRefused {
			t.Fatalf("the broken image must fail its preflight: %d %s", r.code, r.stderr)
		}
		m.mustRewind("notify", "test", "--deployment", dep)

		want := []string{"deploy:failed", "deploy:finished", "deploy:finished", "deploy:started", "deploy:started", "deploy:started",
			"rollback:finished", "rollback:started", "test:test"}
		for deadline := time.Now().Add(90 * time.Second); strings.Join(rc.seen(), " ") != strings.Join(want, " "); time.Sleep(500 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("notifications received: %v, want %v", rc.seen(), want)
			}
		}
		time.Sleep(2 * time.Second) // a duplicate would arrive now
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.bad) > 0 {
			t.Fatalf("bad deliveries: %v", rc.bad)
		}
		for key, n := range rc.accepted {
			if n != 1 {
				t.Fatalf("notification %s (%+v) accepted %d times", key, rc.events[key], n)
			}
		}
		if rc.calls != len(want)+3 {
			t.Fatalf("%d calls for %d notifications and 3 failures: retries beyond the failures", rc.calls, len(want))
		}
		top := m.historyJSON(dep)[0]
		m.recordHistory(s, workflows.NotifyWorkflowID(top.WorkflowID, top.RunID, "failed"), "notify-failed")
	})
}
