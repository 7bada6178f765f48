// Package domain holds the nouns of SPEC §1: deployments, revisions and the
// grants that say who may change them.
package domain

import (
	"regexp"
	"strings"
	"time"
)

type DagSource string

const (
	DagSourceImage   DagSource = "image"
	DagSourceBundle  DagSource = "bundle"
	DagSourceNFS     DagSource = "nfs"
	DagSourceGitSync DagSource = "git-sync"
)

func (s DagSource) Valid() bool {
	switch s {
	case DagSourceImage, DagSourceBundle, DagSourceNFS, DagSourceGitSync:
		return true
	}
	return false
}

type DeployType string

const (
	DeployImageAndDAG DeployType = "IMAGE_AND_DAG"
	DeployImageOnly   DeployType = "IMAGE_ONLY"
	DeployDAGOnly     DeployType = "DAG_ONLY"
)

func (t DeployType) Valid() bool {
	return t == DeployImageAndDAG || t == DeployImageOnly || t == DeployDAGOnly
}

// ChangesImage and ChangesDAGs say which half of the project a deploy of
// this type replaces.
func (t DeployType) ChangesImage() bool { return t != DeployDAGOnly }
func (t DeployType) ChangesDAGs() bool  { return t != DeployImageOnly }

type Status string

const (
	StatusInitialized Status = "INITIALIZED"
	StatusDeployed    Status = "DEPLOYED"
	StatusFailed      Status = "FAILED"
)

// Component is one long-running Airflow process of a deployment, run as a
// container with the deployment's image.
type Component struct {
	Name    string `json:"name"`
	Command string `json:"command"`
	// Args is the command as an argument list, what the container runs
	// (parsed from shell-quoted words or a JSON array when the component
	// was set; Command is then its display). Components stored before it
	// existed have only Command, split at spaces.
	Args []string `json:"args,omitempty"`
}

// Argv is what the component's container runs.
func (c Component) Argv() []string {
	if len(c.Args) > 0 {
		return c.Args
	}
	return strings.Fields(c.Command)
}

// DefaultComponents is the Airflow 3 set; `--component` replaces it.
func DefaultComponents() []Component {
	return []Component{
		{Name: "scheduler", Command: "airflow scheduler"},
		{Name: "api-server", Command: "airflow api-server"},
		{Name: "triggerer", Command: "airflow triggerer"},
		{Name: "dag-processor", Command: "airflow dag-processor"},
		{Name: "worker", Command: "airflow celery worker"},
	}
}

// Resources are the deployment's settings that a rollback keeps (R5).
type Resources struct {
	Executor string `json:"executor"`
	Workers  int    `json:"workers"`
	CPU      string `json:"cpu,omitempty"`
	Memory   string `json:"memory,omitempty"`
}

type Deployment struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Description      string            `json:"description"`
	DagSource        DagSource         `json:"dagSource"`
	DagDeployEnabled bool              `json:"dagDeployEnabled"`
	RollbackEnabled  bool              `json:"rollbackEnabled"`
	Env              map[string]string `json:"env"`
	Resources        Resources         `json:"resources"`
	Components       []Component       `json:"components"`
	CurrentRevision  int               `json:"currentRevision"`
	CreatedAt        time.Time         `json:"createdAt"`
	UpdatedAt        time.Time         `json:"updatedAt"`
	// AutoRollback, when enabled, bakes every deploy and rolls it back if
	// the probes fail (issue 16).
	AutoRollback *AutoRollback `json:"autoRollback,omitempty"`
	// MetadataDatabaseURL names the Airflow metadata database (PostgreSQL)
	// as the deployment's containers reach it, so a downgrade or a
	// migration can snapshot it first (R16, R21). Empty:
	// AIRFLOW__DATABASE__SQL_ALCHEMY_CONN of Env, if any;
	// MetadataSnapshotsOff: never snapshot.
	MetadataDatabaseURL string `json:"metadataDatabaseUrl,omitempty"`
	// Host is the Docker host the deployment runs on: its host activities
	// go to the task queue <queue>@<host>, which that host's worker polls
	// (issue 13). DefaultHost for deployments made before hosts existed.
	Host string `json:"host"`
}

