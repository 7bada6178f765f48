package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

func typeOf(err error) domain.ErrorType { return domain.TypeOf(err) }

func TestEffectivePermissions(t *testing.T) {
	cases := []struct {
		name   string
		grants []domain.Grant
		want   Permissions
	}{
		{"nothing", nil, Permissions{}},
		{"editor holds both", []domain.Grant{{User: "a", DeploymentID: "d1", Role: "editor"}}, Permissions{true, true}},
		{"viewer holds none", []domain.Grant{{User: "a", DeploymentID: "d1", Role: "viewer"}}, Permissions{}},
		{"images only", []domain.Grant{{User: "a", DeploymentID: "d1", Permission: ImagesPush}}, Permissions{ImagesPush: true}},
		{"dags only", []domain.Grant{{User: "a", DeploymentID: "d1", Permission: DagsPush}}, Permissions{DagsPush: true}},
		{"other deployment does not count", []domain.Grant{{User: "a", DeploymentID: "d2", Role: "editor"}}, Permissions{}},
		{"system grants images everywhere", []domain.Grant{{User: "a", Permission: SystemImagesPush}}, Permissions{ImagesPush: true}},
		{"system plus dags", []domain.Grant{{User: "a", Permission: SystemImagesPush}, {User: "a", DeploymentID: "d1", Permission: DagsPush}}, Permissions{true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Effective(c.grants, "d1"); got != c.want {
				t.Fatalf("got %+v want %+v", got, c.want)
			}
		})
	}
}

func TestCheckDeploy(t *testing.T) {
	img := domain.Deployment{ID: "d1", DagSource: domain.DagSourceImage}
	bun := domain.Deployment{ID: "d1", DagSource: domain.DagSourceBundle, DagDeployEnabled: true}
	bunOff := domain.Deployment{ID: "d1", DagSource: domain.DagSourceBundle}
	all := Permissions{true, true}
	cases := []struct {
		name    string
		p       Permissions
		d       domain.Deployment
		t       domain.DeployType
		bundle  bool
		want    domain.ErrorType
		mention string
	}{
		{"image deploy with images.push", Permissions{ImagesPush: true}, img, domain.DeployImageAndDAG, false, "", ""},
		{"image deploy without", Permissions{DagsPush: true}, img, domain.DeployImageAndDAG, false, domain.PermissionDenied, ImagesPush},
		{"image+bundle needs both", Permissions{ImagesPush: true}, bun, domain.DeployImageAndDAG, true, domain.PermissionDenied, DagsPush},
		{"image+bundle with both", all, bun, domain.DeployImageAndDAG, true, "", ""},
		{"image only on bundle deployment", Permissions{ImagesPush: true}, bun, domain.DeployImageOnly, false, "", ""},
		{"dag only with dags.push", Permissions{DagsPush: true}, bun, domain.DeployDAGOnly, true, "", ""},
		{"dag only without dags.push", Permissions{ImagesPush: true}, bun, domain.DeployDAGOnly, true, domain.PermissionDenied, DagsPush},
		{"dag only when disabled", all, bunOff, domain.DeployDAGOnly, true, domain.InvalidInput, "--dag-deploy"},
		{"dag only on image deployment", all, domain.Deployment{ID: "d1", DagSource: domain.DagSourceImage, DagDeployEnabled: true}, domain.DeployDAGOnly, true, domain.InvalidInput, "bundle"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckDeploy("alice", c.p, c.d, c.t, c.bundle)
			if typeOf(err) != c.want {
				t.Fatalf("got %v (%s), want type %q", err, typeOf(err), c.want)
			}
			if c.mention != "" && !strings.Contains(err.Error(), c.mention) {
				t.Fatalf("%q should mention %q", err, c.mention)
			}
		})
	}
}

