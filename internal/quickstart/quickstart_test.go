package quickstart

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/itest"
)

// TestQuickStartVerbatim runs `make run`'s script (scripts/run.sh: a dev
// server, the registry with the stand-in images, a worker), takes the
// commands it prints for "another terminal", and runs them as printed from
// the checkout, answering the rollback's confirmation as a person would:
// two deploys, a rollback to the previous good revision, and a deploy of
// the fix afterwards, from the same directory, which the rollback guard
// must let through.
func TestQuickStartVerbatim(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bin", "rewind")); err != nil {
		t.Fatalf("bin/rewind: %v (make test builds it)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	demo := itest.UniqueID("qs")
	itest.RemoveContainers(t, demo)
	data := t.TempDir()
	env := append(os.Environ(), "REWIND_DATA_DIR="+data, "REWIND_DEMO_DEPLOYMENT="+demo,
		"REWIND_DEV_PORT="+itest.FreePort(t), "REWIND_DEV_UI_PORT="+itest.FreePort(t), "REWIND_METRICS_ADDRESS=127.0.0.1:"+itest.FreePort(t),
		"REWIND_TEMPORAL_ADDRESS=", "REWIND_DATABASE_URL=", "REWIND_BUNDLE_ROOT=", "REWIND_API_URL=", "REWIND_TOKEN=")
	env = append(env, "REWIND_TEMPORAL_CLI="+itest.TemporalCLI(t))

	// Not CommandContext: the test's end must stop run.sh with SIGTERM,
	// which it traps to stop the worker and the dev server; a SIGKILL would
	// leave them running.
	run := exec.Command("scripts/run.sh")
	run.Dir, run.Env = root, env
	run.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	run.Stderr = os.Stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(run.Process.Pid, syscall.SIGTERM) // run.sh stops the worker and the dev server
		done := make(chan struct{})
		go func() { run.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-run.Process.Pid, syscall.SIGKILL)
		}
	})

	var printed []string
	in := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Next, in another terminal"):
			in = true
			continue
		case strings.HasPrefix(line, "The Deploy History page"):
			in = false
		case strings.HasPrefix(line, "Press Ctrl-C"):
			goto started
		}
		if in {
			printed = append(printed, strings.TrimSpace(line))
		}
	}
	t.Fatalf("run.sh ended before it was ready: %v", sc.Err())
started:
	go func() { // keep draining run.sh's output
		for sc.Scan() {
		}
	}()
	if len(printed) < 5 || !strings.HasPrefix(printed[0], "export PATH=") {
		t.Fatalf("the printed quick start:\n%s", strings.Join(printed, "\n"))
	}
	script := "set -euo pipefail\n" + strings.Join(printed, "\n") + "\n"
	sh := exec.CommandContext(ctx, "bash", "-c", script)
	// A terminal of its own: only what run.sh printed, plus the user.
	sh.Dir, sh.Env = root, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "REWIND_USER=" + os.Getenv("REWIND_USER"),
		"DOCKER_HOST=" + os.Getenv("DOCKER_HOST")}
	sh.Stdin = strings.NewReader(demo + "\n") // the rollback's confirmation
	got, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("the quick start as printed failed: %v\n%s\n--- script ---\n%s", err, got, script)
	}
	for _, want := range []string{
		"Type the deployment id (" + demo + ") to roll back",
		"rolled back " + demo + ": revision 3 restores revision 1",
		fmt.Sprintf("deployed %s revision 4", demo),
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("the quick start's output lacks %q:\n%s", want, got)
		}
	}
}
