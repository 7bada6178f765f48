package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// twoHosts is what both halves of the two-host test share: the Temporal
// dev server, both Engines, the worker binary and the data directories.
type twoHosts struct {
	s                             *itest.Server
	a, b                          *dockerHost
	bin, cliBundles, dataA, dataB string
}

// Two Docker Engines on this machine, one worker each (issue 13): both
// hosts' deployments deploy and roll back on their own Engine; a rollback
// on host B whose worker is stopped waits, visibly, while host A deploys
// meanwhile, and completes once B's worker is back; a DAG-only deploy on
// B fetches its bundle from the registry, nothing shared between the CLI
// and the workers but the database and Temporal. The remote half does
// the same through `rewind serve`: the bundle upload goes through serve
// and the registry, watch and host list through the API.
func TestTwoDockerHostsOneWorkerEach(t *testing.T) {
	// Starting the Engines is the slow part: both halves share them, each
	// with deployments of its own.
	h := &twoHosts{s: startServer(t)}
	h.a = startDockerHost(t, "a", "rwhosta0", "169.254.232.1/24")
	h.b = startDockerHost(t, "b", "rwhostb0", "169.254.233.1/24")
	// One database for the CLI (and serve) and both workers; each worker
	// its own data directory, the CLI another bundle root.
	t.Setenv("REWIND_DATABASE_URL", "sqlite://"+filepath.Join(t.TempDir(), "rewind.db"))
	t.Setenv("REWIND_BUNDLE_REPOSITORY", strings.Split(itest.Image(t, "9.1.0"), "/")[0]+"/rewind-test/dag-bundles-"+itest.UniqueID("mh"))
	h.cliBundles = t.TempDir()
	t.Setenv("REWIND_BUNDLE_ROOT", h.cliBundles)
	h.dataA, h.dataB = t.TempDir(), t.TempDir()
	h.bin = itest.BuildWorker(t, "../..")
	// A's worker serves both halves; B's is killed and restarted within
	// each, so each half starts (and its end stops) its own.
	startHostWorker(t, h.bin, h.a, h.dataA)
	eachHeavyMode(t, func(t *testing.T, m *cliMode) { twoHostJourney(t, m, h) })
}

