package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/itest"
)

// DAG bundles through the registry (issue 13): the CLI and the worker
// share no directory — each has its own bundle root — and a deploy and a
// DAG-only deploy still reach the containers, the worker fetching each
// bundle by digest from the registry.
func TestBundlesTravelThroughTheRegistry(t *testing.T) {
	t.Setenv("REWIND_BUNDLE_REPOSITORY", strings.Split(itest.Image(t, "9.1.0"), "/")[0]+"/rewind-test/dag-bundles-"+itest.UniqueID("r"))
	startStack(t) // the worker's bundle root is under its data directory
	worker := itest.Config(t).BundleRoot
	cli := t.TempDir() // the CLI's, elsewhere
	t.Setenv("REWIND_BUNDLE_ROOT", cli)
	dep := itest.UniqueID("oci")
	itest.RemoveContainers(t, dep)
	mustRewind(t, "deployment", "create", dep, "--dag-source", "bundle", "--dag-deploy", "--component", "scheduler=airflow scheduler")
	mustRewind(t, "grant", "alice", "--deployment", dep, "--role", "editor")
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--dags", dagDir(t, "a"), "--as", "alice", "--wait")
	mustRewind(t, "deploy", dep, "--dags", dagDir(t, "b"), "--as", "alice", "--wait") // DAG-only
	if st := status(t, "rewind-"+dep+"-scheduler"); st["bundle_version"] != "b" {
		t.Fatalf("the scheduler must see bundle b: %v", st)
	}
	if _, err := os.Stat(filepath.Join(cli, dep)); err == nil {
		t.Fatal("the CLI's bundle root must hold no deployment directory: nothing is shared")
	}
	objs, _ := filepath.Glob(filepath.Join(worker, ".store", "sha256", "*.tar.gz"))
	if len(objs) != 2 {
		t.Fatalf("the worker must have fetched both bundles into its own cache: %v", objs)
	}
}
