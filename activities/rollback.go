package activities

import (
	"context"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/metadb"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/runtime"
)

// RollbackCheck is what ValidateRollback needs to decide. At is the
// workflow's time, so the retention decision (R6) is the workflow's own.
type RollbackCheck struct {
	DeploymentID string       `json:"deploymentId"`
	Revision     int          `json:"revision"`
	RequestedBy  string       `json:"requestedBy"`
	Scope        policy.Scope `json:"scope"`
	At           time.Time    `json:"at"`
	// What the requester confirmed, if anything (R15).
	ExpectedCurrentRevision int    `json:"expectedCurrentRevision,omitempty"`
	PlanDigest              string `json:"planDigest,omitempty"`
	Signature               string `json:"signature,omitempty"`   // the requester's (R18)
	Diff                    bool   `json:"diff,omitempty"`        // unified DAG diffs in the plan
	InputDigest             string `json:"inputDigest,omitempty"` // see DeployCheck
	// DryRun: the run only plans. A run under a plan id must (R22).
	DryRun bool `json:"dryRun,omitempty"`
	// AllowUnknownVersion: the requester allows a rollback whose versions
	// cannot be compared (R20); recorded on the revision.
	AllowUnknownVersion bool `json:"allowUnknownVersion,omitempty"`
	// PlanOnHost: the workflow asks the deployment's host what the plan
	// needs from Docker (InspectRollback) and completes the plan with
	// ConfirmRollbackPlan, so this activity reads the store only and leaves
	// a plan that needs the host unconfirmed, HostCheck set (issue 27).
	// Unset (histories recorded before), it reads its own worker's Engine.
	PlanOnHost bool `json:"planOnHost,omitempty"`
}

// RollbackPlan is what a rollback will change, from → to (SPEC §3's report).
type RollbackPlan struct {
	Deployment domain.Deployment `json:"deployment"`
	Current    domain.Revision   `json:"current"`
	Target     domain.Revision   `json:"target"`
	Scope      policy.Scope      `json:"scope"`

	ImageChanges    bool   `json:"imageChanges"`
	FromImageRef    string `json:"fromImageRef"`
	ToImageRef      string `json:"toImageRef"`
	FromImageDigest string `json:"fromImageDigest"`
	ToImageDigest   string `json:"toImageDigest"`
	FromRuntime     string `json:"fromRuntimeVersion"`
	ToRuntime       string `json:"toRuntimeVersion"`
	FromAirflow     string `json:"fromAirflowVersion"`
	ToAirflow       string `json:"toAirflowVersion"`
	Downgrade       bool   `json:"downgrade"`
	// Where each side's versions came from (R20), and whether they could
	// be compared at all: VersionsUnknown means the plan cannot tell an
	// upgrade from a downgrade, refused unless AllowUnknownVersion.
	FromVersionSource   string `json:"fromVersionSource,omitempty"`
	ToVersionSource     string `json:"toVersionSource,omitempty"`
	VersionsUnknown     bool   `json:"versionsUnknown,omitempty"`
	AllowUnknownVersion bool   `json:"allowUnknownVersion,omitempty"`
	// MetadataMigrate: the target's Airflow version is higher, so the
	// metadata database is migrated with the target image before it starts
	// (R21); MigrateNote says how, in words, for the plan.
	MetadataMigrate bool   `json:"metadataMigrate,omitempty"`
	MigrateNote     string `json:"migrateNote,omitempty"`

	BundleChanges     bool   `json:"bundleChanges"`
	FromBundleVersion string `json:"fromDagBundleVersion"`
	ToBundleVersion   string `json:"toDagBundleVersion"`

	FromDagDeploy bool `json:"fromDagDeployEnabled"`
	ToDagDeploy   bool `json:"toDagDeployEnabled"`

	// Worker containers that will be killed (downgrade, R11) or left to
	// drain (otherwise).
	WorkersKilled  []string `json:"workersKilled"`
	WorkersDrained []string `json:"workersDrained"`

	// MetadataSnapshot: on a downgrade, the metadata database is named and
	// will be snapshotted first, so a failure after the downgrade restores
	// it (R16). PointOfNoReturn says in words what cannot be undone.
	MetadataSnapshot bool   `json:"metadataSnapshot"`
	PointOfNoReturn  string `json:"pointOfNoReturn,omitempty"`

	// Digest names this plan; confirm a rollback by passing it back (R15).
	Digest string `json:"planDigest"`

	// HostCheck: the plan waits for its host's answer (ConfirmRollbackPlan)
	// before it has a digest. TargetImageOn says where the host found the
	// target image, for the person reading the plan; not in the digest (a
	// registry's state is not what the rollback changes).
	HostCheck     *RollbackHostCheck `json:"hostCheck,omitempty"`
	TargetImageOn string             `json:"targetImageOn,omitempty"`

	// RequestedByVerified: the requester was signed by rewind's own
	// clients, not merely claimed (R18). Not part of the digest.
	RequestedByVerified bool `json:"requestedByVerified"`

	// DagDiff lists the DAG files the rollback adds, removes and changes
	// (issue 16); DagDiffNote says why there is none. Derived from the
	// bundle digests the digest already covers.
	DagDiff     *bundle.Diff `json:"dagDiff,omitempty"`
	DagDiffNote string       `json:"dagDiffNote,omitempty"`
}

