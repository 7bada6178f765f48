package composesmoke

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
)

// TestComposeStackDeploysAndRollsBack starts docker-compose.yml as it ships,
// with the override that swaps in local stand-ins for the images that
// cannot be pulled here, waits for every healthcheck the file declares,
// then deploys twice and rolls back through `rewind serve` with a token,
// as a user of the stack would, and reads the history back.
func TestComposeStackDeploysAndRollsBack(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	// Making the stand-in images and the static binaries is a cold build
	// on a fresh machine (a Debian root file system, every package compiled
	// static with -trimpath: minutes on 2 loaded cores, then cached); the
	// stack itself gets its own 12 minutes after that.
	bctx, bcancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer bcancel()
	began := time.Now()
	run(t, bctx, root, nil, "scripts/compose-images.sh")
	t.Logf("stand-in images ready in %.1fs", time.Since(began).Seconds())
	rewindCtx := rewindImageContext(t, bctx, root)
	t.Logf("static rewind binaries built in %.1fs", time.Since(began).Seconds())
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()

	data, err := os.MkdirTemp("/tmp", "rewind-compose-smoke-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(data, 0o755)
	t.Cleanup(func() { os.RemoveAll(data) })
	ports := map[string]string{}
	for _, p := range []string{"ES", "TEMPORAL", "UI", "REGISTRY", "API", "METRICS"} {
		ports[p] = itest.FreePort(t)
	}
	project := fmt.Sprintf("rewindsmoke%d", time.Now().UnixNano()%1_000_000)
	env := []string{
		"COMPOSE_PROJECT_NAME=" + project,
		"REWIND_SMOKE_REWIND_CONTEXT=" + rewindCtx,
		"REWIND_COMPOSE_DATA_DIR=" + data,
		"REWIND_COMPOSE_DOCKER_SOCKET=" + dockerSocket(t),
	}
	for p, port := range ports {
		env = append(env, "REWIND_COMPOSE_"+p+"_PORT="+port)
	}
	compose := composeCommand(root)
	dc := func(args ...string) string {
		return run(t, ctx, root, env, append(append([]string{}, compose...), args...)...)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs := exec.Command(compose[0], append(compose[1:], "logs", "--no-color", "--tail", "40")...)
			logs.Dir, logs.Env = root, append(os.Environ(), env...)
			out, _ := logs.CombinedOutput()
			t.Logf("compose logs:\n%s", out)
		}
		down := exec.Command(compose[0], append(compose[1:], "down", "-v", "--remove-orphans", "-t", "5")...)
		down.Dir, down.Env = root, append(os.Environ(), env...)
		if out, err := down.CombinedOutput(); err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
	})

	start := time.Now()
	dc("up", "-d", "--build")
	t.Logf("`up --build` returned in %.1fs", time.Since(start).Seconds())
	for _, svc := range []string{"postgresql", "elasticsearch", "temporal", "registry", "rewind-worker", "rewind-serve"} {
		waitHealthy(t, ctx, strings.TrimSpace(dc("ps", "-q", svc)), svc)
	}
	t.Logf("stack healthy %.1fs after `up`", time.Since(start).Seconds())
	for _, job := range []string{"temporal-schema", "temporal-namespace"} {
		id := strings.TrimSpace(dc("ps", "-q", job))
		if code := inspect(t, id, "{{.State.ExitCode}}"); code != "0" {
			t.Fatalf("%s exited %s", job, code)
		}
	}

	// Administration store-direct inside serve's container, as the README
	// says the first administrator is made; everything else remotely.
	dep := itest.UniqueID("smoke")
	itest.RemoveContainers(t, dep)
	admin := func(args ...string) string {
		return dc(append([]string{"exec", "-T", "rewind-serve", "/usr/local/bin/rewind"}, args...)...)
	}
	admin("deployment", "create", dep, "--dag-source", "image", "--rollback-enabled",
		"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
	admin("grant", "alice", "--deployment", dep, "--role", "editor")
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(admin("token", "create", "--user", "alice", "--output", "json")), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token create: %v", err)
	}

	// Two stand-in Airflow images, pushed to the stack's own registry.
	registry := "127.0.0.1:" + ports["REGISTRY"]
	var refs []string
	for i, tag := range []string{"9.1.0", "9.1.0-healthcheck"} {
		ref := fmt.Sprintf("%s/smoke/airflow:r%d", registry, i+1)
		run(t, ctx, root, nil, "docker", "tag", itest.Image(t, tag), ref)
		run(t, ctx, root, nil, "docker", "push", "-q", ref)
		t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })
		refs = append(refs, ref)
	}

	cli := filepath.Join(root, "bin", "rewind")
	remote := []string{"REWIND_API_URL=http://127.0.0.1:" + ports["API"], "REWIND_TOKEN=" + tok.Token, "REWIND_DATA_DIR=" + t.TempDir()}
	rw := func(args ...string) string { return run(t, ctx, root, remote, append([]string{cli}, args...)...) }
	rw("deploy", dep, "--image", refs[0], "--description", "first", "--wait")
	rw("deploy", dep, "--image", refs[1], "--description", "second", "--wait")
	rw("rollback", dep, "--to", "1", "--description", "smoke: back to the first", "--yes", "--wait")

	var revs []domain.Revision
	if err := json.Unmarshal([]byte(rw("history", dep, "--output", "json")), &revs); err != nil {
		t.Fatal(err)
	}
	if len(revs) != 3 {
		t.Fatalf("history has %d revisions, want 3: %+v", len(revs), revs)
	}
	top, first := revs[0], revs[2]
	if top.Number != 3 || top.RollbackOf != 1 || top.Status != domain.StatusDeployed || top.CreatedBy != "alice" {
		t.Errorf("top revision: %+v", top)
	}
	if top.ImageDigest == "" || top.ImageDigest != first.ImageDigest || top.ImageDigest == revs[1].ImageDigest {
		t.Errorf("rollback digest %q, first %q, second %q", top.ImageDigest, first.ImageDigest, revs[1].ImageDigest)
	}
	// The deployment's scheduler runs the first image again, on this host.
	id := strings.TrimSpace(run(t, ctx, root, nil, "docker", "ps", "-q", "--filter", "label=rewind.deployment="+dep,
		"--filter", "label=rewind.component=scheduler"))
	if out := inspect(t, id, "{{.Config.Image}}"); !strings.HasSuffix(out, "@"+first.ImageDigest) {
		t.Errorf("scheduler runs %q, want the first revision's digest %s", out, first.ImageDigest)
	}
}

