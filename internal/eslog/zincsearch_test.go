package eslog

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// zincSearch reads documents back from ZincSearch. Its quirks: no _count
// (a size-0 search with track_total_hits instead), asynchronous indexing
// (poll), and _refresh answers without the product header (the client
// accepts it only after a successful product check, hence Info first).
type zincSearch struct {
	t *testing.T
	x *Elasticsearch
}

func (z zincSearch) search(index string, body string) (total int, sources []json.RawMessage) {
	z.t.Helper()
	c := z.x.Client()
	res, err := c.Search(c.Search.WithContext(context.Background()), c.Search.WithIndex(index), c.Search.WithBody(strings.NewReader(body)))
	if err != nil {
		z.t.Fatalf("search %s: %v", index, err)
	}
	defer res.Body.Close()
	if res.IsError() {
		z.t.Fatalf("search %s: %s", index, res.String())
	}
	var r struct {
		Hits struct {
			Total struct{ Value int } `json:"total"`
			Hits  []struct {
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		z.t.Fatal(err)
	}
	for _, h := range r.Hits.Hits {
		sources = append(sources, h.Source)
	}
	return r.Hits.Total.Value, sources
}

// waitFor polls the hit count of a query until it reaches want (and
// stays there for a moment, to catch late duplicates), then returns the
// hits sorted by seq.
func (z zincSearch) waitFor(index, query string, want int) []Event {
	z.t.Helper()
	c := z.x.Client()
	if res, err := c.Info(); err == nil {
		res.Body.Close()
	}
	deadline := time.Now().Add(30 * time.Second)
	total := -1
	for stable := 0; stable < 3; {
		if res, err := c.Indices.Refresh(c.Indices.Refresh.WithIndex(index)); err == nil {
			res.Body.Close()
		}
		n, _ := z.search(index, fmt.Sprintf(`{"size":0,"track_total_hits":true,"query":%s}`, query))
		if n == want {
			stable++
		} else {
			stable = 0
		}
		if n > want {
			z.t.Fatalf("%s holds %d documents for %s, want %d: duplicates", index, n, query, want)
		}
		total = n
		if time.Now().After(deadline) {
			z.t.Fatalf("%s holds %d documents for %s after 30s, want %d", index, total, query, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, sources := z.search(index, fmt.Sprintf(`{"size":%d,"query":%s,"sort":[{"seq":{"order":"asc"}}]}`, want+10, query))
	out := make([]Event, 0, len(sources))
	for _, s := range sources {
		var e Event
		if err := json.Unmarshal(s, &e); err != nil {
			z.t.Fatalf("stored document %s: %v", s, err)
		}
		out = append(out, e)
	}
	return out
}

// same compares stored events with emitted ones: every field, the time to
// the millisecond (ZincSearch returns it through a float).
func sameEvents(t *testing.T, got, want []Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read back %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if d := g.Timestamp.Sub(w.Timestamp.Truncate(time.Millisecond)); d < -time.Millisecond/2 || d > time.Millisecond/2 {
			t.Fatalf("event %d: @timestamp %s, want %s", i, g.Timestamp, w.Timestamp)
		}
		g.Timestamp, w.Timestamp = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("event %d (order by seq):\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// Every step of a rollback reaches the index with the right fields, in
// order; exporting again adds nothing.
func TestZincSearchEndToEnd(t *testing.T) {
	url := serverURL(t, envZincSearch, "scripts/zincsearch.sh")
	prefix := fmt.Sprintf("rewind-e2e-%d", time.Now().UnixNano())
	x := newESExporter(t, url, prefix)
	ctx := context.Background()
	if err := x.EnsureTemplate(ctx); err != nil {
		t.Fatalf("EnsureTemplate: %v", err)
	}
	res, err := esapi.IndicesGetIndexTemplateRequest{Name: prefix}.Do(ctx, x.Client())
	if err != nil {
		t.Fatal(err)
	}
	tmpl := res.String()
	res.Body.Close()
	if res.IsError() || !strings.Contains(tmpl, prefix+"-*") {
		t.Fatalf("template not stored: %s", tmpl)
	}

	events := rollbackEvents("change/d1", "run-e2e", day, 14) // crosses midnight: two indices
	other := rollbackEvents("change/d2", "run-e2e-other", day, 3)
	if err := x.Export(ctx, events[:9]); err != nil {
		t.Fatal(err)
	}
	if err := x.Export(ctx, append(events, other...)); err != nil {
		t.Fatal(err)
	}
	if err := x.Export(ctx, events); err != nil {
		t.Fatal(err)
	}
	z := zincSearch{t, x}
	got := z.waitFor(prefix+"-*", `{"term":{"runId":"run-e2e"}}`, len(events))
	sameEvents(t, got, events)
	// The daily split: the events after midnight are in the next day's index.
	after := 0
	for _, e := range events {
		if e.IndexName(prefix) == prefix+"-2026.03.01" {
			after++
		}
	}
	if got := z.waitFor(prefix+"-2026.03.01", `{"term":{"runId":"run-e2e"}}`, after); len(got) != after || got[0].Seq != len(events)-after {
		t.Fatalf("index %s-2026.03.01 holds %d events from seq %d, want %d from seq %d", prefix, len(got), got[0].Seq, after, len(events)-after)
	}
	z.waitFor(prefix+"-*", `{"match_all":{}}`, len(events)+len(other))
}

// The NDJSON fallback file loads into an Elasticsearch API with the
// documented command (docs/logs.md), holds the same documents, and loading
// it twice duplicates nothing.
func TestFileLoadsWithDocumentedBulkCommand(t *testing.T) {
	url := serverURL(t, envZincSearch, "scripts/zincsearch.sh")
	prefix := fmt.Sprintf("rewind-ndjson-%d", time.Now().UnixNano())
	dataDir := t.TempDir()
	f, err := NewFile(DefaultLogDir(dataDir), prefix)
	if err != nil {
		t.Fatal(err)
	}
	runs := [][]Event{rollbackEvents("change/d1", "run-a", day, 6), rollbackEvents("change/d1", "run-b", day.Add(time.Hour), 4), rollbackEvents("cleanup/2026-03-01", "run-c", day, 2)}
	total := 0
	for _, r := range runs {
		if err := f.Export(context.Background(), r); err != nil {
			t.Fatal(err)
		}
		total += len(r)
	}
	// docs/logs.md: cat "$REWIND_DATA_DIR"/logs/events/*/*.ndjson | curl -sS -H 'Content-Type: application/x-ndjson' -XPOST --data-binary @- "$ES/_bulk"
	files, _ := filepath.Glob(filepath.Join(dataDir, "logs", "events", "*", "*.ndjson"))
	if len(files) != len(runs) {
		t.Fatalf("%d files, want %d", len(files), len(runs))
	}
	// docs/logs.md: curl -sS -f -H 'Content-Type: application/json' -XPUT --data-binary @"$REWIND_DATA_DIR"/logs/events/index-template.json "$ES/_index_template/rewind-logs"
	put := exec.Command("sh", "-c", `curl -sS -f -H 'Content-Type: application/json' -XPUT --data-binary @"$REWIND_DATA_DIR"/logs/events/index-template.json "$ES/_index_template/$PREFIX"`)
	put.Env = append(os.Environ(), "REWIND_DATA_DIR="+dataDir, "ES="+url, "PREFIX="+prefix)
	if out, err := put.CombinedOutput(); err != nil {
		t.Fatalf("put template: %v: %s", err, out)
	}
	for i := 0; i < 2; i++ {
		cmd := exec.Command("sh", "-c", `cat "$REWIND_DATA_DIR"/logs/events/*/*.ndjson | curl -sS -f -H 'Content-Type: application/x-ndjson' -XPOST --data-binary @- "$ES/_bulk"`)
		cmd.Env = append(os.Environ(), "REWIND_DATA_DIR="+dataDir, "ES="+url)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), `"errors":true`) {
			t.Fatalf("load %d: %v: %s", i+1, err, out)
		}
	}
	x := newESExporter(t, url, prefix)
	z := zincSearch{t, x}
	z.waitFor(prefix+"-*", `{"match_all":{}}`, total)
	for _, r := range runs {
		sameEvents(t, z.waitFor(prefix+"-*", fmt.Sprintf(`{"term":{"runId":%q}}`, r[0].RunID), len(r)), r)
	}
}