// ValidateRollback applies every refusal rule to current data: permission
// and scope (R10) first, so a requester without them learns nothing about
// the deployment's settings; then switches (R9), DAG source (R8), target
// (R6), runtime floor (R7); then plans, and refuses a plan that is not the
// one the requester confirmed (R15). It records nothing.
func (a *StoreActivities) ValidateRollback(ctx context.Context, c RollbackCheck) (RollbackPlan, error) {
	ctx = context.WithValue(ctx, decidedAtKey{}, c.At)
	if err := policy.CheckChangeWorkflow(activity.GetInfo(ctx).WorkflowExecution.ID, c.DeploymentID, c.DryRun); err != nil {
		return RollbackPlan{}, refuse(err)
	}
	d, verified, err := a.mayRollBack(ctx, c)
	if err != nil {
		return RollbackPlan{}, err
	}
	if err := policy.CheckSwitches(a.Config.RollbacksEnabled, d); err != nil {
		return RollbackPlan{}, refuse(err)
	}
	if err := policy.CheckDagSource(d); err != nil {
		return RollbackPlan{}, refuse(err)
	}
	target, err := a.Store.GetRevision(ctx, d.ID, c.Revision)
	if err != nil {
		return RollbackPlan{}, refuse(err)
	}
	latest, err := a.Store.LatestDeployed(ctx, d.ID)
	if err != nil {
		return RollbackPlan{}, err
	}
	window := time.Duration(a.Config.RollbackWindowDays) * 24 * time.Hour
	if err := policy.CheckRetention(target, latest, c.At, window); err != nil {
		return RollbackPlan{}, refuse(err)
	}
	unknownTarget := target.RuntimeVersion == "" && target.AirflowVersion == ""
	if c.Scope != policy.ScopeDags && !(unknownTarget && c.AllowUnknownVersion) {
		if err := policy.CheckRuntimeFloor(target.RuntimeVersion, target.AirflowVersion); err != nil {
			return RollbackPlan{}, refuse(err)
		}
	}
	if d.CurrentRevision == 0 {
		return RollbackPlan{}, refuse(domain.Errorf(domain.InvalidState, "deployment %s has no current revision to roll back from", d.ID))
	}
	cur, err := a.Store.GetRevision(ctx, d.ID, d.CurrentRevision)
	if err != nil {
		return RollbackPlan{}, err
	}
	plan, err := PlanRollback(d, cur, target, c.Scope)
	if err == nil && plan.ImageChanges {
		if c.PlanOnHost {
			plan.HostCheck = &RollbackHostCheck{DeploymentID: d.ID, ImageRef: plan.ToImageRef, ImageDigest: plan.ToImageDigest}
		} else if a.Runtime != nil {
			err = a.checkImageAndWorkers(ctx, d, &plan)
		}
	}
	if err != nil {
		return plan, err
	}
	plan.AllowUnknownVersion = c.AllowUnknownVersion
	if plan.VersionsUnknown && !c.AllowUnknownVersion {
		return plan, refuse(domain.Errorf(domain.InvalidInput, "cannot tell whether rolling %s back to revision %d downgrades: Runtime %s → %s, Airflow %s → %s; "+
			"pass --allow-unknown-version to roll back anyway, as if it were no downgrade (R20)", d.ID, target.Number,
			orUnknown(plan.FromRuntime), orUnknown(plan.ToRuntime), orUnknown(plan.FromAirflow), orUnknown(plan.ToAirflow)))
	}
	plan.MetadataSnapshot = (plan.Downgrade || plan.MetadataMigrate) && metadb.For(d) != ""
	switch {
	case plan.Downgrade && plan.MetadataSnapshot:
		plan.PointOfNoReturn = "none: the metadata database is snapshotted before its downgrade and restored if anything after it fails"
	case plan.Downgrade:
		plan.PointOfNoReturn = "the metadata downgrade: the deployment names no PostgreSQL metadata database to snapshot, so once it has run the newer version is not started again (name it with `rewind deployment update " + d.ID + " --metadata-db URL`)"
	case plan.MetadataMigrate && plan.MetadataSnapshot:
		plan.PointOfNoReturn = "none: the metadata database is snapshotted before its migration and restored if anything after it fails"
	case plan.MetadataMigrate:
		plan.PointOfNoReturn = "the metadata migration: the deployment names no PostgreSQL metadata database to snapshot, so a failure after it cannot put the older schema back (name it with `rewind deployment update " + d.ID + " --metadata-db URL`)"
	}
	if plan.MetadataMigrate {
		plan.MigrateNote = MigrateNote
	}
	if plan.BundleChanges || d.DagSource != domain.DagSourceBundle {
		to := ""
		if plan.BundleChanges {
			to = plan.Target.DagBundleDigest
		}
		if plan.DagDiff, plan.DagDiffNote, err = a.dagDiff(ctx, d, &cur, to, c.Diff); err != nil {
			return plan, refuse(err)
		}
	}
	plan.Deployment = d.Redacted()
	plan.RequestedByVerified = verified
	if plan.HostCheck != nil {
		// Digested and confirmed once the host answered; a deploy that
		// landed since the plan is refused now, not after the host step.
		early := c
		early.PlanDigest = ""
		return plan, refuse(checkConfirmed(early, plan))
	}
	plan.Digest = plan.ComputeDigest()
	return plan, refuse(checkConfirmed(c, plan))
}

