package activities

import (
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/metadb"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/internal/store"
)

// The activities' own result and input types for what the store, the
// Docker runtime and the metadata snapshots return. Their JSON is what
// workflow histories record, so they are declared here rather than
// borrowed from those packages: a field added to runtime.SwapReport or
// store.Finish changes no history until it is added here too, on purpose
// (add fields only; the recorded histories in workflows/testdata prove
// old ones still decode). The conversions below do not compile when the
// two drift apart, which is the reminder.

// FinishRequest marks a revision DEPLOYED or FAILED. It has no JSON tags
// because its first recorded form (store.Finish) had none: the field
// names are the wire keys.
type FinishRequest struct {
	DeploymentID     string
	Number           int
	Status           domain.Status
	Reason           string
	At               time.Time
	RestoreDagDeploy bool
}

func (f FinishRequest) finish() store.Finish { return store.Finish(f) }

// Image is a pulled image: its reference, digest, local id, versions and
// where they came from (R20), labels.
type Image struct {
	Ref                  string            `json:"ref"`
	Digest               string            `json:"digest"`
	ID                   string            `json:"id"`
	RuntimeVersion       string            `json:"runtimeVersion"`
	AirflowVersion       string            `json:"airflowVersion"`
	RuntimeVersionSource string            `json:"runtimeVersionSource,omitempty"`
	AirflowVersionSource string            `json:"airflowVersionSource,omitempty"`
	Labels               map[string]string `json:"labels,omitempty"`
}

func imageOf(i runtime.Image) Image { return Image(i) }

// Pinned is repo@digest when the digest is known (runtime.Image.Pinned).
func (i Image) Pinned() string { return runtime.Image(i).Pinned() }

// ContainerRef names one container a swap or a stop acted on.
type ContainerRef struct {
	Name          string     `json:"name"`
	ID            string     `json:"id"`
	Component     string     `json:"component"`
	Image         string     `json:"image,omitempty"`
	Revision      int        `json:"revision,omitempty"`
	ExitCode      *int       `json:"exitCode,omitempty"`
	DrainDeadline *time.Time `json:"drainDeadline,omitempty"`
}

func refsOf(rs []runtime.ContainerRef) []ContainerRef {
	return each(rs, func(r runtime.ContainerRef) ContainerRef { return ContainerRef(r) })
}

// each converts a slice element by element, keeping nil nil (omitempty).
func each[T, U any](xs []T, f func(T) U) []U {
	if xs == nil {
		return nil
	}
	out := make([]U, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// SwapReport says what SwapComponents did (runtime.SwapReport).
type SwapReport struct {
	DeploymentID string         `json:"deploymentId"`
	Revision     int            `json:"revision"`
	Image        string         `json:"image"`
	Downgrade    bool           `json:"downgrade"`
	Created      []ContainerRef `json:"created,omitempty"`
	Replaced     []ContainerRef `json:"replaced,omitempty"`
	Unchanged    []ContainerRef `json:"unchanged,omitempty"`
	Drained      []ContainerRef `json:"drained,omitempty"`
	Killed       []ContainerRef `json:"killed,omitempty"`
	Removed      []ContainerRef `json:"removed,omitempty"`
}

func swapReportOf(r runtime.SwapReport) SwapReport {
	return SwapReport{DeploymentID: r.DeploymentID, Revision: r.Revision, Image: r.Image, Downgrade: r.Downgrade,
		Created: refsOf(r.Created), Replaced: refsOf(r.Replaced), Unchanged: refsOf(r.Unchanged),
		Drained: refsOf(r.Drained), Killed: refsOf(r.Killed), Removed: refsOf(r.Removed)}
}

// StopReport says what StopComponents did (runtime.StopReport).
type StopReport struct {
	Stopped []ContainerRef `json:"stopped,omitempty"`
	Killed  []ContainerRef `json:"killed,omitempty"`
}

func stopReportOf(r runtime.StopReport) StopReport {
	return StopReport{Stopped: refsOf(r.Stopped), Killed: refsOf(r.Killed)}
}

// OneOffResult is how a one-off (airflow db downgrade or migrate) ended.
type OneOffResult struct {
	ExitCode   int       `json:"exitCode"`
	Output     string    `json:"output"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	Attached   bool      `json:"attached,omitempty"`
}

func oneOffOf(r runtime.OneOffResult) OneOffResult { return OneOffResult(r) }

// PreflightCheck is one start check and how it ended, or that it was
// reused (REWIND_PREFLIGHT_REUSE).
type PreflightCheck struct {
	Command        string     `json:"command"`
	ExitCode       int        `json:"exitCode"`
	Output         string     `json:"output,omitempty"`
	Reused         bool       `json:"reused,omitempty"`
	PassedAt       *time.Time `json:"passedAt,omitempty"`
	PassedRevision int        `json:"passedRevision,omitempty"`
}

func checksOf(cs []runtime.PreflightCheck) []PreflightCheck {
	return each(cs, func(c runtime.PreflightCheck) PreflightCheck { return PreflightCheck(c) })
}

// Snapshot is a metadata database dump taken before a downgrade or a
// migration (metadb.Snapshot).
type Snapshot struct {
	Path          string    `json:"path"`
	Bytes         int64     `json:"bytes"`
	ServerVersion string    `json:"serverVersion"`
	Tool          string    `json:"tool"`
	TakenAt       time.Time `json:"takenAt"`
}

func snapshotOf(s metadb.Snapshot) Snapshot { return Snapshot(s) }
