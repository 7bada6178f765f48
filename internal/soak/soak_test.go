// Package soak is the concurrency soak of issue 9: many deployments, many
// deploys and rollbacks at once from several clients, racing requests on the
// same deployment, and at the end every history gap-free and consistent
// with the containers, every refusal a ChangeInProgress, nothing stuck.
//
// `make test` runs a short form; `make soak` the full one:
//
//	REWIND_SOAK_DEPLOYMENTS=200 REWIND_SOAK_CHANGES=5 REWIND_SOAK_CLIENTS=16 \
//	  REWIND_SOAK_TIMEOUT=15m go test -count=1 -timeout 30m -run TestSoak -v ./internal/soak
//
// Everything is loopback: the dev server, an in-process worker (or two),
// the registry on 127.0.0.1 and the local Docker Engine. Figures and the
// machine they came from are in docs/soak.md.
package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/clitest"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// params is the soak's size, from the environment. The defaults are the
// short form `make test` runs.
type params struct {
	deployments, changes, clients, workers int
	timeout                                time.Duration
	raceEvery                              int // every n-th request of a client is a racing pair
	rollbackPct                            int
	database                               string // sqlite or postgres
}

func loadParams(t *testing.T) params {
	p := params{
		deployments: envInt(t, "REWIND_SOAK_DEPLOYMENTS", 20),
		changes:     envInt(t, "REWIND_SOAK_CHANGES", 3),
		clients:     envInt(t, "REWIND_SOAK_CLIENTS", 4),
		workers:     envInt(t, "REWIND_SOAK_WORKERS", 1),
		raceEvery:   envInt(t, "REWIND_SOAK_RACE_EVERY", 3),
		rollbackPct: envInt(t, "REWIND_SOAK_ROLLBACK_PERCENT", 40),
		timeout:     3 * time.Minute,
		database:    "sqlite",
	}
	if v := os.Getenv("REWIND_SOAK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("REWIND_SOAK_TIMEOUT=%q: want a positive duration such as 15m", v)
		}
		p.timeout = d
	}
	if v := os.Getenv("REWIND_SOAK_DATABASE"); v != "" {
		if v != "sqlite" && v != "postgres" {
			t.Fatalf("REWIND_SOAK_DATABASE=%q: want sqlite or postgres", v)
		}
		p.database = v
	}
	if p.workers > 2 {
		t.Fatalf("REWIND_SOAK_WORKERS=%d: one or two in-process workers", p.workers)
	}
	return p
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// outcome is what became of one request.
type outcome int

const (
	deployed     outcome = iota // started and ended DEPLOYED
	refusedStart                // refused by StartChange: action.ChangeInProgressError
	refusedRun                  // started, then refused by the workflow: ChangeInProgress
	// refusedGuard: a deploy refused by the rollback guard (RolledBack)
	// for bringing back what a rollback moved away from; typed, and it
	// records nothing (the history checks prove it).
	refusedGuard
	failed // anything else: a failure of the soak
)

type request struct {
	deployment string
	kind       string // deploy or rollback
	pair       int    // >0: one of a racing pair, numbered
	outcome    outcome
	revision   int // the revision a DEPLOYED change made
	rollbackOf int
	digest     string // the revision's image digest
	holder     string // the workflow id a refusal named
	err        error
	took       time.Duration // start to end of a started change
}

type soak struct {
	t       *testing.T
	p       params
	cfg     *config.Config
	st      *store.Store
	tc      client.Client
	images  [2]string
	ids     []string
	quota   map[string]*atomic.Int64 // changes still to start, per deployment
	mu      sync.Mutex
	log     []request
	pairs   atomic.Int64
	pending atomic.Int64
}

