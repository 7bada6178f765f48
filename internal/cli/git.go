package cli

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// gitFlags override what a work tree says about a deploy's provenance.
type gitFlags struct {
	commit, branch, author, remote, subject string
	// committedAt is --git-commit-time, RFC 3339 (check reads it).
	committedAt string
	off         bool
}

// check refuses a malformed --git-commit-time before anything runs.
func (f gitFlags) check() error {
	if f.committedAt == "" {
		return nil
	}
	if _, err := time.Parse(time.RFC3339, f.committedAt); err != nil {
		return fmt.Errorf("--git-commit-time %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z (git show -s --format=%%cI)", clipText(f.committedAt, 40))
	}
	return nil
}

// commitTime reads an RFC 3339 commit time; nil when empty or malformed
// (a CI variable in another format is not guessed at).
func commitTime(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return nil
	}
	t = t.UTC()
	return &t
}

// provenance is the deploy's git provenance, from what describes what is
// deployed and never from an unrelated current directory: the work tree
// that holds the --dags folder, then the commit a CI system names in its
// variables (ciProviders), then the --git-* flags, each overriding the one
// before. nil without a commit. Source says where the commit came from: the
// rollback guard matches commits only when a person or CI named them
// (domain.GitFromWorkTree is not enough).
func (f gitFlags) provenance(ctx context.Context, dags string, getenv func(string) string) *domain.GitInfo {
	if f.off {
		return nil
	}
	g := domain.GitInfo{}
	if dags != "" {
		g = workTree(ctx, dags)
	}
	fromTree := g
	for _, p := range ciProviders {
		if sha := getenv(p.commit); sha != "" {
			g = domain.GitInfo{Commit: sha, Source: "ci:" + p.commit, Branch: getenv(p.branch), Subject: getenv(p.subject), Author: getenv(p.author)}
			if p.time != "" {
				g.CommittedAt = commitTime(getenv(p.time))
			}
			if p.remote != nil {
				g.Remote = p.remote(getenv)
			}
			break
		}
	}
	for _, o := range []struct {
		flag string
		v    *string
	}{{f.commit, &g.Commit}, {f.branch, &g.Branch}, {f.author, &g.Author}, {f.remote, &g.Remote}, {f.subject, &g.Subject}} {
		if o.flag != "" {
			*o.v = o.flag
		}
	}
	if f.commit != "" {
		g.Source = domain.GitFromFlags
		if f.commit != fromTree.Commit {
			g.CommittedAt = nil // the work tree's time is another commit's
		}
	}
	if g.Commit == "" {
		return nil
	}
	if f.committedAt != "" {
		g.CommittedAt = commitTime(f.committedAt)
	} else if g.CommittedAt == nil && dags != "" && hexCommit.MatchString(g.Commit) { // never an option to git
		// A commit CI or a flag named may be in the DAGs' work tree too:
		// its committer time is the lead time's start (docs/metrics.md).
		g.CommittedAt = commitTime(gitOutput(ctx, dags, "show", "-s", "--format=%cI", g.Commit+"^{commit}", "--"))
	}
	g.Remote = withoutCredentials(g.Remote)
	return &g
}

// workTree reads the provenance of the git work tree dir is in; empty
// outside one.
func workTree(ctx context.Context, dir string) domain.GitInfo {
	read := func(args ...string) string { return gitOutput(ctx, dir, args...) }
	if read("rev-parse", "--is-inside-work-tree") != "true" {
		return domain.GitInfo{}
	}
	g := domain.GitInfo{Source: domain.GitFromWorkTree,
		Commit:  read("rev-parse", "HEAD"),
		Branch:  read("rev-parse", "--abbrev-ref", "HEAD"),
		Author:  read("log", "-1", "--format=%an <%ae>"),
		Subject: read("log", "-1", "--format=%s"),
		Remote:  withoutCredentials(read("remote", "get-url", "origin")),
		// The committer time: when the change reached the branch, which is
		// where lead time starts.
		CommittedAt: commitTime(read("log", "-1", "--format=%cI")),
	}
	if g.Branch == "HEAD" {
		g.Branch = "" // detached: a CI checkout of a commit
	}
	return g
}

var hexCommit = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)

// gitOutput runs git in dir, bounded; empty on any failure.
func gitOutput(ctx context.Context, dir string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// ciProviders are the CI systems whose variables name the commit a job
// builds, first match wins (docs/provenance.md lists them).
var ciProviders = []struct {
	commit, branch, subject, author string
	time                            string // the commit's time, RFC 3339, where the CI system gives it
	remote                          func(getenv func(string) string) string
}{
	{commit: "GITHUB_SHA", branch: "GITHUB_REF_NAME", author: "GITHUB_ACTOR", remote: func(e func(string) string) string {
		if e("GITHUB_SERVER_URL") == "" || e("GITHUB_REPOSITORY") == "" {
			return ""
		}
		return e("GITHUB_SERVER_URL") + "/" + e("GITHUB_REPOSITORY")
	}},
	{commit: "CI_COMMIT_SHA", branch: "CI_COMMIT_REF_NAME", subject: "CI_COMMIT_TITLE", author: "CI_COMMIT_AUTHOR", time: "CI_COMMIT_TIMESTAMP",
		remote: func(e func(string) string) string { return e("CI_PROJECT_URL") }}, // GitLab, Woodpecker
	{commit: "BUILD_SOURCEVERSION", branch: "BUILD_SOURCEBRANCHNAME", subject: "BUILD_SOURCEVERSIONMESSAGE", author: "BUILD_REQUESTEDFOR",
		remote: func(e func(string) string) string { return e("BUILD_REPOSITORY_URI") }}, // Azure Pipelines
	{commit: "BITBUCKET_COMMIT", branch: "BITBUCKET_BRANCH",
		remote: func(e func(string) string) string { return e("BITBUCKET_GIT_HTTP_ORIGIN") }},
	{commit: "CIRCLE_SHA1", branch: "CIRCLE_BRANCH", author: "CIRCLE_USERNAME",
		remote: func(e func(string) string) string { return e("CIRCLE_REPOSITORY_URL") }},
	{commit: "BUILDKITE_COMMIT", branch: "BUILDKITE_BRANCH", subject: "BUILDKITE_MESSAGE", author: "BUILDKITE_BUILD_AUTHOR",
		remote: func(e func(string) string) string { return e("BUILDKITE_REPO") }},
	{commit: "GIT_COMMIT", branch: "GIT_BRANCH", // Jenkins' git plugin
		remote: func(e func(string) string) string { return e("GIT_URL") }},
}

// withoutCredentials drops a token or password from a remote URL: it would
// be recorded in history, shown to every reader.
func withoutCredentials(remote string) string {
	u, err := url.Parse(remote)
	if err != nil || u.User == nil {
		return remote
	}
	u.User = nil
	return u.String()
}
