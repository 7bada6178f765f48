package runtime

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/rewindhq/rewind/internal/domain"
)

func TestPullByTagThenDigest(t *testing.T) {
	e := setup(t)
	var calls int
	var last Progress
	img, err := e.rt.Pull(e.ctx, testImage("9.1.0"), "", func(p Progress) { calls++; last = p }, ProgressEvery(0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(img.Digest, "sha256:") || img.ID == "" {
		t.Fatalf("digest %q id %q", img.Digest, img.ID)
	}
	if img.RuntimeVersion != "9.1.0" || img.AirflowVersion != "3.0.2" {
		t.Fatalf("versions %q %q", img.RuntimeVersion, img.AirflowVersion)
	}
	if calls == 0 || last.Status == "" {
		t.Fatalf("no progress reported (%d calls, last %+v)", calls, last)
	}
	byDigest, err := e.rt.Pull(e.ctx, testImage("9.1.0"), img.Digest, nil, VerifyTag())
	if err != nil {
		t.Fatal(err)
	}
	if byDigest.ID != img.ID || byDigest.Digest != img.Digest || byDigest.RuntimeVersion != "9.1.0" {
		t.Fatalf("by digest %+v, by tag %+v", byDigest, img)
	}
	if want := registry + "/rewind-test/airflow@" + img.Digest; img.Pinned() != want {
		t.Fatalf("pinned %s, want %s", img.Pinned(), want)
	}
}

// A throwaway repository whose tag is re-pushed with other content.
func TestDigestMismatchAfterRepush(t *testing.T) {
	e := setup(t)
	e.pull("9.1.0")
	e.pull("8.0.0")
	repo := registry + "/rewind-test/scratch-" + randHex(4)
	ref := repo + ":v1"
	pushAs(t, e.rt, e.ctx, testImage("9.1.0"), ref)
	first, err := e.rt.Pull(e.ctx, ref, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	pushAs(t, e.rt, e.ctx, testImage("8.0.0"), ref)
	now, err := e.rt.ResolveDigest(e.ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if now == first.Digest {
		t.Fatal("re-push did not change the tag's digest")
	}

	// Verifying the tag: refused, both digests named.
	_, err = e.rt.Pull(e.ctx, ref, first.Digest, nil, VerifyTag())
	if domain.TypeOf(err) != domain.DigestMismatch {
		t.Fatalf("want DigestMismatch, got %v", err)
	}
	if !strings.Contains(err.Error(), first.Digest) || !strings.Contains(err.Error(), now) {
		t.Fatalf("message should name both digests: %v", err)
	}
	t.Log(err)

	// Without verification the recorded content is still what is pulled.
	got, err := e.rt.Pull(e.ctx, ref, first.Digest, nil)
	if err != nil || got.RuntimeVersion != "9.1.0" || got.Digest != first.Digest {
		t.Fatalf("pull by recorded digest: %+v %v", got, err)
	}

	// A recorded digest the registry does not serve (e.g. deleted and
	// garbage-collected; the daemon caches manifests it pulled, so a real
	// deletion is only seen for content it never had) is a DigestMismatch
	// naming what the tag serves now.
	gone := "sha256:" + strings.Repeat("ab", 32)
	_, err = e.rt.Pull(e.ctx, ref, gone, nil)
	if domain.TypeOf(err) != domain.DigestMismatch || !strings.Contains(err.Error(), now) || !strings.Contains(err.Error(), gone) {
		t.Fatalf("want DigestMismatch naming %s, got %v", now, err)
	}
	t.Log(err)
	_, _ = e.rt.cli.ImageRemove(e.ctx, ref, image.RemoveOptions{})
}

func TestPullMissingImageFailsFastAndTyped(t *testing.T) {
	e := setup(t)
	for _, ref := range []string{testImage("no-such-tag"), registry + "/rewind-test/no-such-repo:1"} {
		start := time.Now()
		_, err := e.rt.Pull(e.ctx, ref, "", nil)
		if domain.TypeOf(err) != domain.NotFound {
			t.Fatalf("%s: want NotFound, got %v", ref, err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("%s: took %s", ref, d)
		}
	}
	// A registry that is down is not a refusal: ordinary error, retried.
	_, err := e.rt.Pull(e.ctx, "127.0.0.1:5999/rewind-test/airflow:9.1.0", "", nil)
	if err == nil || domain.TypeOf(err) != "" {
		t.Fatalf("registry down: want an ordinary error, got %v (%q)", err, domain.TypeOf(err))
	}
	var de *domain.Error
	if errors.As(err, &de) {
		t.Fatalf("registry down must be retryable: %v", err)
	}
	// Swap refuses an image that was never pulled, before touching anything.
	_, err = e.rt.Swap(e.ctx, e.dep, Image{Ref: "x:1", ID: "sha256:" + strings.Repeat("0", 64)}, SwapOptions{Revision: 1})
	if domain.TypeOf(err) != domain.NotFound {
		t.Fatalf("swap of a missing image: want NotFound, got %v", err)
	}
}

func TestFirstDeployCreatesContainers(t *testing.T) {
	e := setup(t)
	img := e.pull("9.1.0")
	rep := e.swap(img, 1)
	if len(rep.Created) != 3 || len(rep.Replaced)+len(rep.Drained)+len(rep.Killed) != 0 {
		t.Fatalf("report %+v", rep)
	}
	for comp, c := range e.active() {
		ci := e.inspect(c.ID)
		if !ci.State.Running || ci.Name != "/"+ContainerName(e.dep.ID, comp) {
			t.Fatalf("%s: %s running=%v", comp, ci.Name, ci.State.Running)
		}
		if ci.Config.Labels[LabelRevision] != "1" || ci.Config.Labels[LabelComponent] != comp || ci.Config.Labels[LabelImageDigest] != img.Digest {
			t.Fatalf("%s labels %v", comp, ci.Config.Labels)
		}
		if ci.HostConfig.RestartPolicy.Name != container.RestartPolicyUnlessStopped {
			t.Fatalf("restart policy %v", ci.HostConfig.RestartPolicy)
		}
		if len(ci.Mounts) != 1 || ci.Mounts[0].Destination != DefaultMountPath || ci.Mounts[0].RW {
			t.Fatalf("mounts %+v", ci.Mounts)
		}
		st := e.exec(c.ID, "airflow", "status")
		for _, want := range []string{"role=" + map[string]string{"api-server": "api-server", "scheduler": "scheduler", "worker": "worker"}[comp], "runtime=9.1.0", "bundle_version=" + bundleVersion, "files=VERSION,dags/example.py"} {
			if !strings.Contains(st, want) {
				t.Fatalf("%s status lacks %q:\n%s", comp, want, st)
			}
		}
	}
}

func TestSecondDeployKeepsConfiguration(t *testing.T) {
	e := setup(t)
	old := e.pull("8.0.0")
	e.swap(old, 1)
	before := e.active()
	// An operator changes an Engine setting the deployment does not describe
	// on the running container (kept), and the deployment's stored env
	// changes (R17: what is stored is what runs).
	if _, err := e.rt.cli.ContainerUpdate(e.ctx, before["scheduler"].ID, container.UpdateConfig{Resources: container.Resources{CPUShares: 512}}); err != nil {
		t.Fatal(err)
	}
	e.dep.Env = map[string]string{"MY_SETTING": "updated", "REWIND_TEST_TASK_SECONDS": "0.5"}
	img := e.pull("9.1.0")
	rep := e.swap(img, 2)
	if len(rep.Replaced) != 3 || len(rep.Drained) != 1 || rep.Downgrade {
		t.Fatalf("report %+v", rep)
	}
	after := e.active()
	for comp, c := range after {
		if c.ID == before[comp].ID || c.ImageID != img.ID || c.Revision != 2 {
			t.Fatalf("%s not replaced: %+v", comp, c)
		}
		ci := e.inspect(c.ID)
		envs := strings.Join(ci.Config.Env, " ")
		if !strings.Contains(envs, "MY_SETTING=updated") || strings.Contains(envs, "from-deployment") || !strings.Contains(envs, "REWIND_TEST_TASK_SECONDS=0.5") {
			t.Fatalf("%s does not run the stored env: %v", comp, ci.Config.Env)
		}
		if !strings.Contains(envs, "ASTRONOMER_RUNTIME_VERSION=9.1.0") || strings.Contains(envs, "ASTRONOMER_RUNTIME_VERSION=8.0.0") {
			t.Fatalf("%s env carries the old image's defaults: %v", comp, ci.Config.Env)
		}
		if ci.Config.Labels[DefaultRuntimeVersionLabel] != "9.1.0" {
			t.Fatalf("%s has the old image's labels: %v", comp, ci.Config.Labels)
		}
		if len(ci.Mounts) != 1 || ci.Mounts[0].Destination != DefaultMountPath {
			t.Fatalf("%s mounts %+v", comp, ci.Mounts)
		}
		if ci.HostConfig.RestartPolicy.Name != container.RestartPolicyUnlessStopped {
			t.Fatalf("%s restart policy %v", comp, ci.HostConfig.RestartPolicy)
		}
		if st := e.exec(c.ID, "airflow", "status"); !strings.Contains(st, "runtime=9.1.0") || !strings.Contains(st, "bundle_version="+bundleVersion) {
			t.Fatalf("%s status:\n%s", comp, st)
		}
	}
	if ci := e.inspect(after["scheduler"].ID); ci.HostConfig.CPUShares != 512 {
		t.Fatalf("CPU shares set on the container were lost: %d", ci.HostConfig.CPUShares)
	}
}

// R11 without a downgrade: the old worker finishes its task (exit 0) while
// the new one already runs; Swap does not wait for it.
func TestUpgradeDrainsOldWorker(t *testing.T) {
	e := setup(t)
	// The task outlasts any swap on a loaded machine, so a worker still
	// draining after Swap returned proves Swap did not wait for the drain
	// (no wall-clock bound needed).
	e.dep.Env["REWIND_TEST_TASK_SECONDS"] = "20"
	e.swap(e.pull("8.0.0"), 1)
	oldWorker := e.active()["worker"]
	time.Sleep(500 * time.Millisecond) // task 1 is running
	rep := e.swap(e.pull("9.1.0"), 2)
	if rep.Downgrade || len(rep.Killed) != 0 || len(rep.Drained) != 1 || rep.Drained[0].ID != oldWorker.ID {
		t.Fatalf("report %+v", rep)
	}
	ci := e.inspect(oldWorker.ID)
	if !ci.State.Running || !strings.Contains(ci.Name, "-draining-") {
		t.Fatalf("old worker should still be draining: %s %s", ci.Name, ci.State.Status)
	}
	newWorker := e.active()["worker"]
	if st := e.exec(newWorker.ID, "airflow", "status"); !strings.Contains(st, "runtime=9.1.0") {
		t.Fatalf("new worker:\n%s", st)
	}
	if code := e.waitExit(oldWorker.ID); code != 0 {
		t.Fatalf("drained worker exit code %d, want 0", code)
	}
	logs := e.rt.logs(e.ctx, oldWorker.ID)
	if !strings.Contains(logs, "task 1 finished") || !strings.Contains(logs, "stopped after draining") {
		t.Fatalf("old worker did not finish its task:\n%s", logs)
	}
	if ci := e.inspect(newWorker.ID); !ci.State.Running {
		t.Fatal("new worker stopped")
	}
	// The old worker stays exited (restart policy was lifted) until the
	// next deploy removes it.
	time.Sleep(300 * time.Millisecond)
	if ci := e.inspect(oldWorker.ID); ci.State.Running || ci.RestartCount != 0 {
		t.Fatalf("drained worker was restarted: %+v", ci.State)
	}
	rep = e.swap(e.pull("9.1.0-healthcheck"), 3)
	if len(rep.Removed) != 1 || rep.Removed[0].ID != oldWorker.ID {
		t.Fatalf("exited draining worker not removed: %+v", rep)
	}
}

// R11 with a downgrade: the old worker is killed at once (137) and reported.
func TestDowngradeKillsOldWorker(t *testing.T) {
	e := setup(t)
	e.dep.Env["REWIND_TEST_TASK_SECONDS"] = "30"
	e.swap(e.pull("9.1.0"), 1)
	oldWorker := e.active()["worker"]
	rep := e.swap(e.pull("8.0.0"), 2)
	if !rep.Downgrade || len(rep.Killed) != 1 || len(rep.Drained) != 0 {
		t.Fatalf("report %+v", rep)
	}
	k := rep.Killed[0]
	if k.ID != oldWorker.ID || k.ExitCode == nil || *k.ExitCode != 137 {
		t.Fatalf("killed %+v", k)
	}
	if _, err := e.rt.cli.ContainerInspect(e.ctx, oldWorker.ID); err == nil {
		t.Fatal("killed worker was not removed")
	}
	if st := e.exec(e.active()["worker"].ID, "airflow", "status"); !strings.Contains(st, "runtime=8.0.0") {
		t.Fatalf("new worker:\n%s", st)
	}
}

// A Swap repeated after success, or after being interrupted between any two
// Docker calls, converges to one container per component.
func TestSwapIsIdempotent(t *testing.T) {
	e := setup(t)
	imgs := []Image{e.pull("8.0.0"), e.pull("9.1.0")}
	e.swap(imgs[0], 1)
	rep := e.swap(imgs[0], 1)
	if len(rep.Unchanged) != 3 || len(rep.Created)+len(rep.Replaced)+len(rep.Removed) != 0 {
		t.Fatalf("repeated swap changed something: %+v", rep)
	}
	e.active()

	steps := []string{
		"created scheduler", "started api-server", "created worker", "started worker",
		"removed scheduler", "renamed scheduler", "removed api-server", "signalled worker", "killed worker",
		"drained worker", "renamed worker",
	}
	rev := 1
	for _, step := range steps {
		rev++
		img := imgs[rev%2] // alternates upgrade (drain) and downgrade (kill)
		hit := false
		testHook = func(s string) error {
			if s == step && !hit {
				hit = true
				return errors.New("crash at " + s)
			}
			return nil
		}
		_, err := e.rt.Swap(e.ctx, e.dep, img, SwapOptions{Revision: rev})
		testHook = nil
		if !hit || err == nil {
			t.Fatalf("step %q was not reached (err=%v)", step, err)
		}
		rep := e.swap(img, rev)
		if step == "signalled worker" || step == "drained worker" {
			// The attempt that drained the worker crashed before reporting
			// it: the retry reports it, with its deadline, so the workflow
			// starts the deadline (issue 27) — unless it already finished.
			reported := false
			for _, d := range rep.Drained {
				// A deadline when it still runs; none when it had already exited.
				reported = reported || d.Component == "worker" && d.Revision == rev-1
			}
			for _, d := range rep.Removed {
				reported = reported || d.Component == "worker" && d.Revision == rev-1
			}
			if !reported {
				t.Fatalf("after crash at %q the retry does not report the drained worker: %+v", step, rep)
			}
		}
		e.swap(img, rev) // and once more for good measure
		running := 0
		for comp, c := range e.active() {
			if c.Revision != rev || c.ImageID != img.ID || c.State != "running" {
				t.Fatalf("after crash at %q: %s is %+v", step, comp, c)
			}
			if comp == "scheduler" {
				running++
			}
		}
		if running != 1 {
			t.Fatalf("after crash at %q: %d schedulers", step, running)
		}
		t.Logf("crash at %q (revision %d, hit=%v): converged", step, rev, hit)
	}
}

func TestUnhealthyDeployLeavesOldContainersRunning(t *testing.T) {
	e := setup(t)
	good := e.pull("9.1.0")
	e.swap(good, 1)
	before := e.active()
	_, err := e.rt.Swap(e.ctx, e.dep, e.pull("broken"), SwapOptions{Revision: 2, HealthTimeout: 10 * time.Second})
	// How many of its 3 attempts fit in the 10s depends on the machine's
	// load; that it gives up for good, typed, does not.
	if domain.TypeOf(err) != domain.Unhealthy || !strings.Contains(err.Error(), "did not stay up") {
		t.Fatalf("a swap to an image whose components crash must give up for good after its attempts (Unhealthy): %v", err)
	}
	t.Log(err)
	after := e.active() // no -next left behind
	for comp, c := range after {
		if c.ID != before[comp].ID || c.State != "running" {
			t.Fatalf("%s disturbed: %+v", comp, c)
		}
	}
	// With a HEALTHCHECK, Swap waits for "healthy".
	rep := e.swap(e.pull("9.1.0-healthcheck"), 3)
	for _, c := range rep.Replaced {
		if h := e.inspect(c.ID).State.Health; h == nil || h.Status != container.Healthy {
			t.Fatalf("%s not healthy: %+v", c.Name, h)
		}
	}
}

func TestRunOneOff(t *testing.T) {
	e := setup(t)
	img := e.pull("9.1.0")
	e.swap(img, 1)
	res, err := e.rt.RunOneOff(e.ctx, e.dep, img.Pinned(), []string{"airflow", "db", "downgrade", "--to-version", "2.9.3"}, OneOffOptions{Name: "db-downgrade", Revision: 2})
	if err != nil || res.ExitCode != 0 || !strings.Contains(res.Output, "db downgrade: done") || res.Attached {
		t.Fatalf("%+v %v", res, err)
	}
	_, err = e.rt.RunOneOff(e.ctx, e.dep, img.Pinned(), []string{"airflow", "db", "nonsense"}, OneOffOptions{Name: "db-downgrade", Revision: 3})
	if err == nil {
		t.Fatal("failing one-off reported success")
	}
	cs, _ := e.rt.Containers(e.ctx, e.dep.ID)
	for _, c := range cs {
		if c.OneOff != "" {
			t.Fatalf("one-off container left: %s", c.Name)
		}
	}
	e.active()
}