func TestSoak(t *testing.T) {
	p := loadParams(t)
	srv := itest.StartServer(t)
	if p.database == "postgres" {
		t.Setenv("REWIND_DATABASE_URL", store.PostgresTestURL(t))
	}
	// One component per deployment, no Celery workers to drain; a short
	// grace period bounds a swap should a component be slow to stop.
	t.Setenv("REWIND_STOP_TIMEOUT", "5s")
	// No network for the stand-in containers, which need none: Docker
	// Engine 20.10 deadlocks in libnetwork when many endpoints are deleted
	// at once (moby/moby#46661; every API call then hangs), and the full
	// soak's 200 deployments met it once here. The swap's network handling
	// is tested elsewhere (internal/runtime).
	t.Setenv("REWIND_DOCKER_NETWORK", "none")
	cfg := itest.Config(t)
	images := [2]string{itest.Image(t, "9.1.0"), itest.Image(t, "8.0.0")}

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	for range p.workers {
		itest.StartWorker(t)
	}

	st, err := store.Open(context.Background(), cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	s := &soak{t: t, p: p, cfg: cfg, st: st, tc: srv.Client, images: images, quota: map[string]*atomic.Int64{}}
	setupStart := time.Now()
	cliRun(t, "grant", "soak", "--system", "--permission", "system.deployments.images.push")
	for i := range p.deployments {
		id := itest.UniqueID(fmt.Sprintf("soak%03d", i))
		itest.RemoveContainers(t, id)
		cliRun(t, "deployment", "create", id, "--dag-source", "image", "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		s.ids = append(s.ids, id)
		q := &atomic.Int64{}
		q.Store(int64(p.changes))
		s.quota[id] = q
	}
	t.Logf("soak: %d deployments × %d changes, %d clients, %d worker(s) on %s, every %d-th request a racing pair, %d%% rollbacks, bound %s (setup %s)",
		p.deployments, p.changes, p.clients, p.workers, p.database, p.raceEvery, p.rollbackPct, p.timeout, time.Since(setupStart).Round(time.Millisecond))

	// The worker runs in this process, so the process's Go heap is the
	// worker's (plus the clients', which are small next to it).
	var peakHeap atomic.Uint64
	sampleDone := make(chan struct{})
	sampleStop := make(chan struct{})
	go func() {
		defer close(sampleDone)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peakHeap.Load() {
				peakHeap.Store(m.HeapInuse)
			}
			select {
			case <-sampleStop:
				return
			case <-tick.C:
			}
		}
	}()

	// Phase 1: fire. Clients stop at the bound or when every deployment has
	// had its changes; started changes are waited for within the bound plus
	// a drain period, so the test ends in bounded time either way.
	start := time.Now()
	fireCtx, cancelFire := context.WithTimeout(context.Background(), p.timeout)
	defer cancelFire()
	drain := max(time.Minute, p.timeout/5)
	waitCtx, cancelWait := context.WithTimeout(context.Background(), p.timeout+drain)
	defer cancelWait()
	var wg sync.WaitGroup
	for c := range p.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.client(fireCtx, waitCtx, c)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(sampleStop)
	<-sampleDone
	boundHit := fireCtx.Err() != nil

	// Phase 2: the end state.
	s.check(boundHit)

	// Figures.
	var n [failed + 1]int
	var races int
	var rollbacks, deploys int
	var took []time.Duration
	for _, r := range s.log {
		n[r.outcome]++
		if r.pair > 0 {
			races++
		}
		if r.outcome == deployed {
			took = append(took, r.took)
			if r.kind == "rollback" {
				rollbacks++
			} else {
				deploys++
			}
		}
	}
	slices.Sort(took)
	pct := func(q float64) time.Duration {
		if len(took) == 0 {
			return 0
		}
		return took[min(len(took)-1, int(q*float64(len(took))))].Round(10 * time.Millisecond)
	}
	hwm := vmHWM()
	perMin := float64(n[deployed]) / elapsed.Minutes()
	table := fmt.Sprintf(`
| figure | value |
|---|---|
| deployments × changes asked | %d × %d = %d |
| clients, workers, database | %d, %d in-process, %s |
| requests | %d (%d in racing pairs) |
| started and DEPLOYED | %d (%d deploys, %d rollbacks) |
| refused ChangeInProgress at start | %d |
| refused ChangeInProgress by the workflow | %d |
| deploys refused by a rollback's guard (RolledBack) | %d |
| other errors (failures) | %d |
| wall time | %s%s |
| throughput | %.1f completed changes/min |
| change latency p50 / p95 / max | %s / %s / %s |
| Go heap in use: before workers / peak | %.1f MiB / %.1f MiB |
| process VmHWM (peak RSS) | %s |
`, p.deployments, p.changes, p.deployments*p.changes, p.clients, p.workers, p.database,
		len(s.log), races, n[deployed], deploys, rollbacks, n[refusedStart], n[refusedRun], n[refusedGuard], n[failed],
		elapsed.Round(time.Second), map[bool]string{true: " (time bound hit)", false: ""}[boundHit],
		perMin, pct(0.5), pct(0.95), pct(1), mib(heapBefore), mib(peakHeap.Load()), hwm)
	t.Log("soak figures:" + table)
	if out := os.Getenv("REWIND_SOAK_REPORT"); out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
	if n[failed] > 0 {
		t.Errorf("%d requests failed with something other than ChangeInProgress or RolledBack", n[failed])
	}
	if n[deployed] == 0 {
		t.Error("no change completed")
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// vmHWM is the process's peak resident set, from /proc/self/status.
func vmHWM() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			if kb, err := strconv.Atoi(f[1]); err == nil {
				return fmt.Sprintf("%.1f MiB", float64(kb)/1024)
			}
		}
	}
	return "n/a"
}

