package faults

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/clitest"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// full is `make faults`: every step boundary and longer outages. Without it
// (`make test`) a short form runs one kill per kind of step and short outages.
var full = os.Getenv("REWIND_FAULTS_SUITE") == "full"

// only runs some groups (kill, lifecycle, restore, registry, bundle, postgres, bake, dockerd), e.g.
// REWIND_FAULTS_ONLY=postgres while working on one; empty runs all.
func only(group string) bool {
	o := os.Getenv("REWIND_FAULTS_ONLY")
	return o == "" || strings.Contains(","+o+",", ","+group+",")
}

// row is one line of the printed table.
type row struct {
	fault                             string
	runs, converged, lost, duplicated int
}

type suite struct {
	t    *testing.T
	s    *itest.Server
	bin  string
	dep  string
	w    *itest.WorkerProcess
	rows []row
	db   *pgx.Conn // the deployment's metadata database
}

func (su *suite) startWorker(faults string) *itest.WorkerProcess {
	return itest.StartWorkerProcess(su.t, su.bin, faults)
}

var (
	rewind  = clitest.Must
	history = clitest.History
)

func dagDir(t *testing.T, version string) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "VERSION"), []byte(version+"\n"), 0o644)
	return dir
}

// waitStarted waits until an attempt of the activity is running: listed
// as a pending activity, or, for a store step a rollback runs as a local
// activity (issue 31), paused by its fault, as the worker logs.
func (su *suite) waitStarted(workflowID, activity string) {
	t := su.t
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if su.w.Logged("fault injected: pausing", `"faultActivity":"`+activity+`"`, `"localActivity":true`) {
			return
		}
		desc, err := su.s.Client.DescribeWorkflowExecution(context.Background(), workflowID, "")
		if err != nil {
			continue
		}
		for _, pa := range desc.GetPendingActivities() {
			if pa.GetActivityType().GetName() == activity && pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				return
			}
		}
	}
	t.Fatalf("%s of %s never started", activity, workflowID)
}

func (su *suite) wait(workflowID, runID string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return su.s.Client.GetWorkflow(ctx, workflowID, runID).Get(ctx, out)
}

// check verifies the end state of one change: exactly one new DEPLOYED
// revision, every component on its image, `current` on its bundle, no
// leftover or duplicate containers, every log event exported once.
func (su *suite) check(before int, workflowID string) (lost, duplicated int) {
	t := su.t
	revs := history(t, su.dep)
	switch {
	case len(revs) < before+1:
		t.Errorf("%s: no new revision (have %d, had %d)", workflowID, len(revs), before)
		return 1, 0
	case len(revs) > before+1:
		t.Errorf("%s: %d new revisions", workflowID, len(revs)-before)
		duplicated++
	}
	top := revs[0]
	if top.Status != domain.StatusDeployed {
		t.Errorf("%s: revision %d is %s: %s", workflowID, top.Number, top.Status, top.FailureReason)
		lost++
	}
	out, _ := exec.Command("docker", "ps", "-a", "--filter", "label=rewind.deployment="+su.dep, "--format", "{{.Names}}").Output()
	count := map[string]int{}
	for _, name := range strings.Fields(string(out)) {
		if strings.HasSuffix(name, "-next") {
			t.Errorf("%s: leftover replacement %s", workflowID, name)
			duplicated++
		}
		count[name]++
	}
	for _, comp := range []string{"scheduler", "worker"} {
		name := "rewind-" + su.dep + "-" + comp
		img, _ := exec.Command("docker", "inspect", "--format", "{{.State.Status}} {{.Config.Image}}", name).Output()
		if count[name] != 1 || !strings.HasPrefix(string(img), "running") || !strings.Contains(string(img), top.ImageDigest) {
			t.Errorf("%s: %s ×%d: %s (want %s)", workflowID, name, count[name], img, top.ImageDigest)
			lost++
		}
	}
	cfg := itest.Config(t)
	if cur, err := bundle.Current(cfg.BundleRoot, su.dep); err != nil || cur != top.DagBundleVersion {
		t.Errorf("%s: current is %q, want %q (%v)", workflowID, cur, top.DagBundleVersion, err)
		lost++
	}
	var n int
	if err := su.wait(workflows.ExportWorkflowID(top.WorkflowID, top.RunID), "", &n); err != nil {
		t.Errorf("%s: export: %v", workflowID, err)
		return lost + 1, duplicated
	}
	file, _ := eslog.NewFile(eslog.DefaultLogDir(cfg.DataDir), "")
	f, err := os.Open(file.Path(top.WorkflowID, top.RunID))
	if err != nil {
		t.Errorf("%s: events: %v", workflowID, err)
		return lost + 1, duplicated
	}
	defer f.Close()
	ids := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; sc.Scan(); i++ {
		if i%2 == 0 {
			ids[sc.Text()]++
		}
	}
	if len(ids) < n {
		t.Errorf("%s: %d of %d events exported", workflowID, len(ids), n)
		lost += n - len(ids)
	}
	for _, c := range ids {
		duplicated += c - 1
	}
	return lost, duplicated
}

