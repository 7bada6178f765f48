package cli

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/store"
)

// pulledDigest pulls a test image and returns its repo digest.
func pulledDigest(t *testing.T, ref string) string {
	t.Helper()
	if out, err := exec.Command("docker", "pull", "-q", ref).CombinedOutput(); err != nil {
		t.Fatalf("docker pull %s: %v\n%s", ref, err, out)
	}
	out, err := exec.Command("docker", "image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", ref).Output()
	if err != nil {
		t.Fatal(err)
	}
	repo := ref[:strings.LastIndex(ref, ":")]
	for _, rd := range strings.Fields(string(out)) {
		if d, ok := strings.CutPrefix(rd, repo+"@"); ok {
			return d
		}
	}
	t.Fatalf("no repo digest for %s in %q", ref, out)
	return ""
}

// seedDeployed records a revision that deployed fine a week ago — an image
// that started then — the way a deployment's history holds it. Tests use
// it for targets that would not deploy today.
func seedDeployed(t *testing.T, st *store.Store, dep, tag, runtimeVersion, airflowVersion string) domain.Revision {
	t.Helper()
	ctx := context.Background()
	ref := itest.Image(t, tag)
	r, err := st.CreateRevision(ctx, domain.Revision{DeploymentID: dep, CreatedAt: time.Now().Add(-7 * 24 * time.Hour), CreatedBy: "alice",
		Description: "deployed last week", Type: domain.DeployImageAndDAG, ImageRef: ref, WorkflowID: "seed/" + dep, RunID: "seed-" + tag})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetImage(ctx, dep, r.Number, pulledDigest(t, ref), runtimeVersion, airflowVersion); err != nil {
		t.Fatal(err)
	}
	r, err = st.FinishRevision(ctx, store.Finish{DeploymentID: dep, Number: r.Number, Status: domain.StatusDeployed, At: time.Now().Add(-7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rows reads one text column of a table, or nil when the table is gone.
func rows(t *testing.T, db *pgx.Conn, query string) []string {
	t.Helper()
	rs, err := db.Query(context.Background(), query)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return nil
		}
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var v string
		if err := rs.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// containerEnv is a running container's environment, KEY=VALUE each.
func containerEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--format", "{{range .Config.Env}}{{println .}}{{end}}", name).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", name, err)
	}
	return string(out)
}

// stateOf is a container's state and exit code, "" when it does not exist.
func stateOf(name string) (string, string) {
	out, err := exec.Command("docker", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name).Output()
	if err != nil {
		return "", ""
	}
	f := strings.Fields(string(out))
	return f[0], f[1]
}

// waitRevision waits until a deployment's newest revision has left
// INITIALIZED, and returns it.
func waitRevision(t *testing.T, dep string, number int, within time.Duration) domain.Revision {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		revs := historyJSON(t, dep)
		if len(revs) > 0 && revs[0].Number == number && revs[0].Status != domain.StatusInitialized {
			return revs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision %d of %s not finished within %s: %+v", number, dep, within, revs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func deploymentJSON(t *testing.T, dep string) domain.Deployment {
	t.Helper()
	var d domain.Deployment
	if err := json.Unmarshal([]byte(mustRewind(t, "deployment", "show", dep, "--output", "json")), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// killDuringOneOff waits (90 s at most) for the deployment's one-off named
// oneOff to run, SIGKILLs the worker w, checks the one-off outlives it, and
// starts a fresh worker from bin: what a crash in the middle of a metadata
// migration or downgrade looks like.
func killDuringOneOff(t *testing.T, w *itest.WorkerProcess, bin, oneOff, what string) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st, _ := stateOf(oneOff); st == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the %s never started", what)
		}
	}
	w.Kill()
	time.Sleep(2 * time.Second)
	if st, _ := stateOf(oneOff); st != "running" {
		t.Fatalf("the migration must outlive the worker that started it: %s", st)
	}
	itest.StartWorkerProcess(t, bin, "")
}
