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
	// rewind serve starts after REWIND_BUNDLE_ROOT is set: through it,
	// the bundle is packed and pushed by the CLI, with its own root, too.
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("oci")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "bundle", "--dag-deploy", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		// Bundles of this half's own content, so the worker must fetch
		// both even after the other half.
		dags := func(v string) string {
			dir := dagDir(t, v)
			os.WriteFile(filepath.Join(dir, "half.txt"), []byte(dep+"\n"), 0o644)
			return dir
		}
		before, _ := filepath.Glob(filepath.Join(worker, ".store", "sha256", "*.tar.gz"))
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--dags", dags("a"), "--wait")
		m.mustAs("alice", "deploy", dep, "--dags", dags("b"), "--wait") // DAG-only
		if st := status(t, "rewind-"+dep+"-scheduler"); st["bundle_version"] != "b" {
			t.Fatalf("the scheduler must see bundle b: %v", st)
		}
		if _, err := os.Stat(filepath.Join(cli, dep)); err == nil {
			t.Fatal("the CLI's bundle root must hold no deployment directory: nothing is shared")
		}
		objs, _ := filepath.Glob(filepath.Join(worker, ".store", "sha256", "*.tar.gz"))
		if len(objs) != len(before)+2 {
			t.Fatalf("the worker must have fetched both bundles into its own cache: %v", objs)
		}
	})
}
