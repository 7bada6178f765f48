package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/rewindhq/rewind/internal/domain"
)

// The start check of a rollback target: an image that no longer starts, or
// DAGs that no longer import, is refused before anything is touched.
func TestPreflight(t *testing.T) {
	e := setup(t)
	good := e.pull("9.1.0")
	e.swap(good, 1)
	before := e.active()
	checks := [][]string{{"airflow", "version"}, {"airflow", "dags", "list-import-errors"}}

	res, err := e.rt.Preflight(e.ctx, e.dep, e.pull("8.0.0"), "", checks, 2)
	if err != nil || len(res) != 2 || res[0].ExitCode != 0 || !strings.Contains(res[0].Output, "2.9.3") {
		t.Fatalf("a sound target must pass: %+v %v", res, err)
	}
	_, err = e.rt.Preflight(e.ctx, e.dep, e.pull("8.0.0-broken"), "", checks, 2)
	if domain.TypeOf(err) != domain.PreflightFailed || !strings.Contains(err.Error(), "ModuleNotFoundError") {
		t.Fatalf("an image that no longer starts must be refused with its output: %v", err)
	}
	// DAGs that fail to import, read from the folder the check is given.
	broken := filepath.Join(e.bundle, e.dep.ID, "bundles", "broken")
	if err := os.MkdirAll(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(broken, "etl.py"), []byte("# rewind-test: import-error\n"), 0o644)
	_, err = e.rt.Preflight(e.ctx, e.dep, good, DefaultMountPath+"/bundles/broken", checks, 2)
	if domain.TypeOf(err) != domain.PreflightFailed || !strings.Contains(err.Error(), "list-import-errors") || !strings.Contains(err.Error(), "etl.py") {
		t.Fatalf("DAGs with import errors must be refused: %v", err)
	}
	after := e.active()
	for comp, c := range after {
		if c.ID != before[comp].ID || c.State != "running" {
			t.Fatalf("a preflight touched %s: %+v", comp, c)
		}
	}
	cs, _ := e.rt.Containers(e.ctx, e.dep.ID)
	for _, c := range cs {
		if c.OneOff != "" {
			t.Fatalf("preflight container left: %s", c.Name)
		}
	}
}

