package activities

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/metadb"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/internal/store"
)

// The activities' own types encode exactly as the store's, runtime's and
// metadb's types they replaced in activity signatures did, so the
// histories recorded before them decode into them unchanged: each pair,
// every field set, marshals to the same JSON.
func TestWireTypesEncodeAsTheTypesTheyReplaced(t *testing.T) {
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	code := 137
	ref := runtime.ContainerRef{Name: "d1-worker", ID: "abc", Component: "worker", Image: "reg/a@sha256:1", Revision: 3, ExitCode: &code, DrainDeadline: &at}
	refs := []runtime.ContainerRef{ref}
	img := runtime.Image{Ref: "reg/a:1", Digest: "sha256:1", ID: "sha256:2", RuntimeVersion: "9.1.0", AirflowVersion: "2.9.3",
		RuntimeVersionSource: "label io.astronomer", AirflowVersionSource: "airflow version", Labels: map[string]string{"k": "v"}}
	swap := runtime.SwapReport{DeploymentID: "d1", Revision: 3, Image: "reg/a@sha256:1", Downgrade: true, Created: refs, Replaced: refs, Unchanged: refs, Drained: refs, Killed: refs, Removed: refs}
	stop := runtime.StopReport{Stopped: refs, Killed: refs}
	one := runtime.OneOffResult{ExitCode: 1, Output: "out", StartedAt: at, FinishedAt: at, Attached: true}
	checks := []runtime.PreflightCheck{{Command: "airflow version", ExitCode: 0, Output: "2.9.3", Reused: true, PassedAt: &at, PassedRevision: 2}}
	snap := metadb.Snapshot{Path: "/s", Bytes: 9, ServerVersion: "16.1", Tool: "pg_dump", TakenAt: at}
	fin := store.Finish{DeploymentID: "d1", Number: 3, Status: domain.StatusFailed, Reason: "boom", At: at, RestoreDagDeploy: true}
	for _, c := range []struct {
		name      string
		was, wire any
	}{
		{"image", img, imageOf(img)},
		{"swap", swap, swapReportOf(swap)},
		{"stop", stop, stopReportOf(stop)},
		{"one-off", one, oneOffOf(one)},
		{"preflight", checks, checksOf(checks)},
		{"snapshot", snap, snapshotOf(snap)},
		{"finish", fin, FinishRequest(fin)},
		{"empty swap", runtime.SwapReport{}, swapReportOf(runtime.SwapReport{})},
	} {
		a, _ := json.Marshal(c.was)
		b, _ := json.Marshal(c.wire)
		if string(a) != string(b) {
			t.Errorf("%s:\n was  %s\n now  %s", c.name, a, b)
		}
	}
}
