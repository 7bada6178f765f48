// Package policy is where the rules of SPEC §2 are decided. Each function
// names the rule it implements; workflows and activities call these and never
// re-state a rule themselves. Functions here are pure: the caller brings the
// data (from the store, the clock, the configuration).
package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"

	"github.com/rewindhq/rewind/internal/domain"
)

// MaxDescription is R2's upper bound, for deploys and rollbacks alike.
const MaxDescription = 500

// R2: a deploy's description is optional, at most 500 characters, and
// printable (CheckText).
func CheckDeployDescription(d string) error {
	if err := CheckText("description", d); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(d); n > MaxDescription {
		return domain.Errorf(domain.InvalidInput, "description is %d characters; at most %d are allowed (R2)", n, MaxDescription)
	}
	return nil
}

// R2: a rollback requires a description of 1 to 500 characters.
func CheckRollbackDescription(d string) error {
	if strings.TrimSpace(d) == "" {
		return domain.Errorf(domain.InvalidInput, "a rollback needs a description saying why (1-%d characters, R2)", MaxDescription)
	}
	return CheckDeployDescription(d)
}

// R6: the target must be DEPLOYED and younger than the window, or be the
// deployment's most recent deploy. latestDeployed is the number of the
// newest DEPLOYED revision.
func CheckRetention(target domain.Revision, latestDeployed int, now time.Time, window time.Duration) error {
	if target.Status != domain.StatusDeployed {
		return domain.Errorf(domain.OutsideRetention, "revision %d of %s is %s; only DEPLOYED revisions can be rolled back to (R6)", target.Number, target.DeploymentID, target.Status)
	}
	if now.Sub(target.CreatedAt) <= window || target.Number == latestDeployed {
		return nil
	}
	return domain.Errorf(domain.OutsideRetention, "revision %d of %s was deployed %s, outside the %d-day rollback window; only revisions since %s or the most recent deploy can be targets (R6)",
		target.Number, target.DeploymentID, target.CreatedAt.UTC().Format(time.RFC3339), int(window.Hours()/24), now.Add(-window).UTC().Format(time.RFC3339))
}

// InRetention says whether a revision is still a valid target by age alone,
// for history views.
func InRetention(r domain.Revision, latestDeployed int, now time.Time, window time.Duration) bool {
	return CheckRetention(r, latestDeployed, now, window) == nil
}

var (
	runtimeFloor = semver.MustParse("5.0.0")
	airflowFloor = semver.MustParse("2.3.0")
)

// R7: targets below Runtime 5.0.0 / Airflow 2.3.0 are refused. The
// Runtime floor decides when the target has a Runtime version; without one
// (an official apache/airflow image, R20) the Airflow floor does. A target
// with neither counts as too old: rewind cannot prove it is safe (R20's
// explicit override is the caller's, before this check).
func CheckRuntimeFloor(runtimeVersion, airflowVersion string) error {
	if runtimeVersion == "" && airflowVersion != "" {
		av, err := semver.NewVersion(airflowVersion)
		if err != nil {
			return domain.Errorf(domain.RuntimeTooOld, "target Airflow version %q is not a version; rollbacks need Airflow 2.3.0 or later (R7)", airflowVersion)
		}
		if av.LessThan(airflowFloor) {
			return domain.Errorf(domain.RuntimeTooOld, "target runs Airflow %s; rollbacks need Airflow 2.3.0 or later (R7)", airflowVersion)
		}
		return nil
	}
	rv, err := semver.NewVersion(runtimeVersion)
	if err != nil {
		return domain.Errorf(domain.RuntimeTooOld, "target Runtime version %q is unknown or not a version; rollbacks need Runtime 5.0.0 or later (R7)", runtimeVersion)
	}
	if rv.LessThan(runtimeFloor) {
		return domain.Errorf(domain.RuntimeTooOld, "target runs Runtime %s; rollbacks need Runtime 5.0.0 or later (R7)", runtimeVersion)
	}
	if airflowVersion != "" {
		av, err := semver.NewVersion(airflowVersion)
		if err == nil && av.LessThan(airflowFloor) {
			return domain.Errorf(domain.RuntimeTooOld, "target runs Airflow %s; rollbacks need Airflow 2.3.0 or later (R7)", airflowVersion)
		}
	}
	return nil
}