func twoHostJourney(t *testing.T, m *cliMode, h *twoHosts) {
	s, a, b := h.s, h.a, h.b
	wb := startHostWorker(t, h.bin, b, h.dataB)
	depA, depB := itest.UniqueID("mha"), itest.UniqueID("mhb")
	for dep, host := range map[string]string{depA: "a", depB: "b"} {
		m.mustRewind("deployment", "create", dep, "--host", host, "--dag-source", "bundle", "--dag-deploy", "--rollback-enabled",
			"--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--dags", dagDir(t, "a"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--wait")
	}
	// Hostile host names change nothing.
	if r := m.rewind("deployment", "create", itest.UniqueID("mhx"), "--host", "b@evil"); r.code == 0 || !strings.Contains(r.stderr, "host") {
		t.Fatalf("a host that is not a slug must be refused: %+v", r)
	}
	if r := m.rewind("deployment", "update", depA, "--host", "b"); r.code == 0 || !strings.Contains(r.stderr, "runs on host a") {
		t.Fatalf("a deployed deployment must not move hosts: %+v", r)
	}
	// Each deployment's containers are on its own host's Engine only.
	if got := a.docker(t, "ps", "--filter", "label=rewind.deployment="+depA, "--format", "{{.Names}}"); got != "rewind-"+depA+"-scheduler" {
		t.Fatalf("host a runs %q", got)
	}
	if got := b.docker(t, "ps", "-a", "--filter", "label=rewind.deployment="+depA, "--format", "{{.Names}}"); got != "" {
		t.Fatalf("host b must run nothing of %s: %q", depA, got)
	}
	if got := b.docker(t, "ps", "--filter", "label=rewind.deployment="+depB, "--format", "{{.Names}}"); got != "rewind-"+depB+"-scheduler" {
		t.Fatalf("host b runs %q", got)
	}
	if hs := hostList(m); hs["a"].Pollers == 0 || hs["b"].Pollers == 0 || hs["a"].Deployments < 1 || hs["b"].Queue != s.TaskQueue+"@b" {
		t.Fatalf("both hosts' workers must poll: %+v", hs)
	}

	// Host A rolls back as usual.
	m.mustAs("alice", "rollback", depA, "--to", "1", "--description", "host a back", "--yes", "--wait")
	if st := a.status(t, "rewind-"+depA+"-scheduler"); st["runtime"] != "9.1.0" {
		t.Fatalf("host a's scheduler must run 9.1.0 again: %v", st)
	}

	// Host B's worker stops; its rollback waits for it, visibly. Which
	// activity waits is read from Temporal itself in both halves: the API
	// has no such question, and the answer does not depend on the path.
	// The first host step is the plan's (issue 27: what is on b's Engine),
	// so the rollback runs as one workflow (--yes --wait: no dry run first,
	// which would wait for b as well), in the background.
	wb.Kill()
	idB := workflows.ChangeWorkflowID(depB)
	rbB := startRewind(t, m, "alice", func() bool {
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), idB, "")
		return err == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, "rollback", depB, "--to", "1", "--description", "host b back", "--yes", "--wait")
	waiting := ""
	for deadline := time.Now().Add(90 * time.Second); waiting == "" && time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), idB, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, pa := range desc.GetPendingActivities() {
			if host := action.WaitingForHost(pa, time.Now()); host != "" {
				waiting = pa.GetActivityType().GetName() + " waits for " + host
			}
		}
	}
	if waiting != "InspectRollback waits for b" {
		t.Fatalf("the rollback on host b must wait for b's worker at its first host step, got %q", waiting)
	}
	// The wait is what `rewind watch` prints (through serve remotely); the
	// watch goes on following until the rollback ends.
	w := startWatch(t, m, "alice", idB, "waiting for a worker on host b", time.Minute)
	// Meanwhile host A deploys.
	start := time.Now()
	m.mustAs("alice", "deploy", depA, "--dags", dagDir(t, "c"), "--wait")
	if st := a.status(t, "rewind-"+depA+"-scheduler"); st["bundle_version"] != "c" {
		t.Fatalf("host a's scheduler must see bundle c: %v", st)
	}
	t.Logf("host a deployed in %s while host b's worker was down", time.Since(start).Round(time.Second))
	// Host list says b has no worker (Temporal keeps listing a gone poller;
	// one silent for PollerFresh does not count).
	var hs map[string]app.Host
	for deadline := time.Now().Add(app.PollerFresh + 30*time.Second); ; time.Sleep(2 * time.Second) {
		if hs = hostList(m); hs["b"].Pollers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host b's stopped worker still counts as polling: %+v", hs)
		}
	}
	if hs["a"].Pollers == 0 {
		t.Fatalf("host a's worker must still poll: %+v", hs)
	}
	if revs := m.historyJSON(depB); revs[0].Number != 2 || revs[0].Status != domain.StatusDeployed {
		t.Fatalf("the rollback on b must still be waiting for its plan, nothing recorded: %+v", revs[0])
	}

	// B's worker returns; the rollback completes on B's Engine, and the
	// watch says so.
	wb = startHostWorker(t, h.bin, b, h.dataB)
	if out := w.end(t, 3*time.Minute); !strings.Contains(out, idB+" finished: Completed") {
		t.Fatalf("the watch must follow the rollback on host b to its end:\n%s", out)
	}
	rbB.end(t, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var res workflows.RollbackResult
	if err := s.Client.GetWorkflow(ctx, idB, "").Get(ctx, &res); err != nil {
		t.Fatalf("the rollback on host b after its worker returned: %v", err)
	}
	if st := b.status(t, "rewind-"+depB+"-scheduler"); st["runtime"] != "9.1.0" {
		t.Fatalf("host b's scheduler must run 9.1.0 again: %v", st)
	}
	m.recordHistory(s, idB, "rollback-on-host-b")

	// A DAG-only deploy on B: the bundle goes through the registry into
	// B's own bundle root; the CLI's (and serve's, the same) holds nothing
	// of it.
	m.mustAs("alice", "deploy", depB, "--dags", dagDir(t, "b"), "--wait")
	st := b.status(t, "rewind-"+depB+"-scheduler")
	if st["bundle_version"] != "b" {
		t.Fatalf("host b's scheduler must see bundle b: %v", st)
	}
	if _, err := os.Stat(filepath.Join(h.cliBundles, depB)); err == nil {
		t.Fatal("the CLI's bundle root must hold no deployment directory: nothing is shared")
	}
	if _, err := os.Stat(filepath.Join(h.dataB, "bundles", depB, "bundles", st["bundle"])); st["bundle"] == "" || err != nil {
		t.Fatalf("host b's worker must have unpacked bundle b into its own bundle root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(h.dataA, "bundles", depB)); err == nil {
		t.Fatal("host a's worker must hold nothing of host b's deployment")
	}

	cleanupOnBothHosts(t, m, h, wb, depA, depB)
}