// mayRollBack decides who may ask for this rollback (R10, R18, R22), before
// the deployment is looked up for anyone without a grant: a person by their
// signature (or claim) and grants; rewind itself by the failed bake that
// decided exactly this rollback, under the grants of whoever enabled it.
func (a *StoreActivities) mayRollBack(ctx context.Context, c RollbackCheck) (domain.Deployment, bool, error) {
	if c.RequestedBy == domain.AutomaticRequester {
		return a.mayRollBackAutomatically(ctx, c)
	}
	verified, err := a.verifyRequester(ctx, c.RequestedBy, c.DeploymentID, c.Signature, c.InputDigest)
	if err != nil {
		return domain.Deployment{}, false, err
	}
	grants, err := a.Store.GrantsFor(ctx, c.RequestedBy)
	if err != nil {
		return domain.Deployment{}, false, err
	}
	if err := policy.CheckMayRollBack(c.RequestedBy, policy.Effective(grants, c.DeploymentID), c.DeploymentID); err != nil {
		return domain.Deployment{}, false, refuse(err)
	}
	d, err := a.Store.GetDeployment(ctx, c.DeploymentID)
	if err != nil {
		return d, false, refuse(err)
	}
	if err := policy.CheckRollbackScope(c.RequestedBy, policy.Effective(grants, d.ID), d, c.Scope); err != nil {
		return d, false, refuse(err)
	}
	return d, verified, nil
}

// checkImageAndWorkers checks the target image can still be had and lists
// the running workers R11 will kill or drain, from this worker's own
// Engine: what rollbacks started before plans ran on the deployment's host
// (PlanOnHost unset) still do.
func (a *StoreActivities) checkImageAndWorkers(ctx context.Context, d domain.Deployment, plan *RollbackPlan) error {
	// The target's image must still be there, by the digest it was
	// recorded with (R3), or the rollback is refused before it records
	// anything. A slow registry is waited for, heartbeating.
	stop := heartbeatWhile(ctx, "checking that "+plan.ToImageRef+" can still be had")
	defer stop()
	if plan.ToImageDigest != "" {
		if err := a.Runtime.Available(ctx, plan.ToImageRef, plan.ToImageDigest); err != nil {
			return refuse(err)
		}
	}
	// Which running workers R11 will kill or drain, for the plan an
	// operator confirms. Only this worker's own Engine can be read: on
	// another host's deployment the list stays empty rather than wrong.
	if !a.drives(d) {
		return nil
	}
	cs, err := a.Runtime.Containers(ctx, d.ID)
	if err != nil {
		return err
	}
	for _, ct := range cs {
		if ct.Role != "active" || ct.State != "running" || !runtime.IsWorker(componentOf(d, ct.Component)) {
			continue
		}
		if plan.Downgrade {
			plan.WorkersKilled = append(plan.WorkersKilled, ct.Name)
		} else {
			plan.WorkersDrained = append(plan.WorkersDrained, ct.Name)
		}
	}
	return nil
}

func componentOf(d domain.Deployment, name string) domain.Component {
	for _, c := range d.Components {
		if c.Name == name {
			return c
		}
	}
	return domain.Component{Name: name}
}