// R8: only image and bundle deployments can be rolled back.
func CheckDagSource(d domain.Deployment) error {
	switch d.DagSource {
	case domain.DagSourceImage, domain.DagSourceBundle:
		return nil
	}
	return domain.Errorf(domain.UnsupportedDagSource, "deployment %s takes its DAGs from %s; rollbacks support image and bundle deployments only (R8)", d.ID, d.DagSource)
}

// R9: both switches must be on; the message names the one that is off.
func CheckSwitches(installationEnabled bool, d domain.Deployment) error {
	if !installationEnabled {
		return domain.Errorf(domain.RollbacksDisabled, "rollbacks are disabled for this installation: set REWIND_ROLLBACKS_ENABLED=true on the worker (R9)")
	}
	if !d.RollbackEnabled {
		return domain.Errorf(domain.RollbacksDisabled, "rollbacks are disabled on deployment %s: enable with `rewind deployment update %s --rollback-enabled` (R9)", d.ID, d.ID)
	}
	return nil
}

// R11: a rollback downgrades when the target's Runtime version is lower
// than the current one, compared as semantic versions. IsVersionDowngrade
// is R20's full rule; this compares one pair.
func IsDowngrade(from, to string) (bool, error) {
	fv, err := semver.NewVersion(from)
	if err != nil {
		return false, fmt.Errorf("current Runtime version %q: %w", from, err)
	}
	tv, err := semver.NewVersion(to)
	if err != nil {
		return false, fmt.Errorf("target Runtime version %q: %w", to, err)
	}
	return tv.LessThan(fv), nil
}

// Versions are an image's Runtime and Airflow versions; either may be
// unknown ("").
type Versions struct {
	Runtime string
	Airflow string
}

// R20 (extending R11): a change downgrades when its Runtime version is
// lower than the current one or, without Runtime versions on both sides,
// when its Airflow version is lower — for deploys and rollbacks alike.
// known is false when the versions on the deciding side cannot be
// compared (one is missing or not a version): it is then not a downgrade.
func IsVersionDowngrade(from, to Versions) (down, known bool) {
	if from.Runtime != "" && to.Runtime != "" {
		d, err := IsDowngrade(from.Runtime, to.Runtime)
		return d, err == nil
	}
	if from.Airflow == "" || to.Airflow == "" {
		return false, false
	}
	fv, err1 := semver.NewVersion(from.Airflow)
	tv, err2 := semver.NewVersion(to.Airflow)
	if err1 != nil || err2 != nil {
		return false, false
	}
	return tv.LessThan(fv), true
}

// R21: a change migrates the metadata database (`airflow db migrate`) when
// its Airflow version is higher than the current one, or when there is no
// current version at all (a first deploy, or a current image whose version
// was unknown: migrate creates the schema, is a no-op on one already at this
// version, and fails loudly on a newer one).
func NeedsMigration(current *Versions, target Versions) bool {
	if target.Airflow == "" {
		return false
	}
	if current == nil || current.Airflow == "" {
		return true
	}
	cv, err1 := semver.NewVersion(current.Airflow)
	tv, err2 := semver.NewVersion(target.Airflow)
	return err1 == nil && err2 == nil && tv.GreaterThan(cv)
}

// R20: a change whose Airflow version cannot be determined is refused
// unless the requester explicitly allowed it; what names the image.
func CheckVersionKnown(v Versions, allowUnknown bool, what string) error {
	if v.Airflow != "" || allowUnknown {
		return nil
	}
	return domain.Errorf(domain.InvalidInput, "the Airflow version of %s is unknown (no version label, and `airflow version` gave none); "+
		"rewind cannot tell an upgrade from a downgrade: label the image with org.apache.airflow.version, or pass --allow-unknown-version (R20)", what)
}

// Permission names of R10.
const (
	ImagesPush       = "deployment.images.push"
	DagsPush         = "deployment.dags.push"
	SystemImagesPush = "system.deployments.images.push"
	// SystemAdmin administers the installation through the API: creating
	// and updating deployments, granting, revoking and issuing tokens. It
	// grants no deploy or rollback by itself (least privilege: an
	// administrator grants themselves a role to change a deployment).
	SystemAdmin = "system.admin"
)

// ValidSystemPermission: the permissions an installation-wide grant may name.
func ValidSystemPermission(p string) bool { return p == SystemImagesPush || p == SystemAdmin }

