package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

func needEnv(t *testing.T, name, script string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts it (%s)", name, script)
	}
	return v
}

// waitExport waits for a change's export child to finish and returns how
// many events it exported.
func waitExport(t *testing.T, s *stack, workflowID, runID string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var n int
	if err := s.Client.GetWorkflow(ctx, workflows.ExportWorkflowID(workflowID, runID), "").Get(ctx, &n); err != nil {
		t.Fatalf("export of %s: %v", workflowID, err)
	}
	return n
}

// Every step of a rollback reaches the index, with the right fields, in
// order: read back from ZincSearch, a real server with Elasticsearch's API.
func TestRollbackEventsReachTheIndex(t *testing.T) {
	zinc := needEnv(t, "REWIND_TEST_ZINCSEARCH_URL", "scripts/zincsearch.sh")
	s := startServer(t)
	prefix := "rewind-it-" + fmt.Sprint(time.Now().UnixNano()%1e9)
	t.Setenv("REWIND_ELASTICSEARCH_ADDRESSES", zinc)
	t.Setenv("REWIND_ELASTICSEARCH_INDEX_PREFIX", prefix)
	itest.StartWorker(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("logs")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")
		res := m.rollbackJSON(dep, "--to", "1", "--description", "logs test")
		n := waitExport(t, s, res.Revision.WorkflowID, res.Revision.RunID)

		es, err := eslog.NewElasticsearch(eslog.ElasticsearchConfig{Addresses: []string{zinc}, IndexPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		es.Client().Info() // ZincSearch answers _refresh without the product header until asked this
		var docs []eslog.Event
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
			if docs = runEvents(t, es, prefix, res.Revision.RunID); len(docs) == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("want %d events in the index, found %d", n, len(docs))
			}
		}
		steps := map[string]bool{}
		for i, d := range docs {
			if d.Seq != i+1 || d.Deployment != dep || d.Kind != eslog.KindRollback || d.WorkflowID != "change/"+dep || d.RequestedBy != "alice" {
				t.Fatalf("document %d: %+v", i, d)
			}
			steps[d.Step] = true
		}
		for _, st := range res.Progress.Steps {
			if !steps[st.Name] {
				t.Errorf("step %q is not in the index", st.Name)
			}
		}
		if last := docs[n-1]; last.Message != "rollback finished" || last.Revision != 3 || last.RollbackOf != 1 || last.ImageDigest == "" {
			t.Fatalf("last document: %+v", last)
		}
	})
}

// Elasticsearch failing (503, then 429) does not hold the rollback's result
// back; the export retries visibly and, once it recovers, every event is
// indexed exactly once. mock-es is started for this test alone, since its
// faults are server-wide.
func TestExportSurvivesAnElasticsearchOutageExactlyOnce(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	out, err := exec.Command("../../scripts/mock-es.sh", "start", dir).Output()
	if err != nil {
		t.Fatalf("mock-es: %v", err)
	}
	t.Cleanup(func() { exec.Command("../../scripts/mock-es.sh", "stop", dir).Run() })
	mock := strings.TrimSpace(string(out))
	t.Setenv("REWIND_ELASTICSEARCH_ADDRESSES", mock)
	itest.StartWorker(t)
	// Long (an outage the export retries through): remote only under
	// make test-remote. Each half resets mock-es and counts its own run.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("esdown")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")

		post := func(path, body string) {
			resp, err := http.Post(mock+path, "application/json", bytes.NewBufferString(body))
			if err != nil || resp.StatusCode >= 300 {
				t.Fatalf("mock-es %s: %v %v", path, resp, err)
			}
			resp.Body.Close()
		}
		post("/_mock/reset", "{}")
		// The outage lasts until the test ends it: the steps' own exports
		// (issue 15) retry into it too, and the rollback must not wait for it.
		post("/_mock/faults", `{"bulkStatus":503,"bulkFailures":1000000}`)

		res := m.rollbackJSON(dep, "--to", "1", "--description", "while Elasticsearch is down")
		exportID := workflows.ExportWorkflowID(res.Revision.WorkflowID, res.Revision.RunID)
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), exportID, "")
		if err != nil {
			t.Fatal(err)
		}
		if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("the rollback returned, so its export should still be retrying: %v", desc.GetWorkflowExecutionInfo().GetStatus())
		}
		waitAttempt(t, s, exportID, "ExportEvents", 2, false)
		// Elasticsearch comes back, refusing a few items for a while (429).
		post("/_mock/faults", `{"itemStatus":429,"itemFailures":5}`)
		n := waitExport(t, s, res.Revision.WorkflowID, res.Revision.RunID)

		resp, err := http.Get(mock + "/_mock/docs")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got struct {
			Docs []struct {
				ID     string          `json:"id"`
				Source json.RawMessage `json:"source"`
			} `json:"docs"`
		}
		json.NewDecoder(resp.Body).Decode(&got)
		ids := map[string]int{}
		for _, d := range got.Docs {
			if strings.Contains(string(d.Source), res.Revision.RunID) {
				ids[d.ID]++
			}
		}
		if len(ids) != n {
			t.Fatalf("want %d distinct documents for the run, have %d", n, len(ids))
		}
		for id, c := range ids {
			if c != 1 {
				t.Fatalf("document %s stored %d times", id, c)
			}
		}
	})
}
