package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// esGate is a test stand-in for an Elasticsearch outage: a reverse proxy in
// front of the real ZincSearch server that answers 503 to everything while
// closed.
type esGate struct {
	URL    string
	closed atomic.Bool
}

func startESGate(t *testing.T, target string) *esGate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &esGate{}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.closed.Load() {
			http.Error(w, `{"error":"gate closed by the test"}`, http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	front, _ := url.Parse(srv.URL)
	front.User, front.Path = u.User, u.Path // ZincSearch's credentials travel in the address
	g.URL = front.String()
	return g
}

// runEvents reads one run's events back from the index, in order.
func runEvents(t *testing.T, es *eslog.Elasticsearch, prefix, runID string) []eslog.Event {
	t.Helper()
	query := fmt.Sprintf(`{"query":{"term":{"runId":%q}},"size":1000,"sort":[{"seq":"asc"}],"track_total_hits":true}`, runID)
	resp, err := es.Client().Search(es.Client().Search.WithIndex(prefix+"-*"), es.Client().Search.WithBody(strings.NewReader(query)))
	if err != nil || resp.IsError() {
		return nil // no index yet
	}
	defer resp.Body.Close()
	var body struct {
		Hits struct {
			Hits []struct {
				Source eslog.Event `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	var docs []eslog.Event
	for _, h := range body.Hits.Hits {
		docs = append(docs, h.Source)
	}
	return docs
}

// waitEvents polls the index until ok holds for a run's events.
func waitEvents(t *testing.T, es *eslog.Elasticsearch, prefix, runID, what string, ok func([]eslog.Event) bool) []eslog.Event {
	t.Helper()
	var docs []eslog.Event
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if docs = runEvents(t, es, prefix, runID); ok(docs) {
			return docs
		}
	}
	t.Fatalf("%s: the index holds %d events of run %s: %+v", what, len(docs), runID, docs)
	return nil
}

// hasMessage says whether an event's message starts with msg.
func hasMessage(docs []eslog.Event, msg string) bool {
	for _, d := range docs {
		if strings.HasPrefix(d.Message, msg) {
			return true
		}
	}
	return false
}

// contiguous says whether docs are seq 1..n, each once.
func contiguous(docs []eslog.Event) bool {
	for i, d := range docs {
		if d.Seq != i+1 {
			return false
		}
	}
	return len(docs) > 0
}

// R13 while a change runs: each step's events are searchable as soon as the
// step ends, not when the change does. Halfway through, Elasticsearch stops
// answering: the change still finishes, its export retries, and once the
// index is back every event is there exactly once. A change terminated
// mid-step never reaches its own export; its events, and one saying how it
// ended, are exported once when the next change releases its revision.
func TestStepsAreSearchableWhileTheChangeRuns(t *testing.T) {
	zinc := needEnv(t, "REWIND_TEST_ZINCSEARCH_URL", "scripts/zincsearch.sh")
	s := startServer(t)
	gate := startESGate(t, zinc)
	prefix := "rewind-inc-" + fmt.Sprint(time.Now().UnixNano()%1e9)
	t.Setenv("REWIND_ELASTICSEARCH_ADDRESSES", gate.URL)
	t.Setenv("REWIND_ELASTICSEARCH_INDEX_PREFIX", prefix)
	// Long (12 s swaps, an outage): remote only under make test-remote.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("incr")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		w := startFaultWorker(t, "")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		w.Stop()
		// Every swap now takes 12 s: long enough to look at the index mid-change.
		w = startFaultWorker(t, "SwapComponents=before:12s")
		defer w.Stop()

		es, err := eslog.NewElasticsearch(eslog.ElasticsearchConfig{Addresses: []string{zinc}, IndexPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		es.Client().Info()

		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"))
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), workflows.ChangeWorkflowID(dep), "")
		if err != nil {
			t.Fatal(err)
		}
		runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		// Each step's export is its own bulk request: under load a later one
		// can be searchable a moment before an earlier one, so wait for the
		// run of events to be whole (a lost event never makes it whole).
		mid := waitEvents(t, es, prefix, runID, "before the swap ends", func(d []eslog.Event) bool {
			return hasMessage(d, workflows.StepPull+": done") && hasMessage(d, workflows.StepSwap+": started") && contiguous(d)
		})
		if hasMessage(mid, "deploy finished") {
			t.Fatalf("mid-change the index should hold the finished steps only, in order: %+v", mid)
		}
		// Halfway: the index goes away.
		gate.closed.Store(true)
		if r := m.waitRevision(dep, 2, time.Minute); r.Status != domain.StatusDeployed {
			t.Fatalf("revision 2: %+v", r)
		}
		exportID := workflows.ExportWorkflowID(workflows.ChangeWorkflowID(dep), runID)
		// The revision is marked before the change starts its export.
		d, err := s.Client.DescribeWorkflowExecution(context.Background(), exportID, "")
		for deadline := time.Now().Add(20 * time.Second); err != nil && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			d, err = s.Client.DescribeWorkflowExecution(context.Background(), exportID, "")
		}
		if err != nil {
			t.Fatal(err)
		}
		if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("the change finished while the index was down, so its export should be retrying: %v", st)
		}
		waitAttempt(t, s, exportID, "ExportEvents", 2, false)
		if got := runEvents(t, es, prefix, runID); hasMessage(got, "deploy finished") {
			t.Fatalf("the end of the change cannot be indexed while the gate is closed: %+v", got)
		}
		gate.closed.Store(false)
		n := waitExport(t, s, workflows.ChangeWorkflowID(dep), runID)
		docs := waitEvents(t, es, prefix, runID, "after the outage", func(d []eslog.Event) bool { return len(d) == n })
		if !contiguous(docs) || !hasMessage(docs, "deploy finished") {
			t.Fatalf("every event once, in order: %+v", docs)
		}

		// A change terminated mid-swap never exports its own events.
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"))
		desc, err = s.Client.DescribeWorkflowExecution(context.Background(), workflows.ChangeWorkflowID(dep), "")
		if err != nil {
			t.Fatal(err)
		}
		killed := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		waitEvents(t, es, prefix, killed, "before the terminate", func(d []eslog.Event) bool {
			return hasMessage(d, workflows.StepSwap+": started")
		})
		if err := s.Client.TerminateWorkflow(context.Background(), workflows.ChangeWorkflowID(dep), killed, "test: terminated mid-swap"); err != nil {
			t.Fatal(err)
		}
		// The next change finds revision 3 abandoned, releases it and exports
		// what the terminated run had logged.
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		n = waitExport(t, s, workflows.ChangeWorkflowID(dep), killed)
		docs = waitEvents(t, es, prefix, killed, "after the release", func(d []eslog.Event) bool { return len(d) == n })
		last := docs[len(docs)-1]
		if !contiguous(docs) || last.Level != eslog.LevelError || !strings.HasPrefix(last.Message, "abandoned:") || last.Revision != 3 {
			t.Fatalf("the terminated run's events, once, ending in how it ended: %+v", docs)
		}
		if !hasMessage(docs, workflows.StepSwap+": started") || hasMessage(docs, "deploy finished") {
			t.Fatalf("the terminated run got as far as the swap: %+v", docs)
		}
		// Exactly once: the export of the abandoned run is one workflow run.
		query := fmt.Sprintf("WorkflowId = %q", workflows.ExportWorkflowID(workflows.ChangeWorkflowID(dep), killed))
		var runs int
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			resp, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
			if err != nil {
				t.Fatal(err)
			}
			if runs = len(resp.GetExecutions()); runs > 0 {
				break
			}
		}
		if runs != 1 {
			t.Fatalf("want one export of the terminated run, have %d", runs)
		}
	})
}

// startFaultWorker starts an in-process worker with REWIND_FAULTS set.
func startFaultWorker(t *testing.T, faults string) *app.Running {
	t.Helper()
	t.Setenv("REWIND_FAULTS", faults)
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	w, err := startWorker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
