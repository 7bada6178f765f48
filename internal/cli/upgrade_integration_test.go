package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/metadb"
	"github.com/rewindhq/rewind/internal/runtime"
)

// Issue 25: the stand-in keeps a schema version in its metadata database
// (the test PostgreSQL), and its components refuse to start on a schema
// that is not their own, as `airflow db check-migrations` does. These tests
// run deploys and rollbacks of images labelled the way real images are.

// upgradeStack is a dev server and an in-process worker whose components
// reach the test PostgreSQL on 127.0.0.1.
func upgradeStack(t *testing.T) {
	t.Helper()
	startServer(t)
	t.Setenv("REWIND_DOCKER_NETWORK", "host")
	t.Setenv("REWIND_HEALTH_TIMEOUT", "40s")
	itest.StartWorker(t)
}

// metadataDeployment creates a deployment whose Airflow components use a
// metadata database of its own, and grants alice the editor role.
func metadataDeployment(t *testing.T, prefix string, env ...string) (string, *pgx.Conn) {
	t.Helper()
	conn, db := itest.MetadataDatabase(t)
	dep := itest.UniqueID(prefix)
	itest.RemoveContainers(t, dep)
	args := []string{"deployment", "create", dep, "--rollback-enabled", "--env", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=" + conn,
		"--env", "REWIND_TEST_TASK_SECONDS=30", "--env", "REWIND_TEST_MIGRATION_WAIT=10",
		"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker"}
	for _, e := range env {
		args = append(args, "--env", e)
	}
	mustRewind(t, args...)
	mustRewind(t, "grant", "alice", "--deployment", dep, "--role", "editor")
	return dep, db
}

func schemaOf(t *testing.T, db *pgx.Conn) string {
	t.Helper()
	return strings.Join(rows(t, db, `SELECT version_num FROM alembic_version`), ",")
}

// firstEvent is when the first event of a status on a container whose name
// holds part happened; 0 when none did.
func firstEvent(evs []itest.DockerEvent, status, part string) int64 {
	for _, e := range evs {
		if e.Status == status && strings.Contains(e.Name(), part) {
			return e.TimeNano
		}
	}
	return 0
}

// R20, R21, R7, R11: official images (org.apache.airflow.version only).
// Airflow 2.9.3 → 3.0.2 migrates once, before the 3.0.2 scheduler starts,
// and history says where the versions came from; the rollback back to
// 2.9.3 is allowed by the Airflow floor and is a downgrade: workers killed,
// `db downgrade` run, the plan says so.
func TestOfficialImagesUpgradeMigratesOnceAndRollBackAsADowngrade(t *testing.T) {
	upgradeStack(t)
	dep, db := metadataDeployment(t, "up")
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "official-2.9.3"), "--as", "alice", "--wait")
	if s := schemaOf(t, db); s != "2.9.3" {
		t.Fatalf("a first deploy migrates the empty database to its version: %q", s)
	}
	events := itest.RecordEvents(t, dep)
	out := mustRewind(t, "deploy", dep, "--image", itest.Image(t, "official-3.0.2"), "--as", "alice", "--wait")
	if !strings.Contains(out, "metadata migrate") {
		t.Fatalf("--wait shows the migration:\n%s", out)
	}
	if runs := rows(t, db, `SELECT from_version || '→' || to_version FROM rewind_test_migrate_runs ORDER BY id`); strings.Join(runs, ",") != "→2.9.3,2.9.3→3.0.2" {
		t.Fatalf("the migration runs once per upgrade: %v", runs)
	}
	if s := schemaOf(t, db); s != "3.0.2" {
		t.Fatalf("schema after the upgrade: %q", s)
	}
	if st := status(t, "rewind-"+dep+"-scheduler"); st["airflow"] != "3.0.2" {
		t.Fatalf("the new scheduler must run: %v", st)
	}
	evs := events()
	migrated, created := firstEvent(evs, "die", "oneoff-db-migrate"), firstEvent(evs, "create", dep+"-scheduler-next")
	if migrated == 0 || created == 0 || created < migrated {
		t.Fatalf("the 3.0.2 scheduler must be created after the migration ended (migrate died %d, scheduler created %d)", migrated, created)
	}
	if stopped := firstEvent(evs, "die", "rewind-"+dep+"-scheduler"); stopped != 0 && stopped < migrated {
		t.Fatal("the older scheduler keeps running during the migration (Helm chart style)")
	}
	top := historyJSON(t, dep)[0]
	if top.Status != domain.StatusDeployed || top.AirflowVersion != "3.0.2" || top.RuntimeVersion != "" ||
		top.AirflowVersionSource != runtime.LabelSource(runtime.OfficialAirflowLabel) {
		t.Fatalf("history must record the version and its source: %+v", top)
	}

	plan := mustRewind(t, "rollback", dep, "--to", "1", "--description", "3.0.2 broke the ETL", "--as", "alice", "--dry-run")
	for _, want := range []string{"This is a downgrade", "workers killed: rewind-" + dep + "-worker", "Point of no return: none", "label org.apache.airflow.version"} {
		if !strings.Contains(plan, want) {
			t.Fatalf("the plan must say %q:\n%s", want, plan)
		}
	}
	events = itest.RecordEvents(t, dep)
	mustRewind(t, "rollback", dep, "--to", "1", "--description", "3.0.2 broke the ETL", "--as", "alice", "--yes", "--wait")
	evs = events()
	if n := itest.CountEvents(evs, "start", "oneoff-db-downgrade"); n != 1 {
		t.Fatalf("the metadata downgrade runs once: %d", n)
	}
	if exit := workerExit(evs, dep); exit != "137" {
		t.Fatalf("the 3.0.2 worker must be killed, not drained: exit %q", exit)
	}
	if runs := rows(t, db, `SELECT to_version FROM rewind_test_downgrade_runs`); strings.Join(runs, ",") != "2.9.3" {
		t.Fatalf("db downgrade runs once, to 2.9.3: %v", runs)
	}
	if s := schemaOf(t, db); s != "2.9.3" {
		t.Fatalf("schema after the rollback: %q", s)
	}
	if st := status(t, "rewind-"+dep+"-scheduler"); st["airflow"] != "2.9.3" {
		t.Fatalf("after the rollback: %v", st)
	}
	if top := historyJSON(t, dep)[0]; top.Number != 3 || top.Status != domain.StatusDeployed || top.RollbackOf != 1 || top.MetadataSnapshot == "" {
		t.Fatalf("rollback revision: %+v", top)
	}
}

