package cli

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// Provenance comes from what is deployed: the work tree of --dags, a CI
// system's variables, the flags; never from the current directory.
func TestProvenanceSources(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed: apt-get install git")
	}
	ctx := context.Background()
	repo := gitRepo(t, map[string]string{"etl.py": "x\n"}, "DAGs")
	none := func(string) string { return "" }
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	t.Chdir(repo) // the current directory is a work tree: it must not count
	if g := (gitFlags{}).provenance(ctx, "", none); g != nil {
		t.Fatalf("no --dags, no CI, no flags: %+v, want none", g)
	}
	g := (gitFlags{}).provenance(ctx, repo, none)
	if g == nil || g.Source != domain.GitFromWorkTree || len(g.Commit) != 40 || g.Named() {
		t.Fatalf("the work tree of --dags: %+v", g)
	}
	gh := env(map[string]string{"GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567", "GITHUB_REF_NAME": "main",
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "data/etl", "GITLAB_SHA": "ignored"})
	g = (gitFlags{}).provenance(ctx, repo, gh)
	if g == nil || g.Source != "ci:GITHUB_SHA" || g.Commit != "0123456789abcdef0123456789abcdef01234567" || g.Branch != "main" ||
		g.Remote != "https://github.com/data/etl" || g.Author != "" || !g.Named() {
		t.Fatalf("GitHub Actions over the work tree: %+v", g)
	}
	g = (gitFlags{}).provenance(ctx, "", env(map[string]string{"CI_COMMIT_SHA": "abcdef1", "CI_PROJECT_URL": "https://bot:tok@gitlab.example.com/a/b"}))
	if g == nil || g.Source != "ci:CI_COMMIT_SHA" || g.Remote != "https://gitlab.example.com/a/b" {
		t.Fatalf("GitLab, credentials stripped: %+v", g)
	}
	g = (gitFlags{commit: "fedcba9"}).provenance(ctx, repo, gh)
	if g == nil || g.Source != domain.GitFromFlags || g.Commit != "fedcba9" || g.Branch != "main" {
		t.Fatalf("--git-commit over CI: %+v", g)
	}
	if g := (gitFlags{off: true}).provenance(ctx, repo, gh); g != nil {
		t.Fatalf("--no-git: %+v", g)
	}
}

// The commit time lead time starts from (issue 30): the work tree's
// committer time, a CI variable in RFC 3339, --git-commit-time over both;
// a commit named by CI or a flag is looked up in the DAGs' work tree, and
// the work tree's time is never given to another commit.
func TestProvenanceCommitTime(t *testing.T) {
	ctx := context.Background()
	repo := gitRepo(t, map[string]string{"etl.py": "x\n"}, "DAGs")
	none := func(string) string { return "" }
	head := gitOutput(ctx, repo, "rev-parse", "HEAD")
	want := commitTime(gitOutput(ctx, repo, "show", "-s", "--format=%cI", "HEAD"))
	if want == nil {
		t.Fatal("no committer time in the test repository")
	}
	g := (gitFlags{}).provenance(ctx, repo, none)
	if g == nil || g.CommittedAt == nil || !g.CommittedAt.Equal(*want) {
		t.Fatalf("work tree: %+v, want %s", g, want)
	}
	gl := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	g = (gitFlags{}).provenance(ctx, "", gl(map[string]string{"CI_COMMIT_SHA": "abcdef1", "CI_COMMIT_TIMESTAMP": "2026-01-02T03:04:05+01:00"}))
	if g == nil || g.CommittedAt == nil || !g.CommittedAt.Equal(time.Date(2026, 1, 2, 2, 4, 5, 0, time.UTC)) {
		t.Fatalf("GitLab's CI_COMMIT_TIMESTAMP: %+v", g)
	}
	g = (gitFlags{}).provenance(ctx, repo, gl(map[string]string{"GITHUB_SHA": head}))
	if g == nil || g.CommittedAt == nil || !g.CommittedAt.Equal(*want) {
		t.Fatalf("GitHub's commit found in the DAGs' work tree: %+v", g)
	}
	if g := (gitFlags{commit: "fedcba9"}).provenance(ctx, repo, none); g == nil || g.CommittedAt != nil {
		t.Fatalf("--git-commit of a commit the work tree lacks keeps no time: %+v", g)
	}
	g = (gitFlags{commit: "fedcba9", committedAt: "2026-03-04T05:06:07Z"}).provenance(ctx, repo, none)
	if g == nil || g.CommittedAt == nil || !g.CommittedAt.Equal(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)) {
		t.Fatalf("--git-commit-time: %+v", g)
	}
	if g := (gitFlags{}).provenance(ctx, repo, gl(map[string]string{"GITHUB_SHA": "--output=/tmp/x"})); g == nil || g.CommittedAt != nil {
		t.Fatalf("a hostile commit is never passed to git: %+v", g)
	}
	for _, bad := range []string{"yesterday", "2026-13-01T00:00:00Z", "1700000000"} {
		if err := (gitFlags{committedAt: bad}).check(); err == nil {
			t.Errorf("--git-commit-time %q accepted", bad)
		}
	}
}
