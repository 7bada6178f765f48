package action

import (
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

func TestFleetSelector(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	t1, t2 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for name, s := range map[string]FleetSelector{
		"none":        {},
		"two":         {ImageDigest: d, Commit: "abcdef0"},
		"bad digest":  {ImageDigest: "sha256:zz"},
		"short sha":   {Commit: "abc"},
		"upper sha":   {Commit: "ABCDEF0"},
		"half range":  {DeployedFrom: &t1},
		"inverted":    {DeployedFrom: &t2, DeployedTo: &t1},
		"injected id": {Commit: "abcdef0; rm -rf /"},
	} {
		if s.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	rev := domain.Revision{ImageDigest: d, Git: &domain.GitInfo{Commit: "abcdef0123"}, CreatedAt: t1.Add(time.Hour)}
	for name, s := range map[string]FleetSelector{
		"digest": {ImageDigest: d}, "commit prefix": {Commit: "abcdef0"}, "between": {DeployedFrom: &t1, DeployedTo: &t2},
	} {
		if err := s.Validate(); err != nil || !s.bad(rev) {
			t.Errorf("%s: %v, matches %v", name, err, s.bad(rev))
		}
	}
	if (FleetSelector{Commit: "abcdef1"}).bad(rev) || (FleetSelector{Commit: "abcdef0"}).bad(domain.Revision{}) {
		t.Error("a commit selector matched the wrong revision")
	}
}