// Redacted is the deployment as it may travel in workflow payloads and
// plans: environment values (database passwords, API keys) and the
// metadata database URL are blanked, their keys kept. Activities that need
// the values load the deployment from the store themselves.
func (d Deployment) Redacted() Deployment {
	if len(d.Env) > 0 {
		env := make(map[string]string, len(d.Env))
		for k := range d.Env {
			env[k] = RedactedValue
		}
		d.Env = env
	}
	if d.MetadataDatabaseURL != "" && d.MetadataDatabaseURL != MetadataSnapshotsOff {
		d.MetadataDatabaseURL = RedactedValue
	}
	return d
}

// MetadataSnapshotsOff in MetadataDatabaseURL is a deployment's explicit
// opt-out of metadata snapshots (`--metadata-snapshot=off`).
const MetadataSnapshotsOff = "off"

// RedactedValue stands where a secret was left out.
const RedactedValue = "(redacted)"

// Revision is one deploy: one row of Deploy History (R1).
type Revision struct {
	DeploymentID string    `json:"deploymentId"`
	Number       int       `json:"number"`
	CreatedAt    time.Time `json:"createdAt"`
	CreatedBy    string    `json:"createdBy"`
	// RequestedByVerified: CreatedBy was signed by rewind's own clients;
	// false means it is only what the request claimed (R18).
	RequestedByVerified bool       `json:"requestedByVerified"`
	Description         string     `json:"description"`
	Type                DeployType `json:"type"`
	ImageRef            string     `json:"imageRef"`
	ImageDigest         string     `json:"imageDigest"`
	RuntimeVersion      string     `json:"runtimeVersion"`
	AirflowVersion      string     `json:"airflowVersion"`
	// RuntimeVersionSource and AirflowVersionSource say where each version
	// came from (R20): "label <key>" or "airflow version" (the image's own
	// output); empty when the version is unknown.
	RuntimeVersionSource string `json:"runtimeVersionSource,omitempty"`
	AirflowVersionSource string `json:"airflowVersionSource,omitempty"`
	// AllowUnknownVersion: the requester allowed a change whose Airflow
	// version could not be determined (R20's explicit override).
	AllowUnknownVersion bool       `json:"allowUnknownVersion,omitempty"`
	DagBundleVersion    string     `json:"dagBundleVersion"`
	DagBundleDigest     string     `json:"dagBundleDigest"`
	DagDeployEnabled    bool       `json:"dagDeployEnabled"`
	Status              Status     `json:"status"`
	RollbackOf          int        `json:"rollbackOf,omitempty"`
	WorkflowID          string     `json:"workflowId"`
	RunID               string     `json:"runId"`
	FailureReason       string     `json:"failureReason,omitempty"`
	FinishedAt          *time.Time `json:"finishedAt,omitempty"`
	// MetadataSnapshot is the snapshot of the metadata database taken
	// before this revision's metadata downgrade (R16), if one was.
	MetadataSnapshot string `json:"metadataSnapshot,omitempty"`
	// Git is where the deployed code came from, when the deploy said.
	Git *GitInfo `json:"git,omitempty"`
	// RolledBackFrom is, on a rollback, the revision that was current when
	// it ran: what the rollback moved away from, and what its guard keeps
	// from being deployed again.
	RolledBackFrom int `json:"rolledBackFrom,omitempty"`
	// ForcedPast is, on a deploy that overrode a rollback's guard on
	// purpose (--force), the rollback revision it overrode.
	ForcedPast int `json:"forcedPast,omitempty"`
}