func TestRollbackScopes(t *testing.T) {
	bun := domain.Deployment{ID: "d1", DagSource: domain.DagSourceBundle}
	img := domain.Deployment{ID: "d1", DagSource: domain.DagSourceImage}
	cases := []struct {
		name string
		p    Permissions
		d    domain.Deployment
		s    Scope
		want domain.ErrorType
	}{
		{"editor all", Permissions{true, true}, bun, ScopeAll, ""},
		{"editor dags", Permissions{true, true}, bun, ScopeDags, ""},
		{"images-only may image", Permissions{ImagesPush: true}, bun, ScopeImage, ""},
		{"images-only may not all", Permissions{ImagesPush: true}, bun, ScopeAll, domain.PermissionDenied},
		{"images-only may not dags", Permissions{ImagesPush: true}, bun, ScopeDags, domain.PermissionDenied},
		{"dags-only may dags", Permissions{DagsPush: true}, bun, ScopeDags, ""},
		{"dags-only may not image", Permissions{DagsPush: true}, bun, ScopeImage, domain.PermissionDenied},
		{"image deployment: images.push is full", Permissions{ImagesPush: true}, img, ScopeAll, ""},
		{"image deployment: no dags scope", Permissions{true, true}, img, ScopeDags, domain.PermissionDenied},
		{"nothing", Permissions{}, bun, ScopeImage, domain.PermissionDenied},
		{"unknown scope", Permissions{true, true}, bun, Scope("everything"), domain.InvalidInput},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := CheckRollbackScope("bob", c.p, c.d, c.s)
			if typeOf(err) != c.want {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	err := CheckRollbackScope("bob", Permissions{ImagesPush: true}, bun, ScopeAll)
	if !strings.Contains(err.Error(), "allowed scopes: image") {
		t.Fatalf("refusal should list the usable scopes: %v", err)
	}
}

func TestCheckGrant(t *testing.T) {
	cases := []struct {
		g  domain.Grant
		ok bool
	}{
		{domain.Grant{User: "alice", DeploymentID: "d1", Role: "editor"}, true},
		{domain.Grant{User: "alice", DeploymentID: "d1", Permission: DagsPush}, true},
		{domain.Grant{User: "alice", Permission: SystemImagesPush}, true},
		{domain.Grant{User: "alice", Permission: SystemAdmin}, true},
		{domain.Grant{User: "alice", DeploymentID: "d1", Permission: SystemAdmin}, false},
		{domain.Grant{User: "alice", Role: "editor"}, false},
		{domain.Grant{User: "alice", DeploymentID: "d1", Role: "admin"}, false},
		{domain.Grant{User: "alice", DeploymentID: "d1", Permission: SystemImagesPush}, false},
		{domain.Grant{User: "alice", DeploymentID: "d1", Role: "editor", Permission: DagsPush}, false},
		{domain.Grant{User: "alice", DeploymentID: "../etc", Role: "editor"}, false},
		{domain.Grant{User: "a'; drop table grants;--", DeploymentID: "d1", Role: "editor"}, false},
	}
	for _, c := range cases {
		if err := CheckGrant(c.g); (err == nil) != c.ok {
			t.Errorf("%+v: got %v", c.g, err)
		}
	}
}

func TestDescriptions(t *testing.T) {
	long := strings.Repeat("é", 501)
	if CheckDeployDescription("") != nil || CheckDeployDescription(strings.Repeat("é", 500)) != nil {
		t.Fatal("deploy descriptions up to 500 characters are fine")
	}
	if typeOf(CheckDeployDescription(long)) != domain.InvalidInput {
		t.Fatal("501 characters must be refused")
	}
	if typeOf(CheckRollbackDescription("  ")) != domain.InvalidInput || typeOf(CheckRollbackDescription(long)) != domain.InvalidInput {
		t.Fatal("rollback descriptions must be 1-500 characters")
	}
	if CheckRollbackDescription("bad DAG in 42") != nil {
		t.Fatal("a real reason is fine")
	}
}

func TestRetention(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	window := 90 * 24 * time.Hour
	rev := func(n int, age time.Duration, s domain.Status) domain.Revision {
		return domain.Revision{DeploymentID: "d1", Number: n, CreatedAt: now.Add(-age), Status: s}
	}
	cases := []struct {
		name   string
		r      domain.Revision
		latest int
		want   domain.ErrorType
	}{
		{"young", rev(3, 24*time.Hour, domain.StatusDeployed), 5, ""},
		{"exactly at the window", rev(3, window, domain.StatusDeployed), 5, ""},
		{"old", rev(3, window+time.Hour, domain.StatusDeployed), 5, domain.OutsideRetention},
		{"old but the most recent deploy", rev(5, 400*24*time.Hour, domain.StatusDeployed), 5, ""},
		{"failed is never a target", rev(4, time.Hour, domain.StatusFailed), 5, domain.OutsideRetention},
		{"initialized is never a target", rev(6, time.Hour, domain.StatusInitialized), 5, domain.OutsideRetention},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := typeOf(CheckRetention(c.r, c.latest, now, window)); got != c.want {
				t.Fatalf("got %q want %q", got, c.want)
			}
		})
	}
}

