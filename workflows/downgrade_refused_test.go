package workflows_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/domain"
)

// Issue 27 item 2: a metadata downgrade that refuses before its one-off
// exists (a target with a Runtime label and no Airflow version) changed no
// metadata. The rollback is an ordinary failure: the newer version starts
// again, no snapshot is restored (there is nothing to undo), and the reason
// names no point of no return. Before, the workflow set the point of no
// return itself and left the deployment stopped.
func TestDowngradeRefusedBeforeItsOneOffIsCompensated(t *testing.T) {
	for _, snapshot := range []bool{false, true} {
		f := threeDeploys(t)
		f.docker.snapshot = snapshot
		if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.2.0","requestedBy":"alice","type":"IMAGE_ONLY"}`); err != nil {
			t.Fatal(err)
		}
		f.docker.calls, f.docker.swaps = nil, nil
		f.docker.refuseDowngrade = true
		before, _ := f.store.GetDeployment(context.Background(), "d1")
		_, _, err := f.rollback(t, rb(1, ""))
		if errType(err) != "InvalidInput" {
			t.Fatalf("snapshot %v: got %v", snapshot, err)
		}
		top := f.history(t)[0]
		if top.Status != domain.StatusFailed || strings.Contains(top.FailureReason, "point of no return") || !strings.Contains(top.FailureReason, "components put back") {
			t.Fatalf("snapshot %v: revision %+v", snapshot, top)
		}
		if len(f.docker.restored) != 0 {
			t.Fatalf("snapshot %v: a needless restore: %v", snapshot, f.docker.restored)
		}
		n := len(f.docker.swaps)
		if n == 0 || f.docker.swaps[n-1].Revision != before.CurrentRevision {
			t.Fatalf("snapshot %v: the newer version must run again: %+v", snapshot, f.docker.swaps)
		}
		calls := strings.Join(f.docker.calls, ",")
		if !strings.Contains(calls, "StopComponents") || strings.Index(calls, "StopComponents") > strings.Index(calls, "MetadataDowngrade") {
			t.Fatalf("snapshot %v: steps %s", snapshot, calls)
		}
	}
}