// rewindImageContext is the build context of the stand-in rewind image:
// the two binaries built static, as the production Dockerfile builds them.
func rewindImageContext(t *testing.T, ctx context.Context, root string) string {
	dir := t.TempDir()
	for bin, pkg := range map[string]string{"rewind": "./starter", "rewind-worker": "./worker"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, bin), pkg)
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	fs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"tmp", "etc/ssl/certs", "var/lib/rewind"} {
		if err := os.MkdirAll(filepath.Join(fs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(fs, "tmp"), 0o1777|os.ModeSticky)
	os.WriteFile(filepath.Join(fs, "etc/passwd"), []byte("root:x:0:0:root:/root:/sbin/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(fs, "etc/group"), []byte("root:x:0:\n"), 0o644)
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		os.WriteFile(filepath.Join(fs, "etc/ssl/certs/ca-certificates.crt"), ca, 0o644)
	}
	df, err := os.ReadFile(filepath.Join(root, "deploy/compose/smoke/rewind.Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rewind.Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, ctx context.Context, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func composeCommand(root string) []string {
	files := []string{"-f", filepath.Join(root, "docker-compose.yml"), "-f", filepath.Join(root, "deploy/compose/smoke/docker-compose.smoke.yml")}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return append([]string{"docker", "compose"}, files...)
	}
	return append([]string{"docker-compose"}, files...)
}

func inspect(t *testing.T, id, format string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--format", format, id).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", id, err)
	}
	return strings.TrimSpace(string(out))
}

// waitHealthy waits for a container's own healthcheck to pass: the stack is
// up when the file's healthchecks say so, not when a port opens.
func waitHealthy(t *testing.T, ctx context.Context, id, svc string) {
	t.Helper()
	if id == "" {
		t.Fatalf("%s has no container", svc)
	}
	for {
		switch s := inspect(t, id, "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"); s {
		case "healthy":
			return
		case "none":
			t.Fatalf("%s has no healthcheck", svc)
		}
		if st := inspect(t, id, "{{.State.Status}}"); st == "exited" || st == "dead" {
			t.Fatalf("%s %s before it was healthy", svc, st)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not healthy in time", svc)
		case <-time.After(time.Second):
		}
	}
}

func dockerSocket(t *testing.T) string {
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		return strings.TrimPrefix(h, "unix://")
	}
	return "/var/run/docker.sock"
}
