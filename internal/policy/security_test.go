package policy

import (
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

func TestCheckTextRefusesControls(t *testing.T) {
	for _, ok := range []string{"", "fix: the \"daily\" DAG", "tab\tseparated", "ünïcödé ✓ 日本"} {
		if err := CheckText("description", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"\x1b[2J", "\x1b]8;;http://x\x07y", "\x1b]52;c;AAAA\x07", "\u009b1A", "a\u202eb", "\u2066x\u2069",
		"line\nbreak", "cr\r", "nul\x00", "del\x7f", "bad \xff utf8"} {
		if err := CheckText("description", bad); domain.TypeOf(err) != domain.InvalidInput {
			t.Errorf("%q: %v", bad, err)
		}
		if err := CheckDeployDescription(bad); domain.TypeOf(err) != domain.InvalidInput {
			t.Errorf("deploy description %q: %v", bad, err)
		}
	}
}

func TestPlansNeverChange(t *testing.T) {
	if err := CheckChangeWorkflow("plan/d1/x", "d1", false); domain.TypeOf(err) != domain.PermissionDenied {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id  string
		dry bool
	}{{"plan/d1/x", true}, {"change/d1", false}, {"change/d1", true}} {
		if err := CheckChangeWorkflow(c.id, "d1", c.dry); err != nil {
			t.Fatal(c, err)
		}
	}
}

// Permission is decided before anything about the deployment (issue 26):
// a requester without it gets PermissionDenied even where the deployment's
// settings would refuse the deploy anyway.
func TestDeployPermissionBeforeSettings(t *testing.T) {
	d := domain.Deployment{ID: "d1", DagSource: domain.DagSourceImage}
	if err := CheckDeploy("mallory", Permissions{}, d, domain.DeployDAGOnly, true); domain.TypeOf(err) != domain.PermissionDenied {
		t.Fatalf("no grant: %v", err)
	}
	if err := CheckDeploy("alice", Permissions{ImagesPush: true, DagsPush: true}, d, domain.DeployDAGOnly, true); domain.TypeOf(err) != domain.InvalidInput {
		t.Fatalf("with the grant the settings decide: %v", err)
	}
	if err := CheckMayRollBack("mallory", Permissions{}, "d9"); domain.TypeOf(err) != domain.PermissionDenied {
		t.Fatal(err)
	}
}

func TestAutomaticRollbackNeedsTheBakeAndItsEnabler(t *testing.T) {
	d := domain.Deployment{ID: "d1", DagSource: domain.DagSourceBundle}
	editor := Permissions{ImagesPush: true, DagsPush: true}
	for name, c := range map[string]struct {
		decided bool
		by      string
		p       Permissions
		ok      bool
	}{
		"no decision":        {false, "alice", editor, false},
		"nobody enabled it":  {true, "", editor, false},
		"enabler lost grant": {true, "alice", Permissions{ImagesPush: true}, false},
		"decided, granted":   {true, "alice", editor, true},
	} {
		err := CheckAutomaticRollback(c.decided, c.by, c.p, d)
		if (err == nil) != c.ok || (err != nil && domain.TypeOf(err) != domain.PermissionDenied) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestTokenLifetimeIsCapped(t *testing.T) {
	const max = 2160 * time.Hour
	for _, ttl := range []time.Duration{0, -time.Hour, max + time.Second, 266 * 365 * 24 * time.Hour} {
		if err := CheckTokenLifetime(ttl, max); domain.TypeOf(err) != domain.InvalidInput {
			t.Errorf("%s: %v", ttl, err)
		}
	}
	if err := CheckTokenLifetime(max, max); err != nil {
		t.Fatal(err)
	}
}

func TestReservedNamesAreRewinds(t *testing.T) {
	for _, u := range []string{domain.AutomaticRequester, "ops (bot)", "x)"} {
		if err := CheckGrant(domain.Grant{User: u, DeploymentID: "d1", Role: "editor"}); domain.TypeOf(err) != domain.InvalidInput {
			t.Errorf("%q: %v", u, err)
		}
	}
}
