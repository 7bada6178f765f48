package cli

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// A registry that accepts the connection and then stops sending bytes:
// the pull's watchdog sees no progress and fails the attempt as stalled
// within its window (3s here), instead of hanging to the start-to-close
// timeout; once the registry sends again, the next attempt finishes.
func TestStalledPullIsRetried(t *testing.T) {
	t.Setenv("REWIND_STALL_TIMEOUT", "3s")
	s := startStack(t)
	reg := strings.Split(itest.Image(t, "9.1.0"), "/")[0]
	repo := "rewind-test/stall-" + itest.UniqueID("s")
	// An image of its own with a 24 MB layer the Engine does not have, so
	// the pull must download it through the proxy.
	dir := t.TempDir()
	blob := make([]byte, 24<<20)
	rand.Read(blob)
	os.WriteFile(filepath.Join(dir, "blob"), blob, 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+itest.Image(t, "9.1.0")+"\nCOPY blob /blob\n"), 0o644)
	pushed := reg + "/" + repo + ":v1"
	build := exec.Command("docker", "build", "-q", "-t", pushed, dir)
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	for _, cmd := range []*exec.Cmd{build, exec.Command("docker", "push", "-q", pushed), exec.Command("docker", "rmi", pushed)} {
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
	}
	// Long (a stalled pull): remote only under make test-remote. Each
	// half has its own proxy (a released one never stalls again) and so its
	// own image name, removed when the half ends, so each pull downloads
	// the layer again.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		proxy := itest.StartStallProxy(t, reg)
		ref := proxy.Addr() + "/" + repo + ":v1"
		t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })

		dep := itest.UniqueID("stall")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		proxy.StallAfter(2 << 20) // the manifests pass; the layer freezes after 2 MB
		m.mustAs("alice", "deploy", dep, "--image", ref)
		id := workflows.ChangeWorkflowID(dep)

		stalled := ""
		for deadline := time.Now().Add(2 * time.Minute); stalled == ""; time.Sleep(200 * time.Millisecond) {
			desc, err := s.Client.DescribeWorkflowExecution(context.Background(), id, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, pa := range desc.GetPendingActivities() {
				if pa.GetActivityType().GetName() == "PullImage" && pa.GetLastFailure() != nil {
					stalled = pa.GetLastFailure().GetMessage()
				}
			}
			if desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				t.Fatalf("the deploy ended while the registry held its connection: %v", desc.GetWorkflowExecutionInfo().GetStatus())
			}
			if time.Now().After(deadline) {
				t.Fatal("the stalled pull never failed its attempt")
			}
		}
		if !proxy.Stalled() || !strings.Contains(stalled, "stalled: no progress for 3s") {
			t.Fatalf("the attempt must fail as stalled while the registry holds it: %q (proxy stalled: %v)", stalled, proxy.Stalled())
		}
		proxy.Release()
		rev := m.waitRevision(dep, 1, 2*time.Minute)
		if rev.Status != domain.StatusDeployed || rev.ImageRef != ref {
			t.Fatalf("once the registry sends again the deploy must finish: %+v", rev)
		}
	})
}

// A 200 MB DAG bundle is checked in validation (its whole tarball read
// before anything is recorded) without a heartbeat timeout: the check
// heartbeats, and validation runs once.
func TestLargeBundleValidates(t *testing.T) {
	s := startStack(t)
	// Long (a 200 MB bundle packed, stored and validated): remote only
	// under make test-remote.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("big")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "bundle", "--dag-deploy", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		dir := t.TempDir()
		blob := make([]byte, 200<<20) // random: it does not compress
		rand.Read(blob)
		os.WriteFile(filepath.Join(dir, "model.bin"), blob, 0o644)
		os.WriteFile(filepath.Join(dir, "etl.py"), []byte("# a DAG next to a large model file\n"), 0o644)
		blob = nil
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--dags", dir, "--wait")
		rev := m.historyJSON(dep)[0]
		if rev.Status != domain.StatusDeployed {
			t.Fatalf("revision: %+v", rev)
		}
		it := s.Client.GetWorkflowHistory(context.Background(), rev.WorkflowID, rev.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		scheduled := map[int64]string{}
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
				scheduled[e.GetEventId()] = a.GetActivityType().GetName()
			}
			if a := e.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] == "ValidateDeploy" && a.GetAttempt() != 1 {
				t.Fatalf("validation ran %d times: an attempt timed out (%v)", a.GetAttempt(), a.GetLastFailure())
			}
		}
	})
}