// workerExit is the exit code the active worker's container died with.
func workerExit(evs []itest.DockerEvent, dep string) string {
	for _, e := range evs {
		if e.Status == "die" && e.Name() == "rewind-"+dep+"-worker" {
			return e.Actor.Attributes["exitCode"]
		}
	}
	return ""
}

// R21, R16: a migration that fails half-way leaves the older version
// running on its restored snapshot, and the revision FAILED with why.
func TestFailedMigrationLeavesTheOlderVersionOnItsRestoredSnapshot(t *testing.T) {
	upgradeStack(t)
	dep, db := metadataDeployment(t, "mf")
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "official-2.9.3"), "--as", "alice", "--wait")
	r := rewind("deploy", dep, "--image", itest.Image(t, "official-3.0.2-failmigrate"), "--as", "alice", "--wait")
	if r.code != ExitRefused || !strings.Contains(r.stderr, "MigrationFailed") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	top := historyJSON(t, dep)[0]
	if top.Number != 2 || top.Status != domain.StatusFailed || !strings.Contains(top.FailureReason, "MigrationFailed") ||
		!strings.Contains(top.FailureReason, "metadata restored from snapshot "+dep+"/r2.dump") {
		t.Fatalf("revision: %+v", top)
	}
	if s := schemaOf(t, db); s != "2.9.3" {
		t.Fatalf("the half-migrated schema must be restored: %q", s)
	}
	if st := status(t, "rewind-"+dep+"-scheduler"); st["airflow"] != "2.9.3" {
		t.Fatalf("the older version must run: %v", st)
	}
	if st, _ := stateOf("rewind-" + dep + "-worker"); st != "running" {
		t.Fatalf("the older worker must run: %s", st)
	}
	if d := deploymentJSON(t, dep); d.CurrentRevision != 1 {
		t.Fatalf("current revision: %d", d.CurrentRevision)
	}
}

