package eslog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// Test servers, started by scripts/test.sh with scripts/mock-es.sh and
// scripts/zincsearch.sh. The tests fail, never skip, without them.
const (
	envMockES     = "REWIND_TEST_MOCKES_URL"
	envZincSearch = "REWIND_TEST_ZINCSEARCH_URL"
)

func serverURL(t *testing.T, env, script string) string {
	t.Helper()
	u := os.Getenv(env)
	if u == "" {
		t.Fatalf("%s is not set: run the tests through scripts/test.sh (make test), which starts the server with %s start DIR and exports its URL", env, script)
	}
	return strings.TrimRight(u, "/")
}

// rollbackEvents are the step events of one rollback run, as the workflow
// emits them: seq 0..n-1, one minute apart from start.
func rollbackEvents(wf, run string, start time.Time, n int) []Event {
	steps := []string{"validate", "check-permissions", "resolve-target", "pull-image", "metadata-downgrade", "swap-bundle", "swap-components", "drain-workers", "health", "record-revision"}
	out := make([]Event, n)
	for i := range out {
		e := Event{
			Timestamp:        start.Add(time.Duration(i) * time.Minute),
			Deployment:       "d1",
			WorkflowID:       wf,
			RunID:            run,
			Kind:             KindRollback,
			Step:             steps[i%len(steps)],
			Attempt:          1 + i%2,
			Level:            LevelInfo,
			Message:          fmt.Sprintf("step %d: %s done", i, steps[i%len(steps)]),
			Seq:              i,
			Revision:         7,
			RollbackOf:       3,
			ImageRef:         "127.0.0.1:5000/airflow:3",
			ImageDigest:      "sha256:" + strings.Repeat("ab", 32),
			DagBundleVersion: "2023-11-16T14:00:00.0000000Z",
			RequestedBy:      "alice",
		}
		if i == n-1 {
			e.Level, e.Error = LevelWarn, "health check slow: 12s"
		}
		out[i] = e
	}
	return out
}

// mockES talks to mockes's control endpoints.
type mockES struct {
	t   *testing.T
	url string
}

func newMockES(t *testing.T) *mockES {
	m := &mockES{t: t, url: serverURL(t, envMockES, "scripts/mock-es.sh")}
	m.post("/_mock/reset", nil)
	t.Cleanup(func() { m.post("/_mock/reset", nil) })
	return m
}

func (m *mockES) post(path string, body any) {
	m.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	res, err := http.Post(m.url+path, "application/json", r)
	if err != nil {
		m.t.Fatalf("mockes %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(res.Body)
		m.t.Fatalf("mockes %s: %s %s", path, res.Status, b)
	}
}

func (m *mockES) faults(f map[string]any) { m.t.Helper(); m.post("/_mock/faults", f) }

type mockDocs struct {
	Docs []struct {
		Index  string          `json:"index"`
		ID     string          `json:"id"`
		Source json.RawMessage `json:"source"`
	} `json:"docs"`
	Creates, Conflicts, Failed, Bulks int
}

func (m *mockES) docs() mockDocs {
	m.t.Helper()
	res, err := http.Get(m.url + "/_mock/docs")
	if err != nil {
		m.t.Fatalf("mockes docs: %v", err)
	}
	defer res.Body.Close()
	var d mockDocs
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil {
		m.t.Fatalf("mockes docs: %v", err)
	}
	return d
}

// exactlyOnce checks that the server holds each event once, in its daily
// index, with its document, and nothing else.
func (m *mockES) exactlyOnce(events []Event, prefix string) mockDocs {
	m.t.Helper()
	d := m.docs()
	if len(d.Docs) != len(events) {
		m.t.Fatalf("server holds %d documents, want %d (one per event)", len(d.Docs), len(events))
	}
	byID := map[string]int{}
	for _, doc := range d.Docs {
		byID[doc.ID]++
	}
	for _, e := range events {
		if byID[e.ID()] != 1 {
			m.t.Fatalf("event seq %d (id %s) stored %d times, want 1", e.Seq, e.ID(), byID[e.ID()])
		}
	}
	if d.Creates != len(events) {
		m.t.Fatalf("server created %d documents, want %d", d.Creates, len(events))
	}
	want := map[string]Event{}
	for _, e := range events {
		want[e.ID()] = e
	}
	for _, doc := range d.Docs {
		e := want[doc.ID]
		if doc.Index != e.IndexName(prefix) {
			m.t.Fatalf("document %s in index %s, want %s", doc.ID, doc.Index, e.IndexName(prefix))
		}
		wantDoc, _ := e.Document()
		if !bytes.Equal(doc.Source, wantDoc) {
			m.t.Fatalf("document %s:\n got %s\nwant %s", doc.ID, doc.Source, wantDoc)
		}
	}
	return d
}

// exportUntilDone retries like the Temporal activity would, with a short
// backoff, and returns how many attempts it took.
func exportUntilDone(t *testing.T, x Exporter, events []Event, max int) int {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := x.Export(ctx, events)
		cancel()
		if err == nil {
			return attempt
		}
		if IsPermanent(err) {
			t.Fatalf("attempt %d: permanent error, want retryable: %v", attempt, err)
		}
		t.Logf("attempt %d: %v", attempt, err)
		if attempt == max {
			t.Fatalf("not exported after %d attempts: %v", max, err)
		}
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
}
