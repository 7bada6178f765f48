package workflows

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/activities"
)

func TestActivitySummarySaysWhatAndToWhat(t *testing.T) {
	img := activities.Image{Ref: "127.0.0.1:5000/airflow:9.1.0", Digest: "sha256:abc", RuntimeVersion: "9.1.0"}
	for _, c := range []struct {
		typ  string
		arg  any
		want string
	}{
		{"PullImage", activities.PullRequest{DeploymentID: "d", Ref: "127.0.0.1:5000/airflow:9.1.0", Digest: "sha256:abc"}, "pull 127.0.0.1:5000/airflow:9.1.0@sha256:abc"},
		{"SwapComponents", activities.SwapRequest{DeploymentID: "d", Image: img}, "swap the components of d to 127.0.0.1:5000/airflow:9.1.0@sha256:abc (Runtime 9.1.0)"},
		{"SwapComponents", activities.SwapRequest{DeploymentID: "d", Image: img, Downgrade: true}, "swap (downgrade) the components of d"},
		{"UnpackBundle", activities.BundleRequest{DeploymentID: "d", Version: "v3"}, "unpack DAG bundle v3 of d"},
		{"SwapBundle", activities.BundleRequest{DeploymentID: "d", Version: "v3"}, "current DAGs at bundle v3"},
		{"MetadataDowngrade", activities.DowngradeRequest{DeploymentID: "d", AirflowVersion: "2.9.0", NewerImage: "x@sha256:1"}, "to Airflow 2.9.0, run with x@sha256:1"},
		{"Unknown", 42, "Unknown"},
	} {
		if got := ActivitySummary(c.typ, c.arg); !strings.Contains(got, c.want) {
			t.Errorf("%s: %q lacks %q", c.typ, got, c.want)
		}
	}
}
