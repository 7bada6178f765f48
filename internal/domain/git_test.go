package domain

import "testing"

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