// AutoRollback is how a deployment bakes its deploys: for BakePeriod after
// each deploy its scheduler is probed every Interval, and after Failures
// failed probes in a row (the scheduler unhealthy, or more DAG import
// errors than before the deploy) it is rolled back to the previous
// DEPLOYED revision, by rewind itself.
type AutoRollback struct {
	Enabled    bool          `json:"enabled"`
	BakePeriod time.Duration `json:"bakePeriod"`
	Interval   time.Duration `json:"interval"`
	Failures   int           `json:"failures"`
	// EnabledBy is who last switched automatic rollback on or changed its
	// settings: an automatic rollback runs under their permissions (R22).
	EnabledBy string `json:"enabledBy,omitempty"`
}

// CheckAutoRollback refuses bake settings that cannot work.
func CheckAutoRollback(a *AutoRollback) error {
	if a == nil || !a.Enabled {
		return nil
	}
	switch {
	case a.Interval < time.Second || a.Interval > time.Hour:
		return Errorf(InvalidInput, "bake interval %s must be between 1s and 1h", a.Interval)
	case a.BakePeriod < a.Interval || a.BakePeriod > 24*time.Hour:
		return Errorf(InvalidInput, "bake period %s must be at least the interval and at most 24h", a.BakePeriod)
	case a.Failures < 1 || a.Failures > 100:
		return Errorf(InvalidInput, "bake failures %d must be between 1 and 100", a.Failures)
	}
	return nil
}

// AutomaticRequester is who an automatic rollback is requested by. It is
// the one requester name outside the user pattern, so no person can hold
// it; a worker signs it (R18), and only then does it pass R10.
const AutomaticRequester = "rewind (automatic)"

// GitInfo is the git provenance of a deploy.
type GitInfo struct {
	Commit  string `json:"commit"`
	Branch  string `json:"branch,omitempty"`
	Author  string `json:"author,omitempty"`
	Remote  string `json:"remote,omitempty"`
	Subject string `json:"subject,omitempty"`
	// CommittedAt is the commit's committer time, stored with the revision:
	// change lead time (docs/metrics.md) runs from it to the deploy being
	// DEPLOYED. Nil when nobody said.
	CommittedAt *time.Time `json:"committedAt,omitempty"`
	// Source says where the commit came from, for the rollback guard:
	// GitFromFlags, "ci:<VARIABLE>", or GitFromWorkTree (the work tree
	// that holds the deployed DAGs). Empty means named by the caller (the
	// API, the Temporal CLI). It travels with the deploy's input and is
	// not stored with the revision.
	Source string `json:"source,omitempty"`
}

// Where a deploy's git commit came from (GitInfo.Source).
const (
	GitFromFlags    = "flags"
	GitFromWorkTree = "worktree"
)

// Named says the commit was named by a person or a CI system, not read
// from a work tree: only such a commit is matched by the rollback guard,
// since a work tree's HEAD says nothing about uncommitted DAGs or an image.
func (g *GitInfo) Named() bool { return g != nil && g.Source != GitFromWorkTree }

// Grant gives a user a role or a single permission, on one deployment or,
// with an empty DeploymentID, on the whole installation.
type Grant struct {
	User         string `json:"user"`
	DeploymentID string `json:"deploymentId,omitempty"`
	Role         string `json:"role,omitempty"`
	Permission   string `json:"permission,omitempty"`
}