func cliRun(t *testing.T, args ...string) { t.Helper(); clitest.Must(t, args...) }

// client is one caller: it picks a deployment that still has changes to
// make and fires a deploy or a rollback at it, waiting for a started change
// to end like `--wait`. Every raceEvery-th request is a racing pair: two
// requests on the same deployment released at the same instant, as if two
// operators pressed the button together.
func (s *soak) client(fireCtx, waitCtx context.Context, c int) {
	rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
	for i := 1; fireCtx.Err() == nil; i++ {
		var left []string
		for _, id := range s.ids {
			if s.quota[id].Load() > 0 {
				left = append(left, id)
			}
		}
		if len(left) == 0 {
			return
		}
		dep := left[rng.IntN(len(left))]
		if i%s.p.raceEvery != 0 {
			if !s.fire(waitCtx, dep, rng, 0) {
				// Refused: pause like a caller reading the message, rather
				// than spinning on the last busy deployments.
				time.Sleep(time.Duration(50+rng.IntN(200)) * time.Millisecond)
			}
			continue
		}
		var pair sync.WaitGroup
		gate, id := make(chan struct{}), int(s.pairs.Add(1))
		for k := range 2 {
			r := rand.New(rand.NewPCG(uint64(c), uint64(i*2+k)))
			pair.Add(1)
			go func() {
				defer pair.Done()
				<-gate
				s.fire(waitCtx, dep, r, id)
			}()
		}
		close(gate)
		pair.Wait()
	}
}

// fire sends one request and records its outcome; it says whether the
// request started a change.
func (s *soak) fire(ctx context.Context, dep string, rng *rand.Rand, pair int) bool {
	req := request{deployment: dep, pair: pair, kind: "deploy"}
	defer func() {
		s.mu.Lock()
		s.log = append(s.log, req)
		s.mu.Unlock()
	}()
	hist, err := s.st.ListRevisions(ctx, dep, action.MaxHistoryLimit, 0)
	if err != nil {
		req.outcome, req.err = failed, fmt.Errorf("history: %w", err)
		return false
	}
	d, err := s.st.GetDeployment(ctx, dep)
	if err != nil {
		req.outcome, req.err = failed, err
		return false
	}
	// What to do, from what the history says now: a rollback to a DEPLOYED
	// revision on another image than the current one, or a deploy of the
	// image the deployment is not on.
	var cur domain.Revision
	var targets []domain.Revision
	for _, r := range hist {
		if r.Number == d.CurrentRevision {
			cur = r
		}
	}
	for _, r := range hist {
		if r.Status == domain.StatusDeployed && cur.Number != 0 && r.ImageDigest != cur.ImageDigest {
			targets = append(targets, r)
		}
	}
	var run client.WorkflowRun
	start := time.Now()
	if len(targets) > 0 && rng.IntN(100) < s.p.rollbackPct {
		target := targets[rng.IntN(len(targets))]
		req.kind, req.rollbackOf = "rollback", target.Number
		run, err = (&action.Rollback{Config: s.cfg, Store: s.st, Temporal: s.tc, Input: workflows.RollbackInput{
			DeploymentID: dep, Revision: target.Number, RequestedBy: "soak", Scope: "all",
			Description: fmt.Sprintf("soak: back to %d", target.Number)}}).Run(ctx)
	} else {
		img := s.images[rng.IntN(2)]
		if cur.ImageRef == s.images[0] {
			img = s.images[1]
		} else if cur.ImageRef == s.images[1] {
			img = s.images[0]
		}
		// After a rollback the other image is what the rollback moved away
		// from: half of such deploys override the guard, as an operator
		// who fixed it would, and the other half meet it.
		in := workflows.DeployInput{DeploymentID: dep, ImageRef: img, RequestedBy: "soak", Type: domain.DeployImageAndDAG, Description: "soak deploy"}
		if cur.RollbackOf > 0 && rng.IntN(2) == 0 {
			in.Force, in.Description = true, fmt.Sprintf("soak deploy past rollback %d: fixed", cur.Number)
		}
		run, err = (&action.Deploy{Config: s.cfg, Store: s.st, Temporal: s.tc, Input: in}).Run(ctx)
	}
	var cip *action.ChangeInProgressError
	switch {
	case errors.As(err, &cip):
		req.outcome, req.holder, req.err = refusedStart, cip.WorkflowID, err
		return false
	case err != nil:
		req.outcome, req.err = failed, fmt.Errorf("start: %w", err)
		return false
	}
	s.quota[dep].Add(-1)
	s.pending.Add(1)
	defer s.pending.Add(-1)
	var rev *domain.Revision
	if req.kind == "rollback" {
		var res workflows.RollbackResult
		err = run.Get(ctx, &res)
		rev = res.Revision
	} else {
		var res workflows.DeployResult
		err = run.Get(ctx, &res)
		rev = &res.Revision
	}
	req.took = time.Since(start)
	var ae *temporal.ApplicationError
	switch {
	case errors.As(err, &ae) && ae.Type() == string(domain.RolledBack) && req.kind == "deploy":
		req.outcome, req.err = refusedGuard, err
		s.quota[dep].Add(1) // it made no change
	case errors.As(err, &ae) && ae.Type() == string(domain.ChangeInProgress):
		req.outcome, req.err = refusedRun, err
		var wid, rid string
		if ae.HasDetails() && ae.Details(&wid, &rid) == nil {
			req.holder = wid
		}
		s.quota[dep].Add(1)
	case err != nil:
		req.outcome, req.err = failed, fmt.Errorf("%s %s: %w", req.kind, run.GetRunID(), err)
	case rev == nil || rev.Status != domain.StatusDeployed:
		req.outcome, req.err = failed, fmt.Errorf("%s %s ended without a DEPLOYED revision: %+v", req.kind, run.GetRunID(), rev)
	default:
		req.outcome, req.revision, req.digest = deployed, rev.Number, rev.ImageDigest
	}
	return true
}

