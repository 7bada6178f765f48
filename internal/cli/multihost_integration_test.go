package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// dockerHost is one private Docker daemon (scripts/dockerd.sh) on a bridge
// of its own, never docker0: one "machine" of the multi-host test.
type dockerHost struct {
	name, dir, socket string
	env               []string
}

func startDockerHost(t *testing.T, name, bridge, cidr string) *dockerHost {
	t.Helper()
	dir, err := os.MkdirTemp("", "rewind-host-"+name)
	if err != nil {
		t.Fatal(err)
	}
	h := &dockerHost{name: name, dir: dir}
	h.env = []string{"REWIND_DOCKERD_BRIDGE=" + bridge, "REWIND_DOCKERD_CIDR=" + cidr}
	h.socket = strings.TrimSpace(h.script(t, "start"))
	t.Cleanup(func() { h.script(t, "destroy"); os.RemoveAll(dir) })
	return h
}

func (h *dockerHost) script(t *testing.T, verb string) string {
	t.Helper()
	cmd := exec.Command("../../scripts/dockerd.sh", verb, h.dir)
	cmd.Env = append(os.Environ(), h.env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(h.dir, "dockerd.log"))
		t.Fatalf("dockerd %s %s: %v\n%s\n%s", h.name, verb, err, out, tail(string(log), 2000))
	}
	return string(out)
}

// docker runs the docker CLI against this host's daemon.
func (h *dockerHost) docker(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+h.socket)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s on host %s: %v\n%s", strings.Join(args, " "), h.name, err, out)
	}
	return strings.TrimSpace(string(out))
}