// IsAdmin says whether a user's grants hold SystemAdmin.
func IsAdmin(grants []domain.Grant) bool {
	for _, g := range grants {
		if g.DeploymentID == "" && g.Permission == SystemAdmin {
			return true
		}
	}
	return false
}

// CheckAdmin refuses a user without SystemAdmin; what names the action.
func CheckAdmin(user string, grants []domain.Grant, what string) error {
	if IsAdmin(grants) {
		return nil
	}
	return domain.Errorf(domain.PermissionDenied, "%s may not %s: it needs %s (an administrator grants it with `rewind grant %s --system --permission %s`)",
		user, what, SystemAdmin, user, SystemAdmin)
}

// Roles and what they hold (R10: Deployment Editor holds both pushes).
var roles = map[string][]string{
	"editor": {ImagesPush, DagsPush},
	"viewer": {},
}

func ValidRole(r string) bool { _, ok := roles[r]; return ok }

func ValidDeploymentPermission(p string) bool { return p == ImagesPush || p == DagsPush }

// CheckGrant refuses grants that name no known role or permission, or mix
// system and deployment scope.
func CheckGrant(g domain.Grant) error {
	if err := domain.CheckPerson(g.User); err != nil {
		return err
	}
	if (g.Role == "") == (g.Permission == "") {
		return domain.Errorf(domain.InvalidInput, "give exactly one of a role (editor, viewer) or a permission")
	}
	if g.DeploymentID == "" {
		if g.Role != "" || !ValidSystemPermission(g.Permission) {
			return domain.Errorf(domain.InvalidInput, "installation-wide grants take only --permission %s or %s", SystemImagesPush, SystemAdmin)
		}
		return nil
	}
	if err := domain.CheckDeploymentID(g.DeploymentID); err != nil {
		return err
	}
	if g.Role != "" && !ValidRole(g.Role) {
		return domain.Errorf(domain.InvalidInput, "unknown role %q: use editor or viewer", g.Role)
	}
	if g.Permission != "" && !ValidDeploymentPermission(g.Permission) {
		return domain.Errorf(domain.InvalidInput, "unknown deployment permission %q: use %s or %s", g.Permission, ImagesPush, DagsPush)
	}
	return nil
}

// Permissions is what one user may do on one deployment.
type Permissions struct {
	ImagesPush bool
	DagsPush   bool
}

// Effective resolves a user's grants on one deployment (R10):
// deployment roles and permissions, plus the system-wide image permission.
func Effective(grants []domain.Grant, deploymentID string) Permissions {
	var p Permissions
	add := func(perm string) {
		switch perm {
		case ImagesPush:
			p.ImagesPush = true
		case DagsPush:
			p.DagsPush = true
		}
	}
	for _, g := range grants {
		switch {
		case g.DeploymentID == "" && g.Permission == SystemImagesPush:
			p.ImagesPush = true
		case g.DeploymentID != deploymentID:
		case g.Role != "":
			for _, perm := range roles[g.Role] {
				add(perm)
			}
		default:
			add(g.Permission)
		}
	}
	return p
}

// CheckDeploy: an image deploy needs deployment.images.push, a deploy that
// carries a DAG bundle needs deployment.dags.push, and a DAG-only deploy also
// needs DAG deploys enabled on the deployment.
func CheckDeploy(user string, p Permissions, d domain.Deployment, t domain.DeployType, carriesBundle bool) error {
	// Permission first: a requester without it learns nothing about the
	// deployment's settings (issue 26).
	if err := CheckDeployPermission(user, p, d.ID, t, carriesBundle); err != nil {
		return err
	}
	if t == domain.DeployDAGOnly {
		if !d.DagDeployEnabled {
			return domain.Errorf(domain.InvalidInput, "DAG-only deploys are disabled on deployment %s: enable with `rewind deployment update %s --dag-deploy`", d.ID, d.ID)
		}
		if d.DagSource != domain.DagSourceBundle {
			return domain.Errorf(domain.InvalidInput, "deployment %s takes its DAGs from %s; DAG-only deploys need dagSource bundle", d.ID, d.DagSource)
		}
	}
	return nil
}