// R20 with images that carry no label at all: their own `airflow version`
// says which Airflow they are, recorded as the source; the rollback from
// 3.0.2 to 2.9.3 is a downgrade. An image whose version cannot be read is
// refused before anything changes, unless the requester allows it.
func TestUnlabelledImagesAreVersionedByAirflowVersion(t *testing.T) {
	upgradeStack(t)
	dep, db := metadataDeployment(t, "pl")
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "plain-2.9.3"), "--as", "alice", "--wait")
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "plain-3.0.2"), "--as", "alice", "--wait")
	top := historyJSON(t, dep)[0]
	if top.AirflowVersion != "3.0.2" || top.AirflowVersionSource != runtime.SourceAirflowVersionCommand || top.RuntimeVersion != "" {
		t.Fatalf("history: %+v", top)
	}
	if s := schemaOf(t, db); s != "3.0.2" {
		t.Fatalf("schema: %q", s)
	}
	plan := mustRewind(t, "rollback", dep, "--to", "1", "--description", "back", "--as", "alice", "--dry-run")
	if !strings.Contains(plan, "This is a downgrade") || !strings.Contains(plan, "Airflow from airflow version") {
		t.Fatalf("plan:\n%s", plan)
	}
	mustRewind(t, "rollback", dep, "--to", "1", "--description", "back", "--as", "alice", "--yes", "--wait")
	if runs := rows(t, db, `SELECT to_version FROM rewind_test_downgrade_runs`); strings.Join(runs, ",") != "2.9.3" {
		t.Fatalf("db downgrade: %v", runs)
	}
	if st := status(t, "rewind-"+dep+"-scheduler"); st["airflow"] != "2.9.3" {
		t.Fatalf("after the rollback: %v", st)
	}

	// `airflow version` fails in this deployment's configuration: unknown.
	un, _ := metadataDeployment(t, "unk", "REWIND_TEST_FAIL_START=1")
	r := rewind("deploy", un, "--image", itest.Image(t, "plain-2.9.3"), "--as", "alice", "--wait")
	if r.code != ExitRefused || !strings.Contains(r.stderr, "InvalidInput") || !strings.Contains(r.stderr, "--allow-unknown-version") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if top := historyJSON(t, un)[0]; top.Status != domain.StatusFailed || top.AirflowVersion != "" {
		t.Fatalf("the refused deploy: %+v", top)
	}
	if ids := containerIDs(t, un); len(ids) != 0 {
		t.Fatalf("nothing may start: %v", ids)
	}
}

// R7 by the Airflow floor: an official image below Airflow 2.3.0 is not a
// rollback target.
func TestOfficialImageBelowTheAirflowFloorIsRefused(t *testing.T) {
	upgradeStack(t)
	dep, _ := metadataDeployment(t, "fl")
	seedDeployed(t, itest.Store(t, itest.Config(t)), dep, "official-2.2.5", "", "2.2.5")
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "official-2.9.3"), "--as", "alice", "--wait")
	r := rewind("rollback", dep, "--to", "1", "--description", "x", "--as", "alice", "--dry-run")
	if r.code != ExitRefused || !strings.Contains(r.stderr, "RuntimeTooOld") || !strings.Contains(r.stderr, "Airflow 2.2.5") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}

	// --metadata-snapshot=off: the upgrade migrates without a snapshot, and
	// the plan of the downgrade back shows its point of no return.
	mustRewind(t, "deployment", "update", dep, "--metadata-snapshot=off")
	out := mustRewind(t, "deploy", dep, "--image", itest.Image(t, "official-3.0.2"), "--as", "alice", "--wait")
	if !strings.Contains(out, "no metadata database named") {
		t.Fatalf("the upgrade must say it took no snapshot:\n%s", out)
	}
	if top := historyJSON(t, dep)[0]; top.Status != domain.StatusDeployed || top.MetadataSnapshot != "" {
		t.Fatalf("upgrade without a snapshot: %+v", top)
	}
	plan := mustRewind(t, "rollback", dep, "--to", "2", "--description", "x", "--as", "alice", "--dry-run")
	if !strings.Contains(plan, "Point of no return: the metadata downgrade") {
		t.Fatalf("the plan must show the point of no return:\n%s", plan)
	}
}