// check asserts the end state: no change still running, every history
// gap-free with nothing INITIALIZED, current = newest DEPLOYED, each
// rollback a copy of its target (R3), the containers on the current
// revision's digest, and every refusal a ChangeInProgress naming the
// deployment's change workflow.
func (s *soak) check(boundHit bool) {
	t := s.t
	ctx := context.Background()
	if n := s.pending.Load(); n > 0 {
		t.Errorf("%d started changes did not end within the bound and the drain period", n)
	}
	byDep := map[string][]request{}
	pairStarted := map[int]int{}
	for _, r := range s.log {
		if r.pair > 0 && (r.outcome == deployed || r.outcome == refusedRun) {
			// Two requests released together on one deployment: Temporal
			// must have refused one of them at the start (R14).
			if pairStarted[r.pair]++; pairStarted[r.pair] == 2 {
				t.Errorf("racing pair %d on %s: both requests started a change", r.pair, r.deployment)
			}
		}
		byDep[r.deployment] = append(byDep[r.deployment], r)
		switch r.outcome {
		case refusedStart, refusedRun:
			if r.holder != workflows.ChangeWorkflowID(r.deployment) {
				t.Errorf("%s on %s refused naming %q, want %q: %v", r.kind, r.deployment, r.holder, workflows.ChangeWorkflowID(r.deployment), r.err)
			}
			if action.ErrorType(r.err) != string(domain.ChangeInProgress) {
				t.Errorf("%s on %s: refusal of type %q: %v", r.kind, r.deployment, action.ErrorType(r.err), r.err)
			}
		case failed:
			t.Errorf("%s on %s: %v", r.kind, r.deployment, r.err)
		}
	}

	containers := dockerContainers(t)
	for _, dep := range s.ids {
		desc, err := s.tc.DescribeWorkflowExecution(ctx, workflows.ChangeWorkflowID(dep), "")
		if err == nil && desc.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Errorf("%s: change %s still running", dep, desc.WorkflowExecutionInfo.Execution.RunId)
		}
		hist, err := s.st.ListRevisions(ctx, dep, action.MaxHistoryLimit, 0)
		if err != nil {
			t.Fatal(err)
		}
		d, err := s.st.GetDeployment(ctx, dep)
		if err != nil {
			t.Fatal(err)
		}
		byNumber := map[int]domain.Revision{}
		newestDeployed := 0
		for i, r := range hist {
			if want := len(hist) - i; r.Number != want {
				t.Errorf("%s: history has a gap: position %d is revision %d, want %d", dep, i, r.Number, want)
			}
			if r.Status == domain.StatusInitialized {
				t.Errorf("%s: revision %d is still INITIALIZED (stuck)", dep, r.Number)
			}
			if r.Status == domain.StatusDeployed && newestDeployed == 0 {
				newestDeployed = r.Number
			}
			byNumber[r.Number] = r
		}
		if d.CurrentRevision != newestDeployed {
			t.Errorf("%s: current revision %d, newest DEPLOYED %d", dep, d.CurrentRevision, newestDeployed)
		}
		for _, r := range hist {
			if r.RollbackOf == 0 {
				continue
			}
			tg := byNumber[r.RollbackOf]
			if r.ImageDigest != tg.ImageDigest || r.ImageRef != tg.ImageRef || r.DagBundleVersion != tg.DagBundleVersion {
				t.Errorf("%s: rollback revision %d is not a copy of its target %d (R3): %s/%s vs %s/%s", dep, r.Number, r.RollbackOf,
					r.ImageRef, r.ImageDigest, tg.ImageRef, tg.ImageDigest)
			}
		}
		// Every DEPLOYED change the clients saw is in the history as they
		// saw it, and the history holds nothing they did not start.
		seen := map[int]bool{}
		for _, r := range byDep[dep] {
			if r.outcome != deployed {
				continue
			}
			h, ok := byNumber[r.revision]
			if seen[r.revision] || !ok || h.Status != domain.StatusDeployed || h.ImageDigest != r.digest || h.RollbackOf != r.rollbackOf {
				t.Errorf("%s: client's %s revision %d (digest %s) is not in the history as such (dup %v): %+v", dep, r.kind, r.revision, r.digest, seen[r.revision], h)
			}
			seen[r.revision] = true
		}
		if len(seen) != len(hist) {
			t.Errorf("%s: %d revisions in the history, %d DEPLOYED changes seen by the clients", dep, len(hist), len(seen))
		}
		// Clients may overshoot a deployment's quota by a change or two
		// (two of them saw it had one left), never fall short of it.
		if !boundHit && len(seen) < s.p.changes {
			t.Errorf("%s: %d changes made, want at least %d", dep, len(seen), s.p.changes)
		}
		// The containers: exactly the scheduler, running the current
		// revision's digest.
		cs := containers[dep]
		if d.CurrentRevision == 0 {
			if len(cs) != 0 {
				t.Errorf("%s: no revision yet but containers %v", dep, cs)
			}
			continue
		}
		want := byNumber[d.CurrentRevision].ImageDigest
		name := "rewind-" + dep + "-scheduler"
		if len(cs) != 1 || cs[0].name != name || cs[0].state != "running" || !strings.Contains(cs[0].image, want) {
			t.Errorf("%s: want one running %s on %s, have %+v", dep, name, want, cs)
		}
	}
}

type ctr struct{ name, image, state string }

// dockerContainers lists every rewind container by deployment, with its
// configured image (.Config.Image, which names the digest rewind pulled).
func dockerContainers(t *testing.T) map[string][]ctr {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=rewind.deployment").Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	res := map[string][]ctr{}
	ids := strings.Fields(string(out))
	for len(ids) > 0 {
		batch := ids[:min(len(ids), 100)]
		ids = ids[len(batch):]
		// Other packages' tests share the Engine and may remove their
		// containers between the listing and this: docker inspect then
		// exits 1 but still prints the ones it found, which are all the
		// soak's own deployments need.
		raw, err := exec.Command("docker", append([]string{"inspect"}, batch...)...).Output()
		if err != nil && len(bytes.TrimSpace(raw)) == 0 {
			t.Fatalf("docker inspect: %v", err)
		}
		var list []struct {
			Name   string
			Config struct {
				Image  string
				Labels map[string]string
			}
			State struct{ Status string }
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			dep := c.Config.Labels["rewind.deployment"]
			res[dep] = append(res[dep], ctr{name: strings.TrimPrefix(c.Name, "/"), image: c.Config.Image, state: c.State.Status})
		}
	}
	return res
}