func TestRuntimeFloor(t *testing.T) {
	cases := []struct {
		rt, af string
		ok     bool
	}{
		{"5.0.0", "2.3.0", true}, {"9.1.0", "2.10.2", true}, {"4.2.0", "2.2.5", false},
		{"5.0.0", "2.2.9", false}, {"4.9.9", "", false}, {"", "", false}, {"latest", "", false},
		{"10.0.0", "", true},
	}
	for _, c := range cases {
		err := CheckRuntimeFloor(c.rt, c.af)
		if (err == nil) != c.ok || (err != nil && typeOf(err) != domain.RuntimeTooOld) {
			t.Errorf("%s/%s: %v", c.rt, c.af, err)
		}
	}
}

func TestDagSourceAndSwitches(t *testing.T) {
	for src, ok := range map[domain.DagSource]bool{"image": true, "bundle": true, "nfs": false, "git-sync": false} {
		err := CheckDagSource(domain.Deployment{ID: "d1", DagSource: src})
		if (err == nil) != ok || (err != nil && typeOf(err) != domain.UnsupportedDagSource) {
			t.Errorf("%s: %v", src, err)
		}
	}
	on := domain.Deployment{ID: "d1", RollbackEnabled: true}
	off := domain.Deployment{ID: "d1"}
	if CheckSwitches(true, on) != nil {
		t.Fatal("both on must pass")
	}
	if err := CheckSwitches(false, on); typeOf(err) != domain.RollbacksDisabled || !strings.Contains(err.Error(), "REWIND_ROLLBACKS_ENABLED") {
		t.Fatalf("installation switch: %v", err)
	}
	if err := CheckSwitches(true, off); typeOf(err) != domain.RollbacksDisabled || !strings.Contains(err.Error(), "--rollback-enabled") {
		t.Fatalf("deployment switch: %v", err)
	}
}

func TestIsDowngrade(t *testing.T) {
	cases := []struct {
		from, to string
		want     bool
	}{
		{"9.1.0", "8.0.0", true}, {"8.0.0", "9.1.0", false}, {"9.1.0", "9.1.0", false},
		{"10.0.0", "9.9.0", true}, {"9.10.0", "9.9.0", true}, // string comparison would get these wrong
	}
	for _, c := range cases {
		got, err := IsDowngrade(c.from, c.to)
		if err != nil || got != c.want {
			t.Errorf("%s→%s: %v %v", c.from, c.to, got, err)
		}
	}
	if _, err := IsDowngrade("x", "1.0.0"); err == nil {
		t.Fatal("unparseable versions must error")
	}
}

