package activities

import (
	"testing"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

// PlanRollback's decisions, one row each: what changes for each scope,
// when a rollback is a downgrade (R11, R16), an upgrade that migrates the
// metadata (R21), or of versions unknown (R20), and what R4 restores.
func TestPlanRollbackDecides(t *testing.T) {
	bundled := domain.Deployment{ID: "d1", DagSource: domain.DagSourceBundle, DagDeployEnabled: true}
	rev := func(n int, img, digest, rt, af, bundle string, dagDeploy bool) domain.Revision {
		return domain.Revision{DeploymentID: "d1", Number: n, ImageRef: img, ImageDigest: digest, RuntimeVersion: rt, AirflowVersion: af,
			DagBundleVersion: bundle, DagDeployEnabled: dagDeploy}
	}
	cur := rev(5, "reg/a:new", "sha256:b", "9.2.0", "2.10.1", "v5", true)
	for _, c := range []struct {
		name                                                  string
		d                                                     domain.Deployment
		target                                                domain.Revision
		scope                                                 policy.Scope
		image, downgrade, migrate, unknown, bundle, dagDeploy bool
	}{
		{"older runtime, all", bundled, rev(3, "reg/a:old", "sha256:a", "9.1.0", "2.9.3", "v3", false), policy.ScopeAll, true, true, false, false, true, false},
		{"older runtime, image only", bundled, rev(3, "reg/a:old", "sha256:a", "9.1.0", "2.9.3", "v3", false), policy.ScopeImage, true, true, false, false, false, true},
		{"older runtime, DAGs only", bundled, rev(3, "reg/a:old", "sha256:a", "9.1.0", "2.9.3", "v3", false), policy.ScopeDags, false, false, false, false, true, false},
		{"newer Airflow: an upgrade that migrates", bundled, rev(4, "reg/a:newer", "sha256:c", "9.3.0", "2.11.0", "v5", true), policy.ScopeAll, true, false, true, false, false, true},
		{"same image, other DAGs", bundled, rev(4, "reg/a:new", "sha256:b", "9.2.0", "2.10.1", "v4", true), policy.ScopeAll, false, false, false, false, true, true},
		{"versions unknown", bundled, rev(2, "reg/a:what", "sha256:d", "", "", "v2", true), policy.ScopeAll, true, false, false, true, true, true},
		{"image DAGs: no bundle to change", domain.Deployment{ID: "d1", DagSource: domain.DagSourceImage}, rev(3, "reg/a:old", "sha256:a", "9.1.0", "2.9.3", "v3", false), policy.ScopeAll, true, true, false, false, false, false},
	} {
		p, err := PlanRollback(c.d, cur, c.target, c.scope)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := []bool{p.ImageChanges, p.Downgrade, p.MetadataMigrate, p.VersionsUnknown, p.BundleChanges, p.ToDagDeploy}
		want := []bool{c.image, c.downgrade, c.migrate, c.unknown, c.bundle, c.dagDeploy}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: image, downgrade, migrate, unknown, bundle, dagDeploy = %v, want %v", c.name, got, want)
				break
			}
		}
	}
}

// A rollback runs only the plan that was confirmed (R15): a current
// revision that moved, or a digest that differs, is PlanChanged; an
// unconfirmed plan (a dry run) passes.
func TestCheckConfirmedRefusesAMovedPlan(t *testing.T) {
	p := RollbackPlan{Deployment: domain.Deployment{ID: "d1"}, Current: domain.Revision{Number: 5}, Target: domain.Revision{Number: 3}, Scope: policy.ScopeAll}
	p.Digest = p.ComputeDigest()
	for _, c := range []struct {
		name string
		c    RollbackCheck
		want domain.ErrorType
	}{
		{"a dry run", RollbackCheck{DeploymentID: "d1", Revision: 3}, ""},
		{"confirmed as it is", RollbackCheck{DeploymentID: "d1", Revision: 3, ExpectedCurrentRevision: 5, PlanDigest: p.Digest}, ""},
		{"someone deployed since", RollbackCheck{DeploymentID: "d1", Revision: 3, ExpectedCurrentRevision: 4, PlanDigest: p.Digest}, domain.PlanChanged},
		{"another plan", RollbackCheck{DeploymentID: "d1", Revision: 3, ExpectedCurrentRevision: 5, PlanDigest: "sha256:00"}, domain.PlanChanged},
	} {
		if err := checkConfirmed(c.c, p); domain.TypeOf(err) != c.want {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// The downgrade command gets the target's Airflow version, and refuses one
// that is not a version rather than pass it to a shell-less argv.
func TestDowngradeCommandTakesOnlyAVersion(t *testing.T) {
	args, err := downgradeCommand("airflow db downgrade --to-version={{airflowVersion}} -y", "2.9.3")
	if err != nil || len(args) != 5 || args[3] != "--to-version=2.9.3" {
		t.Fatalf("%q %v", args, err)
	}
	if _, err := downgradeCommand("airflow db downgrade --to-version={{airflowVersion}}", "2.9.3; rm -rf /"); domain.TypeOf(err) != domain.InvalidInput {
		t.Fatalf("a hostile version: %v", err)
	}
}