// migrateRuns lists the stand-in's `airflow db migrate` runs, by target.
func (su *suite) migrateRuns() []string {
	rs, err := su.db.Query(context.Background(), `SELECT to_version FROM rewind_test_migrate_runs ORDER BY id`)
	if err != nil {
		return nil
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var v string
		if rs.Scan(&v) == nil {
			out = append(out, v)
		}
	}
	return out
}

func (su *suite) record(fault string, lost, dup int) {
	for i := range su.rows {
		if su.rows[i].fault == fault {
			r := &su.rows[i]
			r.runs++
			if lost == 0 && dup == 0 {
				r.converged++
			}
			r.lost += lost
			r.duplicated += dup
			return
		}
	}
	r := row{fault: fault, runs: 1, lost: lost, duplicated: dup}
	if lost == 0 && dup == 0 {
		r.converged = 1
	}
	su.rows = append(su.rows, r)
}

var tag = map[bool]string{true: "9.1.0", false: "8.0.0"}

// deploy starts a deploy of the next image and DAGs with the CLI. The suite
// alternates two images, so after one of its rollbacks a deploy brings
// back what that rollback moved away from: it overrides the rollback's
// guard on purpose (the guard has its own tests).
func (su *suite) deploy(i int, wait bool) {
	args := []string{"deploy", su.dep, "--image", itest.Image(su.t, tag[i%2 == 0]), "--dags", dagDir(su.t, fmt.Sprint("v", i)), "--as", "alice",
		"--force", "--description", "fault suite: alternate images"}
	if wait {
		args = append(args, "--wait")
	}
	rewind(su.t, args...)
}

// killDuring runs one change with the worker paused at the activity, kills
// it there, and lets a fresh worker finish.
func (su *suite) killDuring(kind, activity, moment string, i int, target int) {
	t := su.t
	su.w.Kill()
	su.w = su.startWorker(fmt.Sprintf("%s=%s:4s", activity, moment))
	before := len(history(t, su.dep))
	id := workflows.ChangeWorkflowID(su.dep)
	var run client.WorkflowRun
	if kind == "deploy" {
		su.deploy(i, false)
	} else {
		var err error
		run, err = action.StartChange(context.Background(), itest.Config(t), su.s.Client, su.dep, workflows.RollbackWorkflowName, workflows.KindRollback, "alice", "fault test",
			workflows.RollbackInput{DeploymentID: su.dep, Revision: target, Description: "fault: " + activity, RequestedBy: "alice", Scope: "all"})
		if err != nil {
			t.Fatal(err)
		}
		_ = run
	}
	waitID := id
	if activity == "ExportEvents" {
		if err := su.wait(id, "", nil); err != nil {
			t.Fatal(err)
		}
		top := history(t, su.dep)[0]
		waitID = workflows.ExportWorkflowID(top.WorkflowID, top.RunID)
	}
	su.waitStarted(waitID, activity)
	time.Sleep(1500 * time.Millisecond)
	su.w.Kill()
	su.w = su.startWorker("")
	if err := su.wait(id, "", nil); err != nil {
		t.Errorf("%s killed %s %s: %v", kind, moment, activity, err)
	}
	lost, dup := su.check(before, fmt.Sprintf("%s/%s/%s", kind, activity, moment))
	su.record(fmt.Sprintf("SIGKILL %s %s %s", moment, activity, kind), lost, dup)
}

