package cli

import (
	"context"
	"os/exec"
	"testing"

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