// PlanRollback works out from → to for a scope. Scope image keeps the
// current bundle, scope dags keeps the current image (SPEC §3); an image
// deployment's DAGs are in its image, so only the image changes.
func PlanRollback(d domain.Deployment, cur, target domain.Revision, scope policy.Scope) (RollbackPlan, error) {
	p := RollbackPlan{Deployment: d, Current: cur, Target: target, Scope: scope,
		FromImageRef: cur.ImageRef, ToImageRef: cur.ImageRef, FromImageDigest: cur.ImageDigest, ToImageDigest: cur.ImageDigest,
		FromRuntime: cur.RuntimeVersion, ToRuntime: cur.RuntimeVersion, FromAirflow: cur.AirflowVersion, ToAirflow: cur.AirflowVersion,
		FromBundleVersion: cur.DagBundleVersion, ToBundleVersion: cur.DagBundleVersion,
		FromDagDeploy: d.DagDeployEnabled, ToDagDeploy: d.DagDeployEnabled}
	if scope != policy.ScopeDags {
		p.ToImageRef, p.ToImageDigest = target.ImageRef, target.ImageDigest
		p.ToRuntime, p.ToAirflow = target.RuntimeVersion, target.AirflowVersion
		p.ImageChanges = p.ToImageDigest != p.FromImageDigest || p.ToImageRef != p.FromImageRef
		p.FromVersionSource, p.ToVersionSource = versionSource(cur), versionSource(target)
		from := policy.Versions{Runtime: p.FromRuntime, Airflow: p.FromAirflow}
		to := policy.Versions{Runtime: p.ToRuntime, Airflow: p.ToAirflow}
		down, known := policy.IsVersionDowngrade(from, to)
		p.Downgrade, p.VersionsUnknown = down, !known && p.ImageChanges
		p.MetadataMigrate = p.ImageChanges && !down && policy.NeedsMigration(&from, to)
	}
	if scope != policy.ScopeImage && d.DagSource == domain.DagSourceBundle {
		p.ToBundleVersion = target.DagBundleVersion
		p.BundleChanges = p.ToBundleVersion != p.FromBundleVersion
	}
	if scope != policy.ScopeImage {
		p.ToDagDeploy = target.DagDeployEnabled // R4
	}
	return p, nil
}

// RollbackRevision is the revision a rollback adds at the top (R3): the
// target's image reference, digest and bundle version for the scope, with
// the rollback's own time, requester and description.
func RollbackRevision(p RollbackPlan, at time.Time, by, description, workflowID, runID string) domain.Revision {
	t := domain.DeployImageAndDAG
	switch p.Scope {
	case policy.ScopeImage:
		t = domain.DeployImageOnly
	case policy.ScopeDags:
		t = domain.DeployDAGOnly
	}
	src := p.Current
	if p.Scope != policy.ScopeDags {
		src = p.Target
	}
	bundle := p.Current
	if p.Scope != policy.ScopeImage && p.Deployment.DagSource == domain.DagSourceBundle {
		bundle = p.Target
	}
	return domain.Revision{DeploymentID: p.Deployment.ID, CreatedAt: at, CreatedBy: by, RequestedByVerified: p.RequestedByVerified, Description: description, Type: t,
		ImageRef: src.ImageRef, ImageDigest: src.ImageDigest, RuntimeVersion: src.RuntimeVersion, AirflowVersion: src.AirflowVersion,
		RuntimeVersionSource: src.RuntimeVersionSource, AirflowVersionSource: src.AirflowVersionSource, AllowUnknownVersion: p.AllowUnknownVersion,
		DagBundleVersion: bundle.DagBundleVersion, DagBundleDigest: bundle.DagBundleDigest, DagDeployEnabled: p.ToDagDeploy,
		RollbackOf: p.Target.Number, RolledBackFrom: p.Current.Number, WorkflowID: workflowID, RunID: runID}
}

// MigrateNote is how a change migrates the metadata database (R21), for
// plans and progress.
const MigrateNote = "`airflow db migrate` runs once, in a one-off container of the newer image, after the preflight and before any of its components " +
	"starts; the older components keep running during the migration (as the Airflow Helm chart's migration job does), and are replaced after it"

// versionSource says where a revision's versions came from, for plans.
func versionSource(r domain.Revision) string {
	var parts []string
	if r.RuntimeVersionSource != "" {
		parts = append(parts, "Runtime from "+r.RuntimeVersionSource)
	}
	if r.AirflowVersionSource != "" {
		parts = append(parts, "Airflow from "+r.AirflowVersionSource)
	}
	return strings.Join(parts, ", ")
}
