package cli

import (
	"context"
	"net/url"
	"os/exec"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// gitFlags override what a work tree says about a deploy's provenance.
type gitFlags struct {
	commit, branch, author, remote, subject string
	off                                     bool
}

// provenance is the deploy's git provenance: read from the git work tree
// dir is in (the DAGs directory, else the current one), with the flags
// overriding; nil outside a work tree with no --git-commit.
func (f gitFlags) provenance(ctx context.Context, dir string) *domain.GitInfo {
	if f.off {
		return nil
	}
	g := domain.GitInfo{}
	if dir == "" {
		dir = "."
	}
	read := func(args ...string) string {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if read("rev-parse", "--is-inside-work-tree") == "true" {
		g.Commit = read("rev-parse", "HEAD")
		g.Branch = read("rev-parse", "--abbrev-ref", "HEAD")
		g.Author = read("log", "-1", "--format=%an <%ae>")
		g.Subject = read("log", "-1", "--format=%s")
		g.Remote = withoutCredentials(read("remote", "get-url", "origin"))
		if g.Branch == "HEAD" {
			g.Branch = "" // detached: a CI checkout of a commit
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
	if g.Commit == "" {
		return nil
	}
	g.Remote = withoutCredentials(g.Remote)
	return &g
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