// CheckDeployPermission is R10 for a deploy, decided from the grants alone:
// callers run it before they look the deployment up, so a requester without
// a grant gets the same answer whether or not the deployment exists.
func CheckDeployPermission(user string, p Permissions, deploymentID string, t domain.DeployType, carriesBundle bool) error {
	var missing []string
	if t.ChangesImage() && !p.ImagesPush {
		missing = append(missing, ImagesPush)
	}
	if (t == domain.DeployDAGOnly || carriesBundle) && !p.DagsPush {
		missing = append(missing, DagsPush)
	}
	if len(missing) > 0 {
		return domain.Errorf(domain.PermissionDenied, "%s lacks %s on deployment %s (R10)", user, strings.Join(missing, " and "), deploymentID)
	}
	return nil
}

// Rollback scopes of SPEC §3.
type Scope string

const (
	ScopeAll   Scope = "all"
	ScopeImage Scope = "image"
	ScopeDags  Scope = "dags"
)

// AllowedScopes lists the rollback scopes a user's permissions cover (R10).
// On an image deployment the DAGs live in the image, so "all" and "image"
// are the same and "dags" does not apply.
func AllowedScopes(p Permissions, d domain.Deployment) []Scope {
	var out []Scope
	if d.DagSource != domain.DagSourceBundle {
		if p.ImagesPush {
			out = append(out, ScopeAll, ScopeImage)
		}
		return out
	}
	if p.ImagesPush && p.DagsPush {
		out = append(out, ScopeAll)
	}
	if p.ImagesPush {
		out = append(out, ScopeImage)
	}
	if p.DagsPush {
		out = append(out, ScopeDags)
	}
	return out
}

// CheckMayRollBack is R10 decided from the grants alone, before the
// deployment is looked up: a rollback needs at least one of the push
// permissions on it, so a requester without a grant gets the same answer
// whether or not the deployment exists. CheckRollbackScope decides the rest.
func CheckMayRollBack(user string, p Permissions, deploymentID string) error {
	if p.ImagesPush || p.DagsPush {
		return nil
	}
	return domain.Errorf(domain.PermissionDenied, "%s may not roll back deployment %s: it needs %s (or %s for DAGs) (R10)", user, deploymentID, ImagesPush, DagsPush)
}

// CheckRollbackScope refuses a scope the requester may not use and names the
// ones it may (R10).
func CheckRollbackScope(user string, p Permissions, d domain.Deployment, s Scope) error {
	switch s {
	case ScopeAll, ScopeImage, ScopeDags:
	default:
		return domain.Errorf(domain.InvalidInput, "scope %q is not one of all, image, dags", s)
	}
	allowed := AllowedScopes(p, d)
	for _, a := range allowed {
		if a == s {
			return nil
		}
	}
	if len(allowed) == 0 {
		return domain.Errorf(domain.PermissionDenied, "%s may not roll back deployment %s: it needs %s (or %s for DAGs) (R10)", user, d.ID, ImagesPush, DagsPush)
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	sort.Strings(names)
	return domain.Errorf(domain.PermissionDenied, "%s may not roll back scope %s on deployment %s; allowed scopes: %s (R10)", user, s, d.ID, strings.Join(names, ", "))
}

// TargetStatus says whether a revision can be rolled back to now, and if
// so until when its age allows it (nil: no expiry, it is the most recent
// deploy), for the history views (R6, R7).
type TargetStatus struct {
	Eligible bool       `json:"eligible"`
	Reason   string     `json:"reason,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
}

func Target(r domain.Revision, currentRevision, latestDeployed int, now time.Time, window time.Duration) TargetStatus {
	switch {
	case r.Number == currentRevision:
		return TargetStatus{Reason: "current revision"}
	case r.Status != domain.StatusDeployed:
		return TargetStatus{Reason: string(r.Status)}
	case CheckRetention(r, latestDeployed, now, window) != nil:
		return TargetStatus{Reason: fmt.Sprintf("outside the %d-day window", int(window.Hours()/24))}
	case CheckRuntimeFloor(r.RuntimeVersion, r.AirflowVersion) != nil:
		return TargetStatus{Reason: "below Runtime 5.0.0 / Airflow 2.3.0"}
	case r.Number == latestDeployed:
		return TargetStatus{Eligible: true}
	}
	until := r.CreatedAt.Add(window)
	return TargetStatus{Eligible: true, Until: &until}
}