func (h *dockerHost) status(t *testing.T, container string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(h.docker(t, "exec", container, "airflow", "status"), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// startHostWorker runs rewind-worker for one host: its Engine, its host
// name and a data directory (and so a bundle root) of its own.
func startHostWorker(t *testing.T, bin string, h *dockerHost, dataDir string) *itest.WorkerProcess {
	t.Helper()
	return itest.StartWorkerProcessEnv(t, bin, "", "DOCKER_HOST="+h.socket, "REWIND_HOST="+h.name, "REWIND_DATA_DIR="+dataDir,
		"REWIND_BUNDLE_ROOT="+filepath.Join(dataDir, "bundles")) // not the CLI's (the test's REWIND_BUNDLE_ROOT)
}

func hostList(t *testing.T) map[string]app.Host {
	t.Helper()
	var hs []app.Host
	if err := json.Unmarshal([]byte(mustRewind(t, "host", "list", "--output", "json")), &hs); err != nil {
		t.Fatal(err)
	}
	m := map[string]app.Host{}
	for _, h := range hs {
		m[h.Host] = h
	}
	return m
}

// Two Docker Engines on this machine, one worker each (issue 13): both
// hosts' deployments deploy and roll back on their own Engine; a rollback
// on host B whose worker is stopped waits, visibly, while host A deploys
// meanwhile, and completes once B's worker is back; a DAG-only deploy on
// B fetches its bundle from the registry, nothing shared between the CLI
// and the workers but the database and Temporal.
func TestTwoDockerHostsOneWorkerEach(t *testing.T) {
	s := startServer(t)
	a := startDockerHost(t, "a", "rwhosta0", "169.254.232.1/24")
	b := startDockerHost(t, "b", "rwhostb0", "169.254.233.1/24")
	// One database for the CLI and both workers; each worker its own data
	// directory, the CLI another bundle root.
	t.Setenv("REWIND_DATABASE_URL", "sqlite://"+filepath.Join(t.TempDir(), "rewind.db"))
	t.Setenv("REWIND_BUNDLE_REPOSITORY", strings.Split(itest.Image(t, "9.1.0"), "/")[0]+"/rewind-test/dag-bundles-"+itest.UniqueID("mh"))
	cliBundles := t.TempDir()
	t.Setenv("REWIND_BUNDLE_ROOT", cliBundles)
	dataA, dataB := t.TempDir(), t.TempDir()
	bin := itest.BuildWorker(t, "../..")
	wa := startHostWorker(t, bin, a, dataA)
	wb := startHostWorker(t, bin, b, dataB)
	_ = wa

	depA, depB := itest.UniqueID("mha"), itest.UniqueID("mhb")
	for dep, host := range map[string]string{depA: "a", depB: "b"} {
		mustRewind(t, "deployment", "create", dep, "--host", host, "--dag-source", "bundle", "--dag-deploy", "--rollback-enabled",
			"--component", "scheduler=airflow scheduler")
		mustRewind(t, "grant", "alice", "--deployment", dep, "--role", "editor")
		mustRewind(t, "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--dags", dagDir(t, "a"), "--as", "alice", "--wait")
		mustRewind(t, "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--as", "alice", "--wait")
	}
	// Hostile host names change nothing.
	if r := rewind("deployment", "create", itest.UniqueID("mhx"), "--host", "b@evil"); r.code == 0 || !strings.Contains(r.stderr, "host") {
		t.Fatalf("a host that is not a slug must be refused: %+v", r)
	}
	if r := rewind("deployment", "update", depA, "--host", "b"); r.code == 0 || !strings.Contains(r.stderr, "runs on host a") {
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
	if hs := hostList(t); hs["a"].Pollers == 0 || hs["b"].Pollers == 0 || hs["a"].Deployments < 1 || hs["b"].Queue != s.TaskQueue+"@b" {
		t.Fatalf("both hosts' workers must poll: %+v", hs)
	}

	// Host A rolls back as usual.
	mustRewind(t, "rollback", depA, "--to", "1", "--description", "host a back", "--yes", "--as", "alice", "--wait")
	if st := a.status(t, "rewind-"+depA+"-scheduler"); st["runtime"] != "9.1.0" {
		t.Fatalf("host a's scheduler must run 9.1.0 again: %v", st)
	}

	// Host B's worker stops; its rollback waits for it, visibly.
	wb.Kill()
	idB := workflows.ChangeWorkflowID(depB)
	mustRewind(t, "rollback", depB, "--to", "1", "--description", "host b back", "--yes", "--as", "alice")
	waiting := ""
	for deadline := time.Now().Add(90 * time.Second); waiting == "" && time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), idB, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, pa := range desc.GetPendingActivities() {
			if h := app.WaitingForHost(pa, time.Now()); h != "" {
				waiting = pa.GetActivityType().GetName() + " waits for " + h
			}
		}
	}
	if waiting != "PullImage waits for b" {
		t.Fatalf("the rollback on host b must wait for b's worker at its first host step, got %q", waiting)
	}
	// Meanwhile host A deploys.
	start := time.Now()
	mustRewind(t, "deploy", depA, "--dags", dagDir(t, "c"), "--as", "alice", "--wait")
	if st := a.status(t, "rewind-"+depA+"-scheduler"); st["bundle_version"] != "c" {
		t.Fatalf("host a's scheduler must see bundle c: %v", st)
	}
	t.Logf("host a deployed in %s while host b's worker was down", time.Since(start).Round(time.Second))
	// The wait is what the watcher sees, and host list says b has no worker
	// (Temporal keeps listing a gone poller; one silent for PollerFresh
	// does not count).
	lines, err := (&session{ctx: context.Background(), cfg: itest.Config(t)}).temporalProgressLines(idB)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lines, "waiting for a worker on host b") {
		t.Fatalf("rewind watch must say the rollback waits for host b's worker:\n%s", lines)
	}
	var hs map[string]app.Host
	for deadline := time.Now().Add(app.PollerFresh + 30*time.Second); ; time.Sleep(2 * time.Second) {
		if hs = hostList(t); hs["b"].Pollers == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host b's stopped worker still counts as polling: %+v", hs)
		}
	}
	if hs["a"].Pollers == 0 {
		t.Fatalf("host a's worker must still poll: %+v", hs)
	}
	if revs := historyJSON(t, depB); revs[0].Status != domain.StatusInitialized {
		t.Fatalf("the rollback on b must still be waiting: %+v", revs[0])
	}

	// B's worker returns; the rollback completes on B's Engine.
	wb = startHostWorker(t, bin, b, dataB)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var res workflows.RollbackResult
	if err := s.Client.GetWorkflow(ctx, idB, "").Get(ctx, &res); err != nil {
		t.Fatalf("the rollback on host b after its worker returned: %v", err)
	}
	if st := b.status(t, "rewind-"+depB+"-scheduler"); st["runtime"] != "9.1.0" {
		t.Fatalf("host b's scheduler must run 9.1.0 again: %v", st)
	}

	// A DAG-only deploy on B: the bundle goes through the registry into
	// B's own bundle root; the CLI's holds nothing of it.
	mustRewind(t, "deploy", depB, "--dags", dagDir(t, "b"), "--as", "alice", "--wait")
	st := b.status(t, "rewind-"+depB+"-scheduler")
	if st["bundle_version"] != "b" {
		t.Fatalf("host b's scheduler must see bundle b: %v", st)
	}
	if _, err := os.Stat(filepath.Join(cliBundles, depB)); err == nil {
		t.Fatal("the CLI's bundle root must hold no deployment directory: nothing is shared")
	}
	if _, err := os.Stat(filepath.Join(dataB, "bundles", depB, "bundles", st["bundle"])); st["bundle"] == "" || err != nil {
		t.Fatalf("host b's worker must have unpacked bundle b into its own bundle root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataA, "bundles", depB)); err == nil {
		t.Fatal("host a's worker must hold nothing of host b's deployment")
	}

	cleanupOnBothHosts(t, s, bin, a, b, wb, depA, depB, dataA, dataB)
}