// A once-only one-off (the metadata downgrade) is never started twice nor
// stopped: an attempt that gives up (a worker dying) leaves it running, and
// the retry waits for that same container.
func TestOnceOneOffSurvivesItsCaller(t *testing.T) {
	e := setup(t)
	img := e.pull("9.1.0")
	e.swap(img, 1)
	e.dep.Env["REWIND_TEST_DOWNGRADE_SECONDS"] = "6"
	cmd := []string{"airflow", "db", "downgrade", "--to-version", "2.9.3"}
	opts := OneOffOptions{Name: "db-downgrade", Revision: 2, Once: true}
	// The first attempt gives up once the job runs, as a dying worker does.
	name := "rewind-" + e.dep.ID + "-oneoff-db-downgrade"
	short, cancel := context.WithCancel(e.ctx)
	defer cancel()
	go func() {
		for short.Err() == nil {
			if ci, err := e.rt.cli.ContainerInspect(e.ctx, name); err == nil && ci.State.Running {
				cancel()
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if _, err := e.rt.RunOneOff(short, e.dep, img.Pinned(), cmd, opts); err == nil {
		t.Fatal("the first attempt should have been cut off by its context")
	}
	ci := e.inspect(name)
	if !ci.State.Running {
		t.Fatalf("the one-off must keep running when its caller gives up: %s", ci.State.Status)
	}
	first := ci.ID
	res, err := e.rt.RunOneOff(e.ctx, e.dep, img.Pinned(), cmd, opts)
	if err != nil || !res.Attached || res.ExitCode != 0 || strings.Count(res.Output, "db downgrade: runtime=") != 1 {
		t.Fatalf("the retry must wait for the running job, which ran once: %+v %v", res, err)
	}
	again, err := e.rt.RunOneOff(e.ctx, e.dep, img.Pinned(), cmd, opts)
	if err != nil || !again.Attached || !again.StartedAt.Equal(res.StartedAt) || e.inspect(name).ID != first {
		t.Fatalf("a retry after it finished must read its result, not run it again: %+v %v", again, err)
	}
	// The next change's swap removes the finished job.
	e.swap(e.pull("8.0.0"), 2)
	if _, err := e.rt.cli.ContainerInspect(e.ctx, name); err == nil {
		t.Fatal("the finished one-off was not removed by the next swap")
	}
}

// Before a metadata downgrade every component stops (R16), workers are
// killed (R11), and a Swap back to the same revision starts them again with
// their restart policy restored.
func TestStopAllThenSwapBack(t *testing.T) {
	e := setup(t)
	e.dep.Env["REWIND_TEST_TASK_SECONDS"] = "30"
	img := e.pull("9.1.0")
	e.swap(img, 1)
	before := e.active()
	rep, err := e.rt.StopAll(e.ctx, e.dep)
	if err != nil || len(rep.Killed) != 1 || len(rep.Stopped) != 2 || *rep.Killed[0].ExitCode != 137 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	for comp, c := range e.active() {
		ci := e.inspect(c.ID)
		if ci.State.Running || ci.HostConfig.RestartPolicy.Name != container.RestartPolicyDisabled || c.ID != before[comp].ID {
			t.Fatalf("%s must be stopped, kept, with no restart policy: %s %v", comp, ci.State.Status, ci.HostConfig.RestartPolicy)
		}
	}
	if again, err := e.rt.StopAll(e.ctx, e.dep); err != nil || len(again.Killed)+len(again.Stopped) != 0 {
		t.Fatalf("a second StopAll must find nothing to do: %+v %v", again, err)
	}
	back := e.swap(img, 1)
	if len(back.Unchanged) != 3 {
		t.Fatalf("the same revision must be started, not replaced: %+v", back)
	}
	for comp, c := range e.active() {
		ci := e.inspect(c.ID)
		if !ci.State.Running || ci.HostConfig.RestartPolicy.Name != container.RestartPolicyUnlessStopped || c.ID != before[comp].ID {
			t.Fatalf("%s must run again with its restart policy: %s %v", comp, ci.State.Status, ci.HostConfig.RestartPolicy)
		}
	}
}

// A draining worker that ignores SIGTERM is killed once the deadline its
// name records has passed, and not before.
func TestDrainDeadlineIsEnforced(t *testing.T) {
	e := setup(t)
	e.dep.Env["REWIND_TEST_IGNORE_SIGTERM"] = "1"
	e.swap(e.pull("8.0.0"), 1)
	old := e.active()["worker"]
	rep, err := e.rt.Swap(e.ctx, e.dep, e.pull("9.1.0"), SwapOptions{Revision: 2, DrainTimeout: 3 * time.Second})
	if err != nil || len(rep.Drained) != 1 || rep.Drained[0].DrainDeadline == nil {
		t.Fatalf("report %+v %v", rep, err)
	}
	d := rep.Drained[0]
	deadline, ok := DrainDeadline(d.Name)
	if !ok || !deadline.Equal(d.DrainDeadline.UTC()) {
		t.Fatalf("the name %s must record the deadline %s", d.Name, d.DrainDeadline)
	}
	if _, killed, err := e.rt.EnforceDrainDeadline(e.ctx, e.dep.ID, old.ID); err == nil || killed {
		t.Fatalf("before the deadline nothing may be killed: %v %v", killed, err)
	}
	time.Sleep(time.Until(deadline) + 500*time.Millisecond)
	if ci := e.inspect(old.ID); !ci.State.Running {
		t.Fatalf("the worker ignores SIGTERM and should still run: %s", ci.State.Status)
	}
	k, killed, err := e.rt.EnforceDrainDeadline(e.ctx, e.dep.ID, old.ID)
	if err != nil || !killed || k.ExitCode == nil || *k.ExitCode != 137 {
		t.Fatalf("past the deadline it must be killed: %+v %v %v", k, killed, err)
	}
	if _, killed, err := e.rt.EnforceDrainDeadline(e.ctx, e.dep.ID, old.ID); err != nil || killed {
		t.Fatalf("enforcing twice must be harmless: %v %v", killed, err)
	}
	if _, _, err := e.rt.EnforceDrainDeadline(e.ctx, e.dep.ID, e.active()["scheduler"].ID); domain.TypeOf(err) != domain.InvalidInput {
		t.Fatalf("only draining workers may be killed this way: %v", err)
	}
}

// Labels baked into an image do not make its containers look like anything
// else: the next deploy swaps them like any other.
func TestImageLabelsCannotImpersonate(t *testing.T) {
	e := setup(t)
	e.swap(e.pull("9.1.0-labelled"), 1)
	for comp, c := range e.active() {
		if c.OneOff != "" || c.Labels[LabelDeployment] != e.dep.ID || c.Component != comp || c.Revision != 1 {
			t.Fatalf("%s carries the image's rewind labels: %v", comp, c.Labels)
		}
	}
	rep := e.swap(e.pull("9.1.0"), 2)
	if len(rep.Replaced) != 3 {
		t.Fatalf("the next deploy must replace every component: %+v", rep)
	}
	e.active()
	if _, err := e.rt.Pull(e.ctx, testImage("9.1.0-badversion"), "", nil); domain.TypeOf(err) != domain.InvalidInput || !strings.Contains(err.Error(), "is not a version") {
		t.Fatalf("a version label that is not a version must be refused: %v", err)
	}
}
