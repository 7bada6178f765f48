package runtime

import (
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/rewindhq/rewind/internal/domain"
)

// The bake probe against the real Engine (issue 27 item 9): a scheduler
// that passes the deploy's checks and then crash-loops under its restart
// policy is a failed probe — restarted since the last probe, or
// restarting, with its exit code and log tail — never a probe error, also
// when Docker refuses the health check's exec ("is restarting").
func TestProbeJudgesACrashLoopingScheduler(t *testing.T) {
	e := setup(t, domain.Component{Name: "scheduler", Command: "airflow scheduler"}, domain.Component{Name: "api-server", Command: "airflow api-server"})
	e.swap(e.pull("9.1.0-crashloop"), 1) // the swap's health wait passes: it crashes 3 s in
	opts := ProbeOptions{Components: []string{"scheduler", "api-server"}, Revision: 1,
		HealthCheck: []string{"airflow", "jobs", "check", "--job-type", "SchedulerJob"}, Timeout: 10 * time.Second, ProveFor: time.Minute}
	rep, err := e.rt.Probe(e.ctx, e.dep.ID, opts)
	if err != nil || rep.Failed || len(rep.Restarts) != 2 {
		t.Fatalf("right after the deploy the scheduler runs: %+v, %v", rep, err)
	}
	opts.Restarts = rep.Restarts
	name := ContainerName(e.dep.ID, "scheduler")
	for deadline := time.Now().Add(20 * time.Second); e.inspect(name).RestartCount == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the crashloop scheduler did not restart within 20s")
		}
	}
	rep, err = e.rt.Probe(e.ctx, e.dep.ID, opts)
	if err != nil || !rep.Failed || !strings.Contains(rep.Evidence, "scheduler") || !strings.Contains(rep.Evidence, "exiting 1") ||
		!strings.Contains(rep.Evidence, "crashed") || strings.Contains(rep.Evidence, "api-server") {
		t.Fatalf("a restarted scheduler must fail the probe with its exit code and log tail: %+v, %v", rep, err)
	}
	// Running again after a crash, it is unproven (not judged) until it has
	// stayed up for ProveFor: a healthy-looking probe between two crashes
	// must not reset the bake's count.
	for deadline := time.Now().Add(30 * time.Second); ; {
		opts.Restarts = rep.Restarts
		rep, err = e.rt.Probe(e.ctx, e.dep.ID, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Failed {
			if !strings.Contains(rep.Unproven, "scheduler restarted") {
				t.Fatalf("a scheduler up again after a crash must be unproven: %+v", rep)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw the scheduler up between two crashes: %+v", rep)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Docker refuses an exec into a restarting container; that refusal is
	// the answer. Catch the scheduler between two runs (the restart
	// backoff doubles, so the window grows).
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("never caught the scheduler restarting")
		}
		ci := e.inspect(name)
		if !ci.State.Restarting {
			continue
		}
		why, err := e.rt.probeExec(e.ctx, ci, opts.HealthCheck, 5*time.Second)
		if err != nil {
			t.Fatalf("an exec refused because the container restarts is not a probe error: %v", err)
		}
		if why == "" {
			continue // it came back up between the inspection and the exec
		}
		if !strings.Contains(why, "refused the health check") || !strings.Contains(why, "restarting") || !strings.Contains(why, "exit code 1") {
			t.Fatalf("evidence: %s", why)
		}
		rep, err = e.rt.Probe(e.ctx, e.dep.ID, opts)
		if err != nil || !rep.Failed {
			t.Fatalf("probe while it restarts: %+v, %v", rep, err)
		}
		break
	}
	// Gone altogether (outside a change): a failed probe too.
	if err := e.rt.cli.ContainerRemove(e.ctx, name, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	rep, err = e.rt.Probe(e.ctx, e.dep.ID, opts)
	if err != nil || !rep.Failed || !strings.Contains(rep.Evidence, "scheduler has no container") || rep.SwapInProgress {
		t.Fatalf("a missing scheduler: %+v, %v", rep, err)
	}
}

// Only an Engine that cannot be reached is a probe error.
func TestProbeErrsOnlyWhenTheEngineIsUnreachable(t *testing.T) {
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+t.TempDir()+"/no-docker.sock"), client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	r := &Runtime{cli: cli, cfg: Config{}.withDefaults()}
	defer r.Close()
	rep, err := r.Probe(t.Context(), "t-unreachable", ProbeOptions{Components: []string{"scheduler"}, Revision: 1, HealthCheck: []string{"true"}})
	if err == nil || rep.Failed {
		t.Fatalf("an unreachable Engine must be a probe error, not a judgement: %+v, %v", rep, err)
	}
}