var (
	// versionPattern is what a Runtime or Airflow version may look like:
	// 9.1.0, 3.0-1, 2.9.3+astro.1.
	versionPattern = regexp.MustCompile(`^[0-9]{1,4}(\.[0-9]{1,6}){1,2}([-+][0-9A-Za-z][0-9A-Za-z.-]{0,39})?$`)
	idPattern      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	userPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$`)
)

// DefaultHost is the host of a single-host installation, and of every
// deployment created without --host.
const DefaultHost = "local"

// CheckHost refuses a host name that is not a slug: it becomes part of a
// task queue name (<queue>@<host>), so '@', '/' and spaces must never reach it.
func CheckHost(h string) error {
	if !idPattern.MatchString(h) {
		return Errorf(InvalidInput, "host %q is not a slug: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters", clip(h))
	}
	return nil
}

// HostQueue is the task queue of a host's activities.
func HostQueue(queue, host string) string { return queue + "@" + host }

// CheckDeploymentID refuses anything but the slug of SPEC §1, before an id
// reaches a query, a path or a container name.
func CheckDeploymentID(id string) error {
	if !idPattern.MatchString(id) {
		return Errorf(InvalidInput, "deployment id %q is not a slug: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters", clip(id))
	}
	return nil
}

// IsVersion says whether v is a strict version. Versions come from image
// labels, which whoever built the image chose; they reach history,
// decisions (R7, R11) and the metadata downgrade's command line, so
// anything else is refused rather than recorded.
func IsVersion(v string) bool { return versionPattern.MatchString(v) }

// CheckPerson is CheckUser for the names people and CI jobs hold tokens
// and grants under: names with parentheses, "rewind (automatic)" among
// them, are reserved for rewind itself (issue 26).
func CheckPerson(u string) error {
	if strings.ContainsAny(u, "()") {
		return Errorf(InvalidInput, "user %q is reserved: names with parentheses are rewind's own", clip(u))
	}
	return CheckUser(u)
}

func CheckUser(u string) error {
	if !userPattern.MatchString(u) && u != AutomaticRequester {
		return Errorf(InvalidInput, "user %q is not valid: letters, digits and . _ @ + -, at most 128 characters", clip(u))
	}
	return nil
}

// DagBundleVersionLayout is the seeds' bundle version: UTC with seven
// fractional digits, e.g. 2023-11-16T14:00:00.0000000Z.
const DagBundleVersionLayout = "2006-01-02T15:04:05.0000000Z"

func NewDagBundleVersion(t time.Time) string { return t.UTC().Format(DagBundleVersionLayout) }

func CheckDagBundleVersion(v string) error {
	if _, err := time.Parse(DagBundleVersionLayout, v); err != nil || len(v) != len(DagBundleVersionLayout) {
		return Errorf(InvalidInput, "DAG bundle version %q is not a UTC timestamp like 2023-11-16T14:00:00.0000000Z", clip(v))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

var (
	commitPattern = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)
	// printable: no control characters (newlines would forge log lines;
	// ESC, C1 and bidirectional overrides would rewrite a terminal).
	printable = regexp.MustCompile(`^[^\x00-\x1f\x7f\x{80}-\x{9f}\x{61c}\x{200e}\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}]*$`)
	// userinfo: any user part of a URL remote, a token alone included
	// (https://ghp_…@github.com/…); the CLI drops it before sending.
	userinfo = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@]*@`)
)

// CheckGit refuses git provenance that is not what a git work tree gives:
// a hex commit, and printable branch, author, remote and subject within
// sizes a history row can show. A remote must not carry credentials:
// provenance travels in workflow history and is shown to every reader.
var (
	minCommitTime = time.Unix(0, 0)
	maxCommitTime = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
)

func CheckGit(g *GitInfo) error {
	if g == nil {
		return nil
	}
	if !commitPattern.MatchString(g.Commit) {
		return Errorf(InvalidInput, "git commit %q is not a commit id (7 to 64 hex digits)", clip(g.Commit))
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"branch", g.Branch, 255}, {"author", g.Author, 256}, {"remote", g.Remote, 1024}, {"subject", g.Subject, 500}, {"source", g.Source, 64}} {
		if len(f.v) > f.max || !printable.MatchString(f.v) {
			return Errorf(InvalidInput, "git %s is longer than %d bytes or holds control characters", f.name, f.max)
		}
	}
	// No clock here (workflows validate their input on replay): only
	// times no git commit can carry are refused; a commit time after its
	// deploy is left out of lead time (docs/metrics.md).
	if c := g.CommittedAt; c != nil && (c.Before(minCommitTime) || c.After(maxCommitTime)) {
		return Errorf(InvalidInput, "git commit time %s is out of range (1970 to 2999)", c.UTC().Format(time.RFC3339))
	}
	if userinfo.MatchString(g.Remote) {
		return Errorf(InvalidInput, "git remote %q carries credentials; give it without them", clip(userinfo.ReplaceAllString(g.Remote, "…@")))
	}
	return nil
}