// cleanupOnBothHosts: 8.0.0 ran only in revision 2 of each deployment, and
// DAG bundle a only in revisions 1 and 3; once revisions 1-3 are past the
// cleanup age, each is garbage on both hosts, counted per host. With B's
// worker down, a cleanup removes A's copies, keeps B's for the next run
// and still finishes; the next run, with B back, removes B's.
func cleanupOnBothHosts(t *testing.T, s *itest.Server, bin string, a, b *dockerHost, wb *itest.WorkerProcess, depA, depB, dataA, dataB string) {
	t.Helper()
	ctx := context.Background()
	img8, bundleA := map[string]string{}, map[string]string{}
	for _, dep := range []string{depA, depB} {
		for _, r := range historyJSON(t, dep) {
			switch r.Number {
			case 1:
				bundleA[dep] = r.DagBundleVersion
			case 2:
				img8[dep] = r.ImageDigest
			}
		}
	}
	if img8[depA] == "" || img8[depA] != img8[depB] || bundleA[depA] == "" {
		t.Fatalf("both deployments ran the same 8.0.0 image as revision 2: %v %v", img8, bundleA)
	}
	digest := img8[depA]
	hasImage := func(h *dockerHost) bool {
		return strings.Contains(h.docker(t, "images", "--digests", "--format", "{{.Digest}}"), digest)
	}
	hasBundle := func(data, dep string) bool {
		_, err := os.Stat(filepath.Join(data, "bundles", dep, "bundles", bundleA[dep]))
		return err == nil
	}
	if !hasImage(a) || !hasImage(b) || !hasBundle(dataA, depA) || !hasBundle(dataB, depB) {
		t.Fatal("before cleanup both Engines hold 8.0.0 and both workers bundle a")
	}
	st, err := store.Open(ctx, os.Getenv("REWIND_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.DB().Exec(`UPDATE revisions SET created_at = created_at - $1 WHERE deployment_id IN ($2, $3) AND number < 4`,
		(100 * 24 * time.Hour).Microseconds(), depA, depB)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}

	wb.Kill()
	run, err := s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: itest.UniqueID("cleanup-mh"), TaskQueue: s.TaskQueue},
		workflows.CleanupWorkflowName, workflows.CleanupInput{HostWaitSeconds: 10})
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.CleanupResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("a cleanup with host b's worker down must still finish: %v", err)
	}
	if res.Revisions != 6 || len(res.Hosts) != 2 || res.Hosts[0].Host != "a" || res.Hosts[0].Images != 1 || res.Hosts[0].BundleDirs != 1 ||
		res.Hosts[1].Host != "b" || !res.Hosts[1].Waiting || res.Hosts[1].Images != 0 {
		t.Fatalf("host a's garbage goes, host b's waits: %+v", res)
	}
	if hasImage(a) || hasBundle(dataA, depA) {
		t.Fatal("host a's copy of 8.0.0 and its bundle a must be gone")
	}
	if !hasImage(b) || !hasBundle(dataB, depB) {
		t.Fatal("host b's copies must wait for b's worker")
	}

	startHostWorker(t, bin, b, dataB)
	var again workflows.CleanupResult
	if err := json.Unmarshal([]byte(mustRewind(t, "cleanup", "--now", "--wait", "-o", "json")), &again); err != nil {
		t.Fatal(err)
	}
	if len(again.Hosts) != 1 || again.Hosts[0].Host != "b" || again.Hosts[0].Images != 1 || again.Hosts[0].BundleDirs != 1 || again.Revisions != 0 {
		t.Fatalf("the next cleanup removes host b's garbage: %+v", again)
	}
	if hasImage(b) || hasBundle(dataB, depB) {
		t.Fatal("host b's copy of 8.0.0 and its bundle a must be gone")
	}
	for _, h := range []*dockerHost{a, b} {
		if got := h.docker(t, "ps", "--format", "{{.Names}} {{.Status}}"); !strings.Contains(got, "scheduler Up") {
			t.Fatalf("host %s's scheduler must keep running: %q", h.name, got)
		}
	}
}

// temporalProgressLines is what `rewind watch` (store-direct) shows of the
// workflow's latest run now.
func (s *session) temporalProgressLines(id string) (string, error) {
	src, err := s.temporalProgress()
	if err != nil {
		return "", err
	}
	if s.tc != nil {
		defer s.tc.Close()
	}
	snap, err := src(id, "")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, l := range snap.lines {
		b.WriteString(l.text + "\n")
	}
	return b.String(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