// R21: a worker SIGKILLed while the migration one-off runs. The migration
// is not stopped and runs once; the deploy converges on another worker.
func TestWorkerKilledDuringTheMigrationConverges(t *testing.T) {
	startServer(t)
	t.Setenv("REWIND_DOCKER_NETWORK", "host")
	bin := itest.BuildWorker(t, "../..")
	dep, db := metadataDeployment(t, "mk", "REWIND_TEST_MIGRATE_SECONDS=8")
	w := itest.StartWorkerProcess(t, bin, "")
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "official-2.9.3"), "--as", "alice", "--wait")
	events := itest.RecordEvents(t, dep)
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "official-3.0.2"), "--as", "alice")
	killDuringOneOff(t, w, bin, "rewind-"+dep+"-oneoff-db-migrate", "migration")
	top := waitRevision(t, dep, 2, 3*time.Minute)
	if top.Status != domain.StatusDeployed {
		t.Fatalf("the deploy must converge: %+v", top)
	}
	evs := events()
	if c, s := itest.CountEvents(evs, "create", "oneoff-db-migrate"), itest.CountEvents(evs, "start", "oneoff-db-migrate"); c != 1 || s != 1 {
		t.Fatalf("the migration must run exactly once: %d creates, %d starts", c, s)
	}
	if runs := rows(t, db, `SELECT to_version FROM rewind_test_migrate_runs ORDER BY id`); strings.Join(runs, ",") != "2.9.3,3.0.2" {
		t.Fatalf("migrations: %v", runs)
	}
	if st := status(t, "rewind-"+dep+"-scheduler"); st["airflow"] != "3.0.2" {
		t.Fatalf("after the deploy: %v", st)
	}
}

// R16 from the shipped worker: with REWIND_PG_CLIENT_IMAGE the snapshot
// and the restore run as one-off containers of the client image beside the
// scheduler, and the worker needs no PostgreSQL client of its own (this
// one finds none). A Runtime downgrade whose older image turns unhealthy
// is restored from the snapshot such a container took.
func TestDowngradeSnapshotFromAClientImageWithoutAClientOnTheWorker(t *testing.T) {
	client := itest.PgClientImage(t)
	t.Setenv("REWIND_PG_CLIENT_IMAGE", client)
	prefix := itest.UniqueID("rewind-snapshots")
	t.Setenv("REWIND_SNAPSHOT_VOLUME", prefix)
	saved := metadb.ToolDirs
	metadb.ToolDirs = func() []string { return nil }
	t.Cleanup(func() { metadb.ToolDirs = saved })
	startServer(t)
	t.Setenv("REWIND_DOCKER_NETWORK", "host")
	t.Setenv("REWIND_HEALTH_TIMEOUT", "20s")
	t.Setenv("REWIND_HEALTH_ATTEMPTS", "2")
	itest.StartWorker(t)
	cfg := itest.Config(t)
	dep, db := metadataDeployment(t, "pgc")
	seedDeployed(t, itest.Store(t, cfg), dep, "8.0.0-unhealthy", "8.0.0", "2.9.3")
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--as", "alice", "--wait")
	newer := rows(t, db, `SELECT note FROM feature_3_0_2 ORDER BY id`)
	events := itest.RecordEvents(t, dep)
	r := rewind("rollback", dep, "--to", "1", "--description", "back to 8.0.0", "--as", "alice", "--yes", "--wait")
	if r.code != ExitRefused || !strings.Contains(r.stderr, "Unhealthy") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	top := historyJSON(t, dep)[0]
	if top.Number != 3 || top.Status != domain.StatusFailed || !strings.Contains(top.FailureReason, "metadata restored from snapshot "+dep+"/r3.dump") {
		t.Fatalf("revision: %+v", top)
	}
	evs := events()
	if itest.CountEvents(evs, "start", "oneoff-pg-dump") != 1 || itest.CountEvents(evs, "start", "oneoff-pg-restore") != 1 {
		t.Fatalf("pg_dump and pg_restore must each run once in the client image: %+v", evs)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "snapshots", dep, "r3.dump")); err == nil {
		t.Fatal("the snapshot lives in the Engine's volume, not on the worker")
	}
	vol := runtime.SnapshotVolume(prefix, dep+"/r3.dump")
	t.Cleanup(func() {
		for _, r := range []string{"r2", "r3"} {
			exec.Command("docker", "volume", "rm", runtime.SnapshotVolume(prefix, dep+"/"+r+".dump")).Run()
		}
	})
	if out, err := exec.Command("docker", "volume", "inspect", "--format", "{{.Name}}", vol).CombinedOutput(); err != nil {
		t.Fatalf("the snapshot's volume %s: %v %s", vol, err, out)
	}
	restored := rows(t, db, `SELECT note FROM feature_3_0_2 ORDER BY id`)
	if len(restored) < len(newer) || schemaOf(t, db) != "3.0.2" {
		t.Fatalf("the restore must put the 3.0.2 schema and its rows back: %v (before %v), schema %q", restored, newer, schemaOf(t, db))
	}
	if st := status(t, "rewind-"+dep+"-scheduler"); st["runtime"] != "9.1.0" {
		t.Fatalf("the newer image must run again: %v", st)
	}
}