func TestTargetStatus(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	w := 90 * 24 * time.Hour
	rev := func(n int, age time.Duration, s domain.Status, rt string) domain.Revision {
		return domain.Revision{Number: n, CreatedAt: now.Add(-age), Status: s, RuntimeVersion: rt, AirflowVersion: "2.9.3"}
	}
	cases := []struct {
		name     string
		r        domain.Revision
		eligible bool
		reason   string
		until    bool
	}{
		{"current", rev(5, time.Hour, domain.StatusDeployed, "9.1.0"), false, "current revision", false},
		{"failed", rev(4, time.Hour, domain.StatusFailed, "9.1.0"), false, "FAILED", false},
		{"old", rev(2, 100*24*time.Hour, domain.StatusDeployed, "9.1.0"), false, "outside the 90-day window", false},
		{"too old a Runtime", rev(3, time.Hour, domain.StatusDeployed, "4.2.0"), false, "below Runtime 5.0.0 / Airflow 2.3.0", false},
		{"eligible until", rev(3, 24*time.Hour, domain.StatusDeployed, "9.1.0"), true, "", true},
	}
	for _, c := range cases {
		got := Target(c.r, 5, 6, now, w)
		if got.Eligible != c.eligible || got.Reason != c.reason || (got.Until != nil) != c.until {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
	if got := Target(rev(6, 400*24*time.Hour, domain.StatusDeployed, "9.1.0"), 5, 6, now, w); !got.Eligible || got.Until != nil {
		t.Errorf("the most recent deploy is a target with no expiry: %+v", got)
	}
	if got := Target(rev(3, 24*time.Hour, domain.StatusDeployed, "9.1.0"), 5, 6, now, w); !got.Until.Equal(now.Add(-24*time.Hour + w)) {
		t.Errorf("until: %v", got.Until)
	}
}

// system.admin administers; it is not a deploy permission, and only the
// installation-wide grant counts.
func TestAdmin(t *testing.T) {
	admin := []domain.Grant{{User: "root", Permission: SystemAdmin}}
	if !IsAdmin(admin) || CheckAdmin("root", admin, "grant") != nil {
		t.Fatal("system.admin must be admin")
	}
	if p := Effective(admin, "d1"); p.ImagesPush || p.DagsPush {
		t.Fatalf("system.admin must not deploy by itself: %+v", p)
	}
	editor := []domain.Grant{{User: "bob", DeploymentID: "d1", Role: "editor"}, {User: "bob", Permission: SystemImagesPush}}
	err := CheckAdmin("bob", editor, "grant")
	if IsAdmin(editor) || domain.TypeOf(err) != domain.PermissionDenied || !strings.Contains(err.Error(), SystemAdmin) {
		t.Fatalf("an editor is not an administrator: %v", err)
	}
}

func TestRuntimeFloorByAirflowWithoutRuntime(t *testing.T) {
	// R7 with R20: an official image has no Runtime version; the Airflow
	// floor decides.
	for af, ok := range map[string]bool{"2.9.3": true, "3.0.2": true, "2.3.0": true, "2.2.5": false, "latest": false} {
		err := CheckRuntimeFloor("", af)
		if (err == nil) != ok || (err != nil && typeOf(err) != domain.RuntimeTooOld) {
			t.Errorf("Airflow %s: %v", af, err)
		}
	}
}

func TestVersionDowngradeRule(t *testing.T) {
	v := func(rt, af string) Versions { return Versions{Runtime: rt, Airflow: af} }
	cases := []struct {
		name       string
		from, to   Versions
		down, know bool
	}{
		{"lower Runtime", v("9.1.0", "3.0.2"), v("8.0.0", "2.9.3"), true, true},
		{"higher Runtime", v("8.0.0", "2.9.3"), v("9.1.0", "3.0.2"), false, true},
		{"Runtime decides over Airflow", v("9.1.0", "2.9.3"), v("9.0.0", "3.0.2"), true, true},
		{"lower Airflow, no Runtime", v("", "3.0.2"), v("", "2.9.3"), true, true},
		{"lower Airflow, Runtime on one side only", v("9.1.0", "3.0.2"), v("", "2.9.3"), true, true},
		{"higher Airflow, no Runtime", v("", "2.9.3"), v("", "3.0.2"), false, true},
		{"same", v("", "2.9.3"), v("", "2.9.3"), false, true},
		{"unknown target", v("", "2.9.3"), v("", ""), false, false},
		{"unknown current", v("", ""), v("", "2.9.3"), false, false},
	}
	for _, c := range cases {
		down, known := IsVersionDowngrade(c.from, c.to)
		if down != c.down || known != c.know {
			t.Errorf("%s: got down=%v known=%v, want %v %v", c.name, down, known, c.down, c.know)
		}
	}
}

func TestNeedsMigration(t *testing.T) {
	v := func(af string) *Versions { return &Versions{Airflow: af} }
	if !NeedsMigration(nil, *v("2.9.3")) || !NeedsMigration(v("2.9.3"), *v("3.0.2")) || !NeedsMigration(v(""), *v("3.0.2")) {
		t.Error("a first deploy, an upgrade and an unknown current version migrate")
	}
	if NeedsMigration(v("3.0.2"), *v("3.0.2")) || NeedsMigration(v("3.0.2"), *v("2.9.3")) || NeedsMigration(v("2.9.3"), *v("")) {
		t.Error("the same version, a downgrade and an unknown target do not migrate")
	}
}

func TestUnknownVersionNeedsConsent(t *testing.T) {
	if err := CheckVersionKnown(Versions{}, false, "img"); err == nil || typeOf(err) != domain.InvalidInput {
		t.Errorf("unknown, not allowed: %v", err)
	}
	if CheckVersionKnown(Versions{}, true, "img") != nil || CheckVersionKnown(Versions{Airflow: "2.9.3"}, false, "img") != nil {
		t.Error("allowed or known versions pass")
	}
}