// outageLength is a short outage in `make test`, a long one in `make faults`.
func outageLength(short, long time.Duration) time.Duration {
	if full {
		return long
	}
	return short
}

// converge waits for the change to end after a fault and records how it
// ended in the table.
func (su *suite) converge(workflowID string, before int, fault string) {
	if err := su.wait(workflowID, "", nil); err != nil {
		su.t.Errorf("%s: %v", fault, err)
	}
	lost, dup := su.check(before, fault)
	su.record(fault, lost, dup)
}

func (su *suite) print() {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-52s %5s %10s %5s %11s\n", "fault", "runs", "converged", "lost", "duplicated")
	for _, r := range su.rows {
		fmt.Fprintf(&b, "%-52s %5d %10d %5d %11d\n", r.fault, r.runs, r.converged, r.lost, r.duplicated)
	}
	fmt.Print(b.String())
	if path := os.Getenv("REWIND_FAULTS_TABLE"); path != "" {
		os.WriteFile(path, []byte(b.String()), 0o644)
	}
}

func TestFaults(t *testing.T) {
	s := itest.StartServer(t)
	t.Setenv("REWIND_DRAIN_TIMEOUT", "30s")
	// The deployment names its metadata database, so every downgrading
	// rollback snapshots it first (R16); its components reach the test
	// PostgreSQL on 127.0.0.1.
	t.Setenv("REWIND_DOCKER_NETWORK", "host")
	conn, db := itest.MetadataDatabase(t)
	su := &suite{t: t, s: s, db: db}
	su.bin = itest.BuildWorker(t, "../..")
	su.dep = itest.UniqueID("faults")
	itest.RemoveContainers(t, su.dep)
	rewind(t, "deployment", "create", su.dep, "--dag-source", "bundle", "--dag-deploy", "--rollback-enabled", "--env", "REWIND_TEST_TASK_SECONDS=1",
		"--env", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="+conn,
		"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
	rewind(t, "grant", "alice", "--deployment", su.dep, "--role", "editor")
	su.w = su.startWorker("")
	su.deploy(1, true) // r1: 8.0.0, the rollback target (a downgrade from 9.1.0)
	defer su.print()

	deploySteps := []string{"ValidateDeploy", "RecordRevision", "PullImage", "UnpackBundle", "Preflight", "SwapBundle", "SwapComponents", "Verify", "FinishRevision", "ExportEvents"}
	rollbackSteps := []string{"ValidateRollback", "RecordRevision", "PullImage", "UnpackBundle", "Preflight", "SnapshotMetadata", "StopComponents",
		"MetadataDowngrade", "SwapBundle", "SwapComponents", "Verify", "FinishRevision", "ExportEvents"}
	moments := []string{"before", "after"}
	if !full {
		deploySteps, rollbackSteps, moments = []string{"PullImage"}, []string{"SwapComponents", "MetadataDowngrade"}, []string{"after"}
	}
	i := 2
	if !only("kill") {
		deploySteps, rollbackSteps = nil, nil
	}
	for _, step := range deploySteps {
		for _, m := range moments {
			su.killDuring("deploy", step, m, i, 0)
			i++
		}
	}
	for _, step := range rollbackSteps {
		for _, m := range moments {
			if tag[i%2 == 0] != "9.1.0" { // a rollback to r1 must be a downgrade
				i++
			}
			su.deploy(i, true)
			i++
			su.killDuring("rollback", step, m, i, 1)
		}
	}
	// R21: SIGKILL before and after the migration of an Airflow upgrade
	// (8.0.0's 2.9.3 → 9.1.0's 3.0.2); the migration runs once each time.
	for _, m := range []string{"before", "after"} {
		if !only("kill") {
			break
		}
		if i%2 == 0 {
			i++
		}
		su.deploy(i, true) // 8.0.0
		i++
		runs := len(su.migrateRuns())
		su.killDuring("deploy", "MetadataMigrate", m, i, 0) // 9.1.0: an upgrade
		if got := su.migrateRuns(); len(got) != runs+1 || got[len(got)-1] != "3.0.2" {
			t.Errorf("SIGKILL %s MetadataMigrate: the migration must run exactly once: %v (had %d)", m, got, runs)
		}
		i++
	}
	if only("lifecycle") {
		su.lifecycle()
	}
	if only("restore") {
		su.killDuringRestore(i)
	}
	i += 2
	if only("registry") {
		su.registryDown(i)
	}
	i++
	if only("bundle") {
		su.bundleRootReadOnly(i)
	}
	i++
	if only("postgres") {
		su.postgresDown(i)
	}
	i += 2
	// The bake's crash loop is also TestAutomaticRollbackOfACrashLoopingScheduler
	// in make test: here in make faults only.
	if full && only("bake") {
		su.bakeFaults() // issue 27: its own deployment, with automatic rollback
	}
	// Only in `make faults`: it runs a second Docker daemon on this machine.
	if full && only("dockerd") {
		su.dockerRestart(i)
	}
}

// dockerRestart runs a deployment on a private Docker daemon and restarts
// that daemon while a deploy pulls: the pull retries, the daemon brings the
// containers back, and the deploy converges.
func (su *suite) dockerRestart(i int) {
	t := su.t
	base, err := os.MkdirTemp("", "rewind-faults-dockerd")
	if err != nil {
		t.Fatal(err)
	}
	d := func(verb string) string {
		out, err := exec.Command("../../scripts/dockerd.sh", verb, base).CombinedOutput()
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(base, "dockerd.log"))
			t.Fatalf("dockerd %s: %v\n%s\n%s", verb, err, out, tail(string(log), 2000))
		}
		return strings.TrimSpace(string(out))
	}
	host := d("start")
	t.Cleanup(func() { d("destroy"); os.RemoveAll(base) })
	t.Setenv("DOCKER_HOST", host)
	sqliteDep := su.dep
	defer func() { su.dep = sqliteDep }()
	su.dep = itest.UniqueID("faults-dockerd")
	itest.RemoveContainers(t, su.dep) // runs before the daemon is destroyed
	rewind(t, "deployment", "create", su.dep, "--dag-source", "bundle", "--dag-deploy", "--env", "REWIND_TEST_TASK_SECONDS=1",
		"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
	rewind(t, "grant", "alice", "--deployment", su.dep, "--role", "editor")
	su.w.Kill()
	su.w = su.startWorker("PullImage=before:2s")
	su.deploy(i, true)
	before := len(history(t, su.dep))
	su.deploy(i+1, false)
	id := workflows.ChangeWorkflowID(su.dep)
	su.waitStarted(id, "PullImage")
	d("stop")
	outage := outageLength(5*time.Second, 30*time.Second)
	time.Sleep(outage)
	d("start")
	su.converge(id, before, fmt.Sprintf("Docker daemon stopped during the pull (%s)", outage))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// postgresDown runs a worker on PostgreSQL, stops the database while a
// deploy records its revision, and starts it again: the store activities
// retry and the deploy converges.
func (su *suite) postgresDown(i int) {
	t := su.t
	// PostgreSQL runs as the postgres user, which must be able to enter it.
	base, err := os.MkdirTemp("", "rewind-faults-pg")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(base, 0o755)
	t.Cleanup(func() { os.RemoveAll(base) })
	dir := filepath.Join(base, "pg")
	pg := func(args ...string) string {
		out, err := exec.Command("../../scripts/postgres.sh", args...).Output()
		if err != nil {
			t.Fatalf("postgres %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	port := fmt.Sprint(freePort(t))
	url := pg("start", dir, port)
	t.Cleanup(func() { pg("stop", dir) })
	t.Setenv("REWIND_DATABASE_URL", url)
	sqliteDep := su.dep
	defer func() { su.dep = sqliteDep }()
	su.dep = itest.UniqueID("faults-pg")
	itest.RemoveContainers(t, su.dep)
	rewind(t, "deployment", "create", su.dep, "--dag-source", "bundle", "--dag-deploy", "--env", "REWIND_TEST_TASK_SECONDS=1",
		"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
	rewind(t, "grant", "alice", "--deployment", su.dep, "--role", "editor")
	su.w.Kill()
	su.w = su.startWorker("RecordRevision=before:2s")
	su.deploy(i, true)
	before := len(history(t, su.dep))
	su.deploy(i+1, false)
	id := workflows.ChangeWorkflowID(su.dep)
	su.waitStarted(id, "RecordRevision")
	pg("stop", dir)
	outage := outageLength(10*time.Second, 60*time.Second)
	time.Sleep(outage)
	pg("start", dir, port)
	su.converge(id, before, fmt.Sprintf("PostgreSQL stopped while recording (%s)", outage))
}

// registryDown stops the registry the image comes from during the pull and
// brings it back; the pull retries and the deploy converges.
func (su *suite) registryDown(i int) {
	t := su.t
	dir := t.TempDir()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	reg := func(verb string) {
		cmd := exec.Command("../../scripts/registry.sh", verb, dir)
		cmd.Env = append(os.Environ(), "REWIND_TEST_REGISTRY="+addr)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("registry %s: %v\n%s", verb, err, out)
		}
	}
	reg("start")
	t.Cleanup(func() { reg("stop") })
	ref := fmt.Sprintf("%s/faults/airflow:%d", addr, i)
	for _, args := range [][]string{{"tag", itest.Image(t, tag[i%2 == 0]), ref}, {"push", "-q", ref}, {"rmi", ref}} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
	}
	before := len(history(t, su.dep))
	reg("stop")
	rewind(t, "deploy", su.dep, "--image", ref, "--dags", dagDir(t, fmt.Sprint("v", i)), "--as", "alice")
	id := workflows.ChangeWorkflowID(su.dep)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		desc, err := su.s.Client.DescribeWorkflowExecution(context.Background(), id, "")
		if err == nil && len(desc.GetPendingActivities()) > 0 && desc.GetPendingActivities()[0].GetAttempt() >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pull was never retried")
		}
	}
	outage := outageLength(5*time.Second, 60*time.Second)
	time.Sleep(outage)
	reg("start")
	su.converge(id, before, fmt.Sprintf("registry stopped during the pull (%s)", outage))
}

// bundleRootReadOnly makes the deployment's bundle directory immutable
// (chattr +i: root ignores permission bits) while the swap is about to run,
// and writable again a little later; the swap retries and converges.
func (su *suite) bundleRootReadOnly(i int) {
	t := su.t
	su.w.Kill()
	su.w = su.startWorker("SwapBundle=before:2s")
	dir := filepath.Join(itest.Config(t).BundleRoot, su.dep)
	before := len(history(t, su.dep))
	su.deploy(i, false)
	id := workflows.ChangeWorkflowID(su.dep)
	su.waitStarted(id, "SwapBundle")
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Fatalf("chattr: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		desc, _ := su.s.Client.DescribeWorkflowExecution(context.Background(), id, "")
		if desc != nil && len(desc.GetPendingActivities()) > 0 && desc.GetPendingActivities()[0].GetAttempt() >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the swap was never retried")
		}
	}
	exec.Command("chattr", "-i", dir).Run()
	su.converge(id, before, "bundle root read-only during the swap")
}

func freePort(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])").Output()
	if err != nil {
		t.Fatal(err)
	}
	var p int
	fmt.Sscan(string(out), &p)
	return p
}
