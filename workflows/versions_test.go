package workflows_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/domain"
)

// R20: a deploy that lowers the Runtime version is a downgrade like a
// rollback's: every component stopped, snapshot, the metadata downgrade
// with the newer image, then the older image with its workers killed.
func TestDeployThatDowngradesRunsTheMetadataDowngrade(t *testing.T) {
	f := newFixture(t)
	f.docker.snapshot = true
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","type":"IMAGE_ONLY"}`); err != nil {
		t.Fatal(err)
	}
	f.docker.calls = nil
	res, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:8.0.0","requestedBy":"alice","type":"IMAGE_ONLY"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := "PullImage,Preflight,StopComponents,SnapshotMetadata,MetadataDowngrade with reg:5000/airflow@" + stubImage("reg:5000/airflow:9.1.0").Digest + ",SwapComponents,Verify"
	if got := strings.Join(f.docker.calls, ","); got != want {
		t.Fatalf("steps:\n got %s\nwant %s", got, want)
	}
	if last := f.docker.swaps[len(f.docker.swaps)-1]; !last.Downgrade || res.Report.Downgrade == nil {
		t.Fatalf("the swap must kill workers (R11): %+v", last)
	}
}

// R21: an Airflow upgrade snapshots, then migrates with the newer image
// before any of its components starts; the older ones keep running.
func TestDeployThatUpgradesAirflowMigratesFirst(t *testing.T) {
	f := newFixture(t)
	f.docker.snapshot = true
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:8.0.0","requestedBy":"alice","type":"IMAGE_ONLY"}`); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(f.docker.calls, ","), "MetadataMigrate") {
		t.Fatalf("a first deploy migrates (creates the schema): %v", f.docker.calls)
	}
	f.docker.calls = nil
	res, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.2.0-af3","requestedBy":"alice","type":"IMAGE_ONLY"}`)
	if err != nil {
		t.Fatal(err)
	}
	want := "PullImage,Preflight,SnapshotMetadata,MetadataMigrate with reg:5000/airflow@" + stubImage("reg:5000/airflow:9.2.0-af3").Digest + ",SwapComponents,Verify"
	if got := strings.Join(f.docker.calls, ","); got != want {
		t.Fatalf("steps:\n got %s\nwant %s", got, want)
	}
	if res.Report.Migrate == nil || res.Report.Snapshot == nil || f.docker.swaps[len(f.docker.swaps)-1].Downgrade {
		t.Fatalf("report: %+v", res.Report)
	}
	f.docker.calls = nil
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.3.0-af3","requestedBy":"alice","type":"IMAGE_ONLY"}`); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.docker.calls, ","); strings.Contains(got, "Migrate") || strings.Contains(got, "Snapshot") {
		t.Fatalf("the same Airflow version migrates nothing: %s", got)
	}
}

// R21, R16: a migration that fails for good restores the snapshot under
// stopped components and puts the older version back.
func TestFailedMigrationRestoresTheSnapshot(t *testing.T) {
	f := newFixture(t)
	f.docker.snapshot = true
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:8.0.0","requestedBy":"alice","type":"IMAGE_ONLY"}`); err != nil {
		t.Fatal(err)
	}
	f.docker.calls, f.docker.failAt = nil, "MetadataMigrate"
	_, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.2.0-af3","requestedBy":"alice","type":"IMAGE_ONLY"}`)
	if err == nil {
		t.Fatal("the deploy must fail")
	}
	got := strings.Join(f.docker.calls, ",")
	if !strings.Contains(got, "MetadataMigrate,StopComponents,RestoreMetadata,PullImage,SwapComponents") {
		t.Fatalf("compensation: %s", got)
	}
	r, _ := f.store.GetRevision(context.Background(), "d1", 2)
	if r.Status != domain.StatusFailed || !strings.Contains(r.FailureReason, "metadata restored from snapshot") || len(f.docker.restored) != 1 {
		t.Fatalf("revision: %s %q", r.Status, r.FailureReason)
	}
}

// R21 without a named metadata database: the older components ran on the
// migrating schema all along, so a failure after the migration puts them
// back as on any failed upgrade, and says the schema stays migrated.
func TestFailureAfterAMigrationWithoutSnapshotPutsTheOlderVersionBack(t *testing.T) {
	f := newFixture(t)
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:8.0.0","requestedBy":"alice","type":"IMAGE_ONLY"}`); err != nil {
		t.Fatal(err)
	}
	f.docker.failAt = "Verify"
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.2.0-af3","requestedBy":"alice","type":"IMAGE_ONLY"}`); err == nil {
		t.Fatal("the deploy must fail")
	}
	r, _ := f.store.GetRevision(context.Background(), "d1", 2)
	if !strings.Contains(r.FailureReason, "metadata stays migrated") || !strings.Contains(r.FailureReason, "components put back on revision 1") {
		t.Fatalf("reason: %q", r.FailureReason)
	}
}
