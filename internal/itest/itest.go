// Package itest starts the real parts integration tests run against — a
// Temporal dev server, a rewind worker — and names the test images, so the
// CLI, API and fault tests share one way of doing it. Every helper fails
// the test, never skips it, when `make test` has not provided a service.
package itest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"

	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/store"
)

// TemporalCLI is the Temporal CLI binary `make test` builds and caches.
func TemporalCLI(t testing.TB) string {
	t.Helper()
	p := os.Getenv("REWIND_TEMPORAL_CLI")
	if p == "" {
		t.Fatal("REWIND_TEMPORAL_CLI is not set: run the tests with `make test`, which builds the Temporal CLI")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Temporal CLI at %s: %v", p, err)
	}
	return p
}

// Server is a running dev server and a client of it.
type Server struct {
	Addr, TaskQueue string
	Client          client.Client
	UI              string // the Temporal UI, when started with it
}

// StartServer starts a dev server and points the environment (for the CLI
// and any worker) at it, with a fresh data directory and rollbacks enabled.
func StartServer(t *testing.T) *Server {
	t.Helper()
	return startServer(t, testsuite.DevServerOptions{})
}

// DevServerArgs are the settings rewind runs a single-shard dev server
// with (scripts/run.sh and the benchmarks too): the transfer queue, which
// hands every activity and workflow task to matching, may poll its shard
// 200 times a second instead of 20, or each step of a change waits about
// 50 ms for its turn (docs/temporal-server.md).
var DevServerArgs = []string{"--dynamic-config-value", "history.transferProcessorMaxPollRPS=200"}

// StartServerWithUI is StartServer with the dev server's Temporal UI on;
// UI is its address (http://127.0.0.1:port).
func StartServerWithUI(t *testing.T) *Server {
	t.Helper()
	port := FreePort(t)
	s := startServer(t, testsuite.DevServerOptions{EnableUI: true, UIPort: port})
	s.UI = "http://127.0.0.1:" + port
	return s
}

func startServer(t *testing.T, opts testsuite.DevServerOptions) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	opts.ExistingPath, opts.LogLevel = TemporalCLI(t), "error"
	opts.ExtraArgs = append(opts.ExtraArgs, DevServerArgs...)
	opts.ClientOptions = &client.Options{Namespace: "default", Logger: NopLogger{}}
	srv, err := testsuite.StartDevServer(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		srv.Stop()
	})
	s := &Server{Addr: srv.FrontendHostPort(), TaskQueue: "rewind-it", Client: srv.Client()}
	t.Setenv("REWIND_TEMPORAL_ADDRESS", s.Addr)
	t.Setenv("REWIND_TASK_QUEUE", s.TaskQueue)
	t.Setenv("REWIND_DATA_DIR", t.TempDir())
	t.Setenv("REWIND_DATABASE_URL", "")
	t.Setenv("REWIND_ROLLBACKS_ENABLED", "true")
	// The tests' webhook receivers listen on loopback, and their example
	// hosts resolve nowhere: allowed, as an administrator would. The
	// hostile battery clears this to test the refusals.
	t.Setenv("REWIND_WEBHOOK_ALLOW_HOSTS", "127.0.0.1,hooks.example.com")
	return s
}

// Config loads the configuration the environment now names.
func Config(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// StartWorker starts an in-process worker on the current configuration and
// stops it when the test ends (before the server, which started first).
func StartWorker(t *testing.T) *app.Running {
	t.Helper()
	w, err := app.StartWorker(context.Background(), Config(t), QuietSlog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return w
}

// Image names a test runtime image in the registry `make test` starts.
func Image(t testing.TB, tag string) string {
	t.Helper()
	reg := os.Getenv("REWIND_TEST_REGISTRY")
	if reg == "" {
		t.Fatal("REWIND_TEST_REGISTRY is not set: run the tests with `make test`, which starts the registry and pushes the test images")
	}
	return reg + "/rewind-test/airflow:" + tag
}

var seq atomic.Int64

// UniqueID gives each test its own deployment, so container names never
// collide with another test's or a previous run's.
func UniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d%d", prefix, time.Now().UnixNano()%1_000_000_000, seq.Add(1)%10)
}

// RemoveContainers deletes a deployment's containers when the test ends.
func RemoveContainers(t testing.TB, deploymentID string) {
	t.Cleanup(func() {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=rewind.deployment="+deploymentID).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
	})
}

// QuietSlog logs warnings and errors only, so test output stays readable.
func QuietSlog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// NopLogger drops the Temporal SDK's client logs.
type NopLogger struct{}

func (NopLogger) Debug(string, ...any) {}
func (NopLogger) Info(string, ...any)  {}
func (NopLogger) Warn(string, ...any)  {}
func (NopLogger) Error(string, ...any) {}

// BuildWorker builds rewind-worker for tests that run it as a process.
func BuildWorker(t testing.TB, repoRoot string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rewind-worker")
	if out, err := exec.Command("go", "build", "-o", bin, filepath.Join(repoRoot, "worker")).CombinedOutput(); err != nil {
		t.Fatalf("go build worker: %v\n%s", err, out)
	}
	return bin
}

// WorkerProcess is rewind-worker running as its own process, so a test can
// SIGKILL it the way a crash or an OOM kill would.
type WorkerProcess struct {
	cmd     *exec.Cmd
	logPath string
}

// Logged says whether one line of the worker's log holds every part.
func (w *WorkerProcess) Logged(parts ...string) bool {
	b, _ := os.ReadFile(w.logPath)
	for _, line := range strings.Split(string(b), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}

// StartWorkerProcess starts bin with REWIND_FAULTS=faults and returns once
// it has logged that it is ready.
func StartWorkerProcess(t testing.TB, bin, faults string) *WorkerProcess {
	t.Helper()
	return StartWorkerProcessEnv(t, bin, faults)
}

// StartWorkerProcessEnv is StartWorkerProcess with variables of its own on
// top of the test's environment (a host's DOCKER_HOST, REWIND_HOST and
// data directory).
func StartWorkerProcessEnv(t testing.TB, bin, faults string, env ...string) *WorkerProcess {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "worker.log")
	log, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), "REWIND_FAULTS="+faults, "REWIND_LOG_LEVEL=info"), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &WorkerProcess{cmd: cmd, logPath: logPath}
	t.Cleanup(func() { w.Kill(); log.Close() })
	for deadline := time.Now().Add(45 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, _ := os.ReadFile(logPath); strings.Contains(string(b), `"worker started"`) {
			return w
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("worker did not start:\n%s", b)
		}
	}
}

// Terminate sends SIGTERM, as an orchestrator stopping the worker does,
// and waits for it to exit.
func (w *WorkerProcess) Terminate() {
	if w != nil && w.cmd.ProcessState == nil {
		w.cmd.Process.Signal(syscall.SIGTERM)
		w.cmd.Wait()
	}
}

// Pid is the worker's process id, which its Temporal identity starts with.
func (w *WorkerProcess) Pid() int { return w.cmd.Process.Pid }

// Kill sends SIGKILL and reaps the process.
func (w *WorkerProcess) Kill() {
	if w != nil && w.cmd.ProcessState == nil {
		w.cmd.Process.Signal(syscall.SIGKILL)
		w.cmd.Wait()
	}
}

// Store opens the store the configuration names, closed when the test ends.
func Store(t testing.TB, cfg *config.Config) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Client dials the Temporal server the configuration names through the
// same wiring as the worker and the CLI (TLS, API key, payload
// encryption), closed when the test ends.
func Client(t testing.TB, cfg *config.Config) client.Client {
	t.Helper()
	tc, err := app.Dial(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return tc
}
