package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// gitRepo makes a git work tree holding DAG files, committed.
func gitRepo(t *testing.T, files map[string]string, subject string) string {
	t.Helper()
	dir := t.TempDir()
	for n, b := range files {
		os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644)
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"remote", "add", "origin", "https://ci-bot:t0ken@git.example.com/data/etl.git"},
		{"add", "."}, {"-c", "user.name=Dana Dev", "-c", "user.email=dana@example.com", "commit", "-q", "-m", subject}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// Issue 16 through the CLI: a deploy from a git work tree records its
// provenance; a rollback's plan lists (and with --diff shows) what changes
// in the DAGs; after rolling back, re-deploying the image rolled back from
// is refused with RolledBack, a new image is fine, and --force with a
// description overrides the guard, recorded.
func TestGitProvenanceGuardAndDiffs(t *testing.T) {
	s := startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("git")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "bundle", "--dag-deploy", "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		a := gitRepo(t, map[string]string{"etl.py": "extract()\nload()\n", "old.py": "# retired soon\n"}, "First ETL")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--dags", a, "--wait")
		r1 := m.historyJSON(dep)[0]
		if r1.Git == nil || len(r1.Git.Commit) != 40 || r1.Git.Branch != "main" || r1.Git.Author != "Dana Dev <dana@example.com>" ||
			r1.Git.Subject != "First ETL" || r1.Description != "First ETL" || r1.Git.Remote != "https://git.example.com/data/etl.git" {
			t.Fatalf("provenance (credentials stripped from the remote, subject as description): %+v %+v", r1, r1.Git)
		}
		b := gitRepo(t, map[string]string{"etl.py": "extract()\ntransform()\nload()\n", "new.py": "# new\n"}, "Add a transform")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--dags", b, "--wait")
		if out := m.mustRewind("history", dep); !strings.Contains(out, r1.Git.Commit[:10]) {
			t.Fatalf("history shows the commit:\n%s", out)
		}

		plan := m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "the transform broke", "--dry-run", "--diff")
		for _, want := range []string{"1 added, 1 removed, 1 changed", "  + old.py", "  - new.py", "  ~ etl.py", "-transform()"} {
			if !strings.Contains(plan, want) {
				t.Fatalf("plan lacks %q:\n%s", want, plan)
			}
		}
		m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "the transform broke", "--yes", "--wait")
		if out := m.mustRewind("history", dep); !strings.Contains(out, "guarded since #3") {
			t.Fatalf("history must say the deployment is guarded:\n%s", out)
		}
		r := m.as("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--no-git", "--wait")
		if r.code != ExitRefused || !strings.Contains(r.stderr, "RolledBack") || !strings.Contains(r.stderr, "rolled back by revision 3 (alice") {
			t.Fatalf("re-deploying the image rolled back from: %d %s", r.code, r.stderr)
		}
		m.recordHistory(s, workflows.ChangeWorkflowID(dep), "deploy-refused")
		r = m.as("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--no-git", "--force", "--wait")
		if r.code != ExitRefused || !strings.Contains(r.stderr, "--description") {
			t.Fatalf("--force without a description: %d %s", r.code, r.stderr)
		}
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--no-git", "--force", "--description", "the bug was in the data", "--wait")
		r4 := m.historyJSON(dep)[0]
		if r4.Number != 4 || r4.ForcedPast != 3 || r4.Description != "the bug was in the data" {
			t.Fatalf("the override is recorded: %+v", r4)
		}
		if n := len(m.historyJSON(dep)); n != 4 {
			t.Fatalf("refused deploys recorded revisions: %d", n)
		}
		// Something new is always fine.
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "8.0.0"), "--no-git", "--wait")
	})
}

// Issue 28: the guard never traps the fix because of where a command ran.
// Deploys run from inside an unrelated git work tree (the quick start runs
// them from rewind's own checkout) record no commit of it; after a
// rollback, a different image from the same directory deploys. A commit CI
// names is matched: the same commit is refused, naming it; a new commit
// with a new image goes through.
func TestRollbackGuardNeverTrapsAFixFromTheSameDirectory(t *testing.T) {
	startStack(t)
	t.Chdir(gitRepo(t, map[string]string{"README": "not the DAGs\n"}, "Unrelated checkout"))
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("trap")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "image", "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait")
		if r := m.historyJSON(dep)[0]; r.Git != nil {
			t.Fatalf("a deploy recorded the current directory's commit: %+v", r.Git)
		}
		m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "bad deploy", "--yes", "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-sick"), "--description", "the fix", "--wait")
		if r := m.historyJSON(dep)[0]; r.Number != 4 || r.Status != "DEPLOYED" || r.ForcedPast != 0 {
			t.Fatalf("the fix: %+v", r)
		}

		// CI names the commit: the rolled-back commit is refused by name.
		bad, fix := "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
		t.Setenv("GITHUB_SHA", bad)
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait")
		m.mustAs("alice", "rollback", dep, "--to", "4", "--description", "bad again", "--yes", "--wait")
		r := m.as("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		if r.code != ExitRefused || !strings.Contains(r.stderr, "RolledBack") || !strings.Contains(r.stderr, "git commit "+bad) {
			t.Fatalf("CI re-deploying the rolled-back commit: %d %s", r.code, r.stderr)
		}
		t.Setenv("GITHUB_SHA", fix)
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		if r := m.historyJSON(dep)[0]; r.Git == nil || r.Git.Commit != fix {
			t.Fatalf("the CI fix's provenance: %+v", r.Git)
		}
	})
}
