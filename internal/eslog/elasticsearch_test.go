package eslog

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func newESExporter(t *testing.T, url, prefix string) *Elasticsearch {
	t.Helper()
	x, err := NewElasticsearch(ElasticsearchConfig{Addresses: []string{url}, IndexPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

var day = time.Date(2026, 2, 28, 23, 55, 0, 0, time.UTC) // a run that crosses midnight: two daily indices

// Elasticsearch answers 503 to whole bulk requests, then 429 to single
// documents, then recovers: retrying the export ends with every event
// stored exactly once.
func TestElasticsearchOutageThenRecoveryExactlyOnce(t *testing.T) {
	m := newMockES(t)
	x := newESExporter(t, m.url, "")
	events := rollbackEvents("change/d1", "run-outage", day, 25)

	m.faults(map[string]any{"bulkStatus": 503, "bulkFailures": 3, "itemStatus": 429, "itemFailures": 7})
	attempts := exportUntilDone(t, x, events, 20)
	if attempts < 3 {
		t.Fatalf("export succeeded after %d attempts; the injected 503s should have failed at least 3", attempts)
	}
	d := m.exactlyOnce(events, DefaultIndexPrefix)
	if d.Failed != 7 {
		t.Fatalf("server refused %d documents with 429, want 7", d.Failed)
	}
	if d.Conflicts == 0 {
		t.Fatal("the retry after partial 429s should have re-sent stored documents and got 409s")
	}
	t.Logf("%d attempts, %d bulk requests, %d created, %d conflicts counted as exported", attempts, d.Bulks, d.Creates, d.Conflicts)

	// What went over the wire: create actions with our ids, never index.
	res, err := http.Get(m.url + "/_history")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var hist []struct{ Method, URI, Body string }
	if err := json.NewDecoder(res.Body).Decode(&hist); err != nil {
		t.Fatal(err)
	}
	sawBulk := false
	for _, h := range hist {
		if !strings.HasPrefix(h.URI, "/_bulk") {
			continue
		}
		sawBulk = true
		if strings.Contains(h.Body, `{"index":`) || !strings.Contains(h.Body, `{"create":{`) || !strings.Contains(h.Body, `"_index":"rewind-logs-2026.03.01"`) {
			t.Fatalf("bulk body does not use create actions on the daily index: %.300s", h.Body)
		}
		if !strings.Contains(h.Body, `"_id":"`+events[len(events)-1].ID()+`"`) {
			t.Fatalf("bulk body lacks the event id: %.300s", h.Body)
		}
	}
	if !sawBulk {
		t.Fatal("mock-es recorded no _bulk request")
	}
}

// A create that meets an existing document (409) is an event exported
// before: success, counted as Existing.
func TestElasticsearchConflictCountsAsExported(t *testing.T) {
	m := newMockES(t)
	x := newESExporter(t, m.url, "")
	events := rollbackEvents("change/d1", "run-409", day, 10)
	st, err := x.ExportStats(context.Background(), events[:6])
	if err != nil || st.Created != 6 {
		t.Fatalf("first export: %+v, %v", st, err)
	}
	st, err = x.ExportStats(context.Background(), events)
	if err != nil {
		t.Fatalf("second export with 6 conflicts: %v", err)
	}
	if st.Created != 4 || st.Existing != 6 {
		t.Fatalf("second export: %+v, want 4 created and 6 existing", st)
	}
	// Duplicates inside one call are sent once.
	st, err = x.ExportStats(context.Background(), append(events, events...))
	if err != nil || st.Existing != 10 || st.Created != 0 {
		t.Fatalf("third export: %+v, %v", st, err)
	}
	m.exactlyOnce(events, DefaultIndexPrefix)
}

// A document the server rejects for good (400, as for a mapping error) is
// a PermanentError naming the event; the others are stored.
func TestElasticsearchRejectedDocumentIsPermanent(t *testing.T) {
	m := newMockES(t)
	x := newESExporter(t, m.url, "")
	events := rollbackEvents("change/d1", "run-400", day, 5)
	m.faults(map[string]any{"itemStatus": 400, "itemFailures": 1})
	err := x.Export(context.Background(), events)
	var perm *PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("Export = %v, want a *PermanentError", err)
	}
	if len(perm.Failures) != 1 || perm.Failures[0].Event.Seq != 0 || perm.Failures[0].Status != 400 {
		t.Fatalf("failures = %+v, want event seq 0 with status 400", perm.Failures)
	}
	if got := len(m.docs().Docs); got != 4 {
		t.Fatalf("server holds %d documents, want the 4 accepted ones", got)
	}
	// The caller keeps the rejected event elsewhere; a later export of the
	// whole run (fault gone) completes it.
	if err := x.Export(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	m.exactlyOnce(events, DefaultIndexPrefix)

	// Retryable and permanent in one attempt: retryable wins.
	m.post("/_mock/reset", nil)
	m.faults(map[string]any{"itemStatus": 429, "itemFailures": 1})
	err = x.Export(context.Background(), events)
	var re *RetryableError
	if !errors.As(err, &re) || IsPermanent(err) || re.Failed != 1 {
		t.Fatalf("Export with a 429 = %v, want a RetryableError for 1 event", err)
	}
}

// Elasticsearch stores the documents but the answer never arrives (the
// activity times out): the export fails, retryably, and the retry finds
// everything there.
func TestElasticsearchTimeoutAfterStoreThenRetry(t *testing.T) {
	m := newMockES(t)
	x := newESExporter(t, m.url, "")
	events := rollbackEvents("change/d1", "run-timeout", day, 12)
	if err := x.EnsureTemplate(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.faults(map[string]any{"delay": "5s", "delayCount": 1, "delayAfterStore": true})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	start := time.Now()
	err := x.Export(ctx, events)
	cancel()
	if err == nil || IsPermanent(err) {
		t.Fatalf("Export while the answer is held = %v, want a retryable error", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Export took %s: the context did not reach the bulk request", time.Since(start))
	}
	if got := len(m.docs().Docs); got != len(events) {
		t.Fatalf("server holds %d documents before the retry, want %d", got, len(events))
	}
	st, err := x.ExportStats(context.Background(), events)
	if err != nil || st.Existing != len(events) {
		t.Fatalf("retry: %+v, %v; want all %d existing", st, err, len(events))
	}
	m.exactlyOnce(events, DefaultIndexPrefix)
}

// The worker process is killed (SIGKILL) in the middle of an export, once
// after Elasticsearch stored the bulk and once before it got it; a new
// worker exports the run again: nothing lost, nothing duplicated.
func TestElasticsearchWorkerKilledMidExport(t *testing.T) {
	for _, afterStore := range []bool{true, false} {
		name := map[bool]string{true: "after-store", false: "before-store"}[afterStore]
		t.Run(name, func(t *testing.T) {
			m := newMockES(t)
			events := rollbackEvents("change/d1", "run-kill-"+name, day, 15)
			m.faults(map[string]any{"delay": "60s", "delayCount": 1, "delayAfterStore": afterStore})

			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperExportProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "REWIND_ESLOG_HELPER=export", "REWIND_ESLOG_HELPER_RUN=run-kill-"+name)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			// Wait until the child's bulk request is in flight at the server.
			deadline := time.Now().Add(20 * time.Second)
			for m.docs().Bulks == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the worker process sent no bulk request")
				}
				time.Sleep(20 * time.Millisecond)
			}
			stored := len(m.docs().Docs)
			for afterStore && stored < len(events) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				stored = len(m.docs().Docs)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if afterStore && stored != len(events) || !afterStore && stored != 0 {
				t.Fatalf("server holds %d documents when the worker dies; the fault should make it %v", stored, map[bool]int{true: len(events), false: 0}[afterStore])
			}
			x := newESExporter(t, m.url, "")
			exportUntilDone(t, x, events, 5)
			m.exactlyOnce(events, DefaultIndexPrefix)
		})
	}
}

// TestHelperExportProcess is the worker process that
// TestElasticsearchWorkerKilledMidExport kills; it does nothing in a
// normal run.
func TestHelperExportProcess(t *testing.T) {
	if os.Getenv("REWIND_ESLOG_HELPER") != "export" {
		return
	}
	x := newESExporter(t, serverURL(t, envMockES, "scripts/mock-es.sh"), "")
	_ = x.Export(context.Background(), rollbackEvents("change/d1", os.Getenv("REWIND_ESLOG_HELPER_RUN"), day, 15))
	t.Fatal("the export should have been killed")
}

func TestEnsureTemplate(t *testing.T) {
	m := newMockES(t)
	x := newESExporter(t, m.url, "")
	if err := x.EnsureTemplate(context.Background()); err != nil {
		t.Fatalf("EnsureTemplate against mock-es: %v", err)
	}
	body, _ := json.Marshal(Template(""))
	for _, want := range []string{`"index_patterns":["rewind-logs-*"]`, `"@timestamp":{"type":"date"}`, `"seq":{"type":"integer"}`, `"workflowId":{"type":"keyword"}`, `"message":{"type":"text"}`} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("template lacks %s: %s", want, body)
		}
	}

	// A server without the API (404) is tolerated; a refusal of the
	// template (400) is not, and a 503 is retryable. These are answers of
	// our own stub: the point is how they are read.
	for status, want := range map[int]string{404: "ok", 405: "ok", 400: "error", 503: "retry"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":"stub"}`))
		}))
		err := newESExporter(t, srv.URL, "").EnsureTemplate(context.Background())
		srv.Close()
		var re *RetryableError
		switch {
		case want == "ok" && err != nil, want == "error" && (err == nil || errors.As(err, &re)), want == "retry" && !errors.As(err, &re):
			t.Errorf("status %d: EnsureTemplate = %v, want %s", status, err, want)
		}
	}
}

// Nothing listens: a transport error, retryable.
func TestElasticsearchDownIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	x := newESExporter(t, url, "")
	err := x.Export(context.Background(), rollbackEvents("change/d1", "run-down", day, 2))
	var re *RetryableError
	if !errors.As(err, &re) {
		t.Fatalf("Export to a closed port = %v, want a RetryableError", err)
	}
}
