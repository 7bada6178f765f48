package activities

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/rewindhq/rewind/internal/domain"
)

// Digest names what a rollback will do (R15): every fact a person weighs
// when confirming it — from and to revision, image digests, versions,
// downgrade, bundles, the DAG deploy setting, which workers are killed or
// drained, whether metadata is snapshotted. Two plans with the same digest
// do the same thing; the real rollback carries the digest that was
// confirmed and is refused with PlanChanged when its own differs.
func (p RollbackPlan) ComputeDigest() string {
	killed := append([]string(nil), p.WorkersKilled...)
	drained := append([]string(nil), p.WorkersDrained...)
	sort.Strings(killed)
	sort.Strings(drained)
	facts := []any{
		"rewind rollback plan v1", p.Deployment.ID, p.Current.Number, p.Target.Number, string(p.Scope),
		p.ImageChanges, p.FromImageRef, p.FromImageDigest, p.ToImageRef, p.ToImageDigest,
		p.FromRuntime, p.ToRuntime, p.FromAirflow, p.ToAirflow, p.Downgrade,
		p.BundleChanges, p.FromBundleVersion, p.ToBundleVersion, p.Current.DagBundleDigest, p.Target.DagBundleDigest,
		p.FromDagDeploy, p.ToDagDeploy, killed, drained, p.MetadataSnapshot,
	}
	if p.MetadataMigrate || p.VersionsUnknown || p.AllowUnknownVersion { // R20, R21; absent, the digest is as before
		facts = append(facts, "migrate", p.MetadataMigrate, "unknown", p.VersionsUnknown, p.AllowUnknownVersion)
	}
	b, _ := json.Marshal(facts)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// checkConfirmed refuses a rollback whose plan is no longer the one the
// requester confirmed (R15). Nothing has been recorded yet.
func checkConfirmed(c RollbackCheck, p RollbackPlan) error {
	if c.ExpectedCurrentRevision > 0 && c.ExpectedCurrentRevision != p.Current.Number {
		return domain.Errorf(domain.PlanChanged, "the plan changed since it was confirmed: %s's current revision is now %d, not %d (someone deployed in between); "+
			"nothing changed — look at the new plan with `rewind rollback %s --to %d --dry-run` and confirm again",
			p.Deployment.ID, p.Current.Number, c.ExpectedCurrentRevision, p.Deployment.ID, c.Revision)
	}
	if c.PlanDigest != "" && c.PlanDigest != p.Digest {
		return domain.Errorf(domain.PlanChanged, "the plan changed since it was confirmed (digest %s, confirmed %s): %s; "+
			"nothing changed — look at the new plan with `rewind rollback %s --to %d --dry-run` and confirm again",
			short(p.Digest), short(c.PlanDigest), PlanSummary(p), p.Deployment.ID, c.Revision)
	}
	return nil
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// PlanSummary is a plan in one line, for logs, errors and the Temporal UI.
func PlanSummary(p RollbackPlan) string {
	s := fmt.Sprintf("revision %d → %d (scope %s)", p.Current.Number, p.Target.Number, p.Scope)
	if p.ImageChanges {
		s += fmt.Sprintf("; image %s → %s; Runtime %s → %s; Airflow %s → %s", p.FromImageRef, p.ToImageRef,
			orUnknown(p.FromRuntime), orUnknown(p.ToRuntime), orUnknown(p.FromAirflow), orUnknown(p.ToAirflow))
		if p.VersionsUnknown {
			s += " (versions unknown: cannot tell an upgrade from a downgrade"
			if p.AllowUnknownVersion {
				s += "; allowed, treated as no downgrade"
			}
			s += ")"
		}
		if p.MetadataMigrate {
			s += " (upgrade: metadata migrated with the newer image before it starts, older components running meanwhile"
			if p.MetadataSnapshot {
				s += ", after a snapshot)"
			} else {
				s += ", no snapshot: point of no return)"
			}
		}
		if p.Downgrade {
			s += " (downgrade: running tasks are killed, metadata downgraded"
			if p.MetadataSnapshot {
				s += " after a snapshot)"
			} else {
				s += ", no snapshot: point of no return)"
			}
		}
	}
	if p.BundleChanges {
		s += fmt.Sprintf("; DAG bundle %s → %s", p.FromBundleVersion, p.ToBundleVersion)
	}
	if p.FromDagDeploy != p.ToDagDeploy {
		s += fmt.Sprintf("; DAG deploys %v → %v", p.FromDagDeploy, p.ToDagDeploy)
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
