package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/app"
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

// hostList is `rewind host list` in the test's mode, by host.
func hostList(m *cliMode) map[string]app.Host {
	m.t.Helper()
	var hs []app.Host
	if err := json.Unmarshal([]byte(m.mustRewind("host", "list", "--output", "json")), &hs); err != nil {
		m.t.Fatal(err)
	}
	byHost := map[string]app.Host{}
	for _, h := range hs {
		byHost[h.Host] = h
	}
	return byHost
}

// bgWatch is a `rewind watch` running in the background, its output read
// while it runs.
type bgWatch struct {
	mu   sync.Mutex
	out  strings.Builder
	code chan int
}

func (w *bgWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

func (w *bgWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// startWatch runs `rewind watch id` as user (through serve with the
// user's token remotely) in the background until it ends or the test
// does, and returns once it has printed want.
func startWatch(t *testing.T, m *cliMode, user, id, want string, within time.Duration) *bgWatch {
	t.Helper()
	args, restore := []string{"watch", id}, func() {}
	if m.remote {
		args, restore = m.argsAs(user, args...)
	}
	// The token is read when the command starts, before it prints.
	defer restore()
	ctx, cancel := context.WithCancel(context.Background())
	w := &bgWatch{code: make(chan int, 1)}
	go func() { w.code <- Run(ctx, args, strings.NewReader(""), w, w) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.code:
		case <-time.After(10 * time.Second):
		}
	})
	for deadline := time.Now().Add(within); !strings.Contains(w.String(), want); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("rewind watch %s (%s) must print %q within %s:\n%s", id, m.name(), want, within, w.String())
		}
	}
	return w
}

// startRewind runs `rewind args…` as user in the background until it ends
// or the test does; it returns once started() says the command has done
// what it must before its token may go (remote: the token is read when
// the command starts). end waits for it.
func startRewind(t *testing.T, m *cliMode, user string, started func() bool, args ...string) *bgWatch {
	t.Helper()
	full, restore := m.argsAs(user, args...)
	defer restore()
	ctx, cancel := context.WithCancel(context.Background())
	w := &bgWatch{code: make(chan int, 1)}
	go func() { w.code <- Run(ctx, full, strings.NewReader(""), w, w) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-w.code:
		case <-time.After(10 * time.Second):
		}
	})
	for deadline := time.Now().Add(time.Minute); !started(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("rewind %s (%s) did not start within a minute:\n%s", strings.Join(args, " "), m.name(), w.String())
		}
	}
	return w
}

// end waits for the watch to end and returns what it printed; an exit
// other than 0 fails the test.
func (w *bgWatch) end(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case c := <-w.code:
		w.code <- c // for the test's cleanup
		if c != 0 {
			t.Fatalf("rewind watch: exit %d:\n%s", c, w.String())
		}
	case <-time.After(within):
		t.Fatalf("rewind watch did not end within %s:\n%s", within, w.String())
	}
	return w.String()
}

// cleanupOnBothHosts: 8.0.0 ran only in revision 2 of each deployment, and
// DAG bundle a only in revisions 1 and 3; once revisions 1-3 are past the
// cleanup age, each is garbage on both hosts, counted per host. With B's
// worker down, a cleanup removes A's copies, keeps B's for the next run
// and still finishes; the next run, with B back, removes B's. Cleanup
// counts everything in the database: a half before this one ran both runs,
// so what is garbage now is this half's alone (a half that failed before
// its second run leaves garbage the next half counts too).
func cleanupOnBothHosts(t *testing.T, m *cliMode, h *twoHosts, wb *itest.WorkerProcess, depA, depB string) {
	t.Helper()
	s, a, b, dataA, dataB := h.s, h.a, h.b, h.dataA, h.dataB
	ctx := context.Background()
	img8, bundleA := map[string]string{}, map[string]string{}
	for _, dep := range []string{depA, depB} {
		for _, r := range m.historyJSON(dep) {
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
	// Revisions age in the database itself, the first run starts in
	// Temporal with a short wait for B (the CLI has no such option): both
	// store-direct in either half.
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
	if out := m.mustRewind("cleanup", "--status"); !strings.Contains(out, "2 artifacts on host b") || strings.Contains(out, "on host a") {
		t.Fatalf("cleanup --status must show host b's image and bundle waiting, nothing of a:\n%s", out)
	}

	startHostWorker(t, h.bin, b, dataB)
	var again workflows.CleanupResult
	if err := json.Unmarshal([]byte(m.mustRewind("cleanup", "--now", "--wait", "-o", "json")), &again); err != nil {
		t.Fatal(err)
	}
	if len(again.Hosts) != 1 || again.Hosts[0].Host != "b" || again.Hosts[0].Images != 1 || again.Hosts[0].BundleDirs != 1 || again.Revisions != 0 {
		t.Fatalf("the next cleanup removes host b's garbage: %+v", again)
	}
	if hasImage(b) || hasBundle(dataB, depB) {
		t.Fatal("host b's copy of 8.0.0 and its bundle a must be gone")
	}
	for dep, h := range map[string]*dockerHost{depA: a, depB: b} {
		if got := h.docker(t, "ps", "--format", "{{.Names}} {{.Status}}"); !strings.Contains(got, "rewind-"+dep+"-scheduler Up") {
			t.Fatalf("host %s's scheduler must keep running: %q", h.name, got)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
