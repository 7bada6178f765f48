package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/rewindhq/rewind/internal/domain"
)

// These tests run against the real Docker Engine (DOCKER_HOST) and a real
// registry holding the test images. Start them with:
//
//	scripts/registry.sh start /tmp/rewind-registry
//	scripts/test-images.sh
//	REWIND_TEST_REGISTRY=127.0.0.1:5000 go test ./internal/runtime/
//
// Missing pieces fail the run with that instruction rather than skipping:
// a green run must mean the Docker side was exercised.

var registry = "127.0.0.1:5000"

func TestMain(m *testing.M) {
	if v := os.Getenv("REWIND_TEST_REGISTRY"); v != "" {
		registry = v
	}
	if err := preflight(); err != nil {
		fmt.Fprintf(os.Stderr, "internal/runtime tests need Docker and the test registry: %v\n"+
			"start them with: scripts/registry.sh start DIR && scripts/test-images.sh (REWIND_TEST_REGISTRY=%s)\n", err, registry)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func preflight() error {
	hc := http.Client{Timeout: 3 * time.Second}
	resp, err := hc.Get("http://" + registry + "/v2/")
	if err != nil {
		return fmt.Errorf("registry %s is not reachable (REWIND_TEST_REGISTRY): %w", registry, err)
	}
	resp.Body.Close()
	for _, tag := range []string{"9.1.0", "8.0.0", "4.2.0", "9.1.0-healthcheck", "broken", "8.0.0-broken", "8.0.0-unhealthy", "9.1.0-labelled", "9.1.0-badversion"} {
		req, _ := http.NewRequest(http.MethodHead, "http://"+registry+"/v2/rewind-test/airflow/manifests/"+tag, nil)
		req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("test image rewind-test/airflow:%s is not in registry %s (HTTP %d)", tag, registry, resp.StatusCode)
		}
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		return fmt.Errorf("docker daemon: %w", err)
	}
	return nil
}

func testImage(tag string) string { return registry + "/rewind-test/airflow:" + tag }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type env struct {
	t      *testing.T
	rt     *Runtime
	ctx    context.Context
	dep    domain.Deployment
	bundle string
}

const bundleVersion = "2023-11-16T14:00:00.0000000Z"

// setup gives a test a Runtime, a unique deployment with a DAG bundle, and
// removes every container labelled with that deployment at the end.
func setup(t *testing.T, components ...domain.Component) *env {
	t.Helper()
	root := t.TempDir()
	rt, err := New(Config{BundleRoot: root, DrainTimeout: time.Minute, StopTimeout: 10 * time.Second, HealthTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	id := "t-" + randHex(4)
	if len(components) == 0 {
		components = []domain.Component{
			{Name: "scheduler", Command: "airflow scheduler"},
			{Name: "api-server", Command: "airflow api-server"},
			{Name: "worker", Command: "airflow celery worker"},
		}
	}
	dep := domain.Deployment{ID: id, DagSource: domain.DagSourceBundle, Components: components,
		Env: map[string]string{"REWIND_TEST_TASK_SECONDS": "0.5", "MY_SETTING": "from-deployment"}}
	dir := filepath.Join(root, id, "bundles", bundleVersion)
	if err := os.MkdirAll(filepath.Join(dir, "dags"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "VERSION"), []byte(bundleVersion+"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "dags", "example.py"), []byte("# dag\n"), 0o644)
	if err := os.Symlink(filepath.Join("bundles", bundleVersion), filepath.Join(root, id, "current")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		c := context.Background()
		cs, _ := rt.cli.ContainerList(c, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelDeployment+"="+id))})
		for _, x := range cs {
			_ = rt.cli.ContainerRemove(c, x.ID, container.RemoveOptions{Force: true})
		}
		rt.Close()
	})
	return &env{t: t, rt: rt, ctx: ctx, dep: dep, bundle: root}
}

func (e *env) pull(tag string) Image {
	e.t.Helper()
	img, err := e.rt.Pull(e.ctx, testImage(tag), "", nil)
	if err != nil {
		e.t.Fatalf("pull %s: %v", tag, err)
	}
	return img
}

func (e *env) swap(img Image, rev int) SwapReport {
	e.t.Helper()
	rep, err := e.rt.Swap(e.ctx, e.dep, img, SwapOptions{Revision: rev})
	if err != nil {
		e.t.Fatalf("swap to %s (revision %d): %v", img.Ref, rev, err)
	}
	return rep
}

// active returns the active container of each component, failing unless
// there is exactly one per component and no other container but draining
// workers.
func (e *env) active() map[string]Container {
	e.t.Helper()
	cs, err := e.rt.Containers(e.ctx, e.dep.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]Container{}
	for _, c := range cs {
		switch c.Role {
		case "active":
			if _, dup := out[c.Component]; dup {
				e.t.Fatalf("two active containers for %s", c.Component)
			}
			out[c.Component] = c
		case "draining":
		default:
			e.t.Fatalf("unexpected container %s (role %s, state %s)", c.Name, c.Role, c.State)
		}
	}
	if len(out) != len(e.dep.Components) {
		e.t.Fatalf("want one active container per component (%d), have %d: %v", len(e.dep.Components), len(out), cs)
	}
	return out
}

func (e *env) inspect(id string) container.InspectResponse {
	e.t.Helper()
	ci, err := e.rt.cli.ContainerInspect(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ci
}

// exec runs a command in a container (no shell in the scratch images).
func (e *env) exec(id string, cmd ...string) string {
	e.t.Helper()
	ex, err := e.rt.cli.ContainerExecCreate(e.ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		e.t.Fatal(err)
	}
	att, err := e.rt.cli.ContainerExecAttach(e.ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	defer att.Close()
	var buf bytes.Buffer
	_, _ = stdcopy.StdCopy(&buf, &buf, att.Reader)
	return buf.String()
}

func (e *env) waitExit(id string) int {
	e.t.Helper()
	waitC, errC := e.rt.cli.ContainerWait(e.ctx, id, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		return int(w.StatusCode)
	case err := <-errC:
		e.t.Fatalf("wait %s: %v", short(id), err)
	}
	return -1
}

// pushAs tags a local image as ref and pushes it, returning nothing; the
// registry's answer is read to the end so the push is complete.
func pushAs(t *testing.T, rt *Runtime, ctx context.Context, src, ref string) {
	t.Helper()
	if err := rt.cli.ImageTag(ctx, src, ref); err != nil {
		t.Fatal(err)
	}
	rc, err := rt.cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: "e30="})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, _ := io.ReadAll(rc)
	if strings.Contains(string(out), `"error"`) {
		t.Fatalf("push %s: %s", ref, out)
	}
}
