package domain

import (
	"testing"
	"time"
)

// A remote carrying any user part is refused, a token alone too (issue 26);
// provenance text that could rewrite a terminal is refused.
func TestCheckGitRefusesCredentialsAndControls(t *testing.T) {
	ok := GitInfo{Commit: "0123abc", Branch: "main", Author: "Alice", Remote: "https://github.com/org/repo.git", Subject: "fix: ünïcödé"}
	if err := CheckGit(&ok); err != nil {
		t.Fatal(err)
	}
	for name, g := range map[string]GitInfo{
		"token only":    {Commit: "0123abc", Remote: "https://ghp_abcdef0123456789@github.com/org/repo.git"},
		"user and pass": {Commit: "0123abc", Remote: "https://alice:hunter2@github.com/org/repo.git"},
		"ssh user":      {Commit: "0123abc", Remote: "ssh://git@github.com/org/repo.git"},
		"ESC subject":   {Commit: "0123abc", Subject: "\x1b]52;c;cm0gLXJm\x07"},
		"C1 subject":    {Commit: "0123abc", Subject: "\u009b2J"},
		"bidi author":   {Commit: "0123abc", Author: "evil\u202eecila"},
	} {
		if err := CheckGit(&g); TypeOf(err) != InvalidInput {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A commit time is any a git commit can carry (issue 30): the Unix epoch
// to the year 2999; beyond that it is no commit's.
func TestCheckGitCommitTime(t *testing.T) {
	for _, c := range []struct {
		at time.Time
		ok bool
	}{
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), true},
		{time.Unix(0, 0), true},
		{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), false},
		{time.Date(3000, 1, 1, 0, 0, 1, 0, time.UTC), false},
	} {
		g := GitInfo{Commit: "0123abc", CommittedAt: &c.at}
		if err := CheckGit(&g); (err == nil) != c.ok || (err != nil && TypeOf(err) != InvalidInput) {
			t.Errorf("%s: %v", c.at, err)
		}
	}
}
