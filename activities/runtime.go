package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/runtime"
	"github.com/rewindhq/rewind/internal/store"
)

// PullRequest asks for an image. With Digest set the pull is by digest, so
// the content is exactly what a revision recorded. With Number set, the
// resolved digest and versions are recorded on that INITIALIZED revision.
type PullRequest struct {
	DeploymentID string `json:"deploymentId"`
	Number       int    `json:"number,omitempty"`
	Ref          string `json:"ref"`
	Digest       string `json:"digest,omitempty"`
	// AllowUnknownVersion: the requester allowed an image whose Airflow
	// version cannot be determined (R20); otherwise a deploy of one is
	// refused at its pull.
	AllowUnknownVersion bool `json:"allowUnknownVersion,omitempty"`
}

// PullImage pulls and describes an image, heartbeating layers and bytes so
// the Temporal UI and `rewind watch` show a pull moving, and so a stuck pull
// (no heartbeat) is retried instead of hanging. Docker keeps the layers a
// failed attempt completed, so a retry resumes from them.
func (a *HostActivities) PullImage(ctx context.Context, req PullRequest) (Image, error) {
	img, err := a.pullImage(ctx, req)
	return imageOf(img), err
}

func (a *HostActivities) pullImage(ctx context.Context, req PullRequest) (img runtime.Image, err error) {
	if activity.HasHeartbeatDetails(ctx) {
		var prev Heartbeat
		if activity.GetHeartbeatDetails(ctx, &prev) == nil && prev.Progress != nil {
			activity.GetLogger(ctx).Info("resuming pull", "ref", req.Ref, "layersDone", prev.Progress.LayersDone, "bytesDone", prev.Progress.BytesDone)
		}
	}
	// Docker's progress drives the heartbeat, and a pull whose bytes stop
	// moving (a registry that holds the connection and sends nothing) is cut
	// off as stalled and retried; Docker keeps the layers already done.
	// REWIND_PULL_BOUND bounds the pull across every attempt, in
	// wall-clock time (bound.go), with the watchdog's stall window within.
	w, wctx, done := bounded(ctx, "pulling "+req.Ref, a.stallTimeout(), a.Config.PullBound, "REWIND_PULL_BOUND")
	var last runtime.Progress
	img, err = a.Runtime.Pull(wctx, req.Ref, req.Digest, func(p runtime.Progress) { last = p; w.pull(p) })
	if err = done(err); err != nil {
		return img, refuse(err)
	}
	activity.GetMetricsHandler(ctx).Counter("rewind_pull_bytes").Inc(last.BytesDone)
	if err := a.detectVersion(ctx, req, &img); err != nil {
		return img, err
	}
	if req.Number > 0 {
		if err := a.Store.SetPulledImage(ctx, req.DeploymentID, req.Number, store.PulledImage{Digest: img.Digest,
			RuntimeVersion: img.RuntimeVersion, RuntimeVersionSource: img.RuntimeVersionSource,
			AirflowVersion: img.AirflowVersion, AirflowVersionSource: img.AirflowVersionSource}); err != nil {
			return img, refuse(err)
		}
		if err := policy.CheckVersionKnown(policy.Versions{Runtime: img.RuntimeVersion, Airflow: img.AirflowVersion},
			req.AllowUnknownVersion, req.Ref); err != nil {
			return img, refuse(err)
		}
	}
	return img, nil
}

// detectVersion asks an image whose labels carry no Airflow version for
// its own `airflow version` (R20), in a throwaway container with the
// deployment's stored configuration. A version it cannot give stays
// unknown (logged); only the Engine failing is an error, retried.
func (a *HostActivities) detectVersion(ctx context.Context, req PullRequest, img *runtime.Image) error {
	if img.AirflowVersion != "" || a.Store == nil {
		return nil
	}
	stop := heartbeatWhile(ctx, "asking "+req.Ref+" for its `airflow version`")
	defer stop()
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return refuse(err)
	}
	v, why, err := a.Runtime.DetectAirflowVersion(ctx, d, *img)
	if err != nil {
		return refuse(err)
	}
	if v == "" {
		activity.GetLogger(ctx).Warn("Airflow version unknown", "deployment", req.DeploymentID, "image", req.Ref, "why", why)
		return nil
	}
	img.AirflowVersion, img.AirflowVersionSource = v, runtime.SourceAirflowVersionCommand
	activity.GetLogger(ctx).Info("Airflow version read from the image", "deployment", req.DeploymentID, "image", req.Ref, "airflowVersion", v)
	return nil
}

// SwapRequest puts a deployment's components on an image.
type SwapRequest struct {
	DeploymentID string `json:"deploymentId"`
	Image        Image  `json:"image"`
	Revision     int    `json:"revision"`
	Downgrade    bool   `json:"downgrade"`
	// Deployment is what histories recorded before configuration stopped
	// travelling in payloads carry; only its id is read.
	Deployment *domain.Deployment `json:"deployment,omitempty"`
}

func (r SwapRequest) deploymentID() string {
	if r.DeploymentID == "" && r.Deployment != nil {
		return r.Deployment.ID
	}
	return r.DeploymentID
}

// SwapComponents replaces the deployment's containers with ones on the new
// image, each with the deployment's stored configuration as it is now (R5,
// R17: a rollback keeps the current configuration, never the target's),
// drains or kills the old workers (R11) and waits for the new containers to
// be healthy. runtime.Swap decides every step from container names and
// labels, so a retry after a crash finishes the job and never leaves two
// containers of one component.
func (a *HostActivities) SwapComponents(ctx context.Context, req SwapRequest) (SwapReport, error) {
	ctx, done := a.hostStep(ctx, "swapping components")
	d, err := a.Store.GetDeployment(ctx, req.deploymentID())
	if err != nil {
		return SwapReport{}, done(refuse(err))
	}
	rep, err := a.Runtime.Swap(ctx, d, runtime.Image(req.Image), runtime.SwapOptions{Revision: req.Revision, Downgrade: req.Downgrade})
	return swapReportOf(rep), done(refuse(err))
}

// DowngradeRequest runs the metadata downgrade of R11.
type DowngradeRequest struct {
	DeploymentID   string `json:"deploymentId"`
	NewerImage     string `json:"newerImage"` // pinned reference of the current image
	AirflowVersion string `json:"airflowVersion"`
	Revision       int    `json:"revision,omitempty"`
}

// MetadataDowngrade runs the configured downgrade command in a one-off
// container of the current, newer image, before the older image starts:
// only the newer Airflow knows how to undo its own migrations. The job runs
// once: a retry (a worker died, a heartbeat timed out) waits for the
// container already running, or reads the result of the one that finished,
// and nothing here ever stops a migration half-way.
func (a *HostActivities) MetadataDowngrade(ctx context.Context, req DowngradeRequest) (OneOffResult, error) {
	res, err := a.metadataDowngrade(ctx, req)
	return oneOffOf(res), err
}

func (a *HostActivities) metadataDowngrade(ctx context.Context, req DowngradeRequest) (runtime.OneOffResult, error) {
	stop := heartbeatWhile(ctx, "metadata downgrade")
	defer stop()
	cmd, err := downgradeCommand(a.Config.MetadataDowngradeCommand, req.AirflowVersion)
	if err != nil {
		return runtime.OneOffResult{}, DowngradeNotStarted(refuse(err))
	}
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return runtime.OneOffResult{}, DowngradeNotStarted(refuse(err))
	}
	started := false
	res, err := a.Runtime.RunOneOff(ctx, d, req.NewerImage, cmd, runtime.OneOffOptions{Name: "db-downgrade", Revision: req.Revision, Once: true,
		Timeout: a.Config.DowngradeTimeout, Started: func() { started = true }})
	if err != nil {
		if !started {
			return res, DowngradeNotStarted(refuse(err))
		}
		return res, refuse(err)
	}
	activity.GetLogger(ctx).Info("metadata downgrade ran", "deployment", req.DeploymentID, "image", req.NewerImage,
		"command", strings.Join(cmd, " "), "exitCode", res.ExitCode, "output", clipOutput(res.Output))
	return res, nil
}

// MigrateRequest runs the metadata migration of R21.
type MigrateRequest struct {
	DeploymentID string `json:"deploymentId"`
	NewerImage   string `json:"newerImage"` // pinned reference of the target image
	Revision     int    `json:"revision"`
}

// MetadataMigrate runs the configured migrate command (`airflow db
// migrate`) in a one-off container of the newer image, with the
// deployment's stored configuration, before any of its components starts
// (R21). Like the downgrade it runs once: a retry waits for the container
// an earlier attempt started, or reads the result of the one that
// finished, and nothing here stops a migration half-way. It gets its own
// network endpoint beside the running components (they keep running while
// it migrates), never their address.
func (a *HostActivities) MetadataMigrate(ctx context.Context, req MigrateRequest) (OneOffResult, error) {
	res, err := a.metadataMigrate(ctx, req)
	return oneOffOf(res), err
}

func (a *HostActivities) metadataMigrate(ctx context.Context, req MigrateRequest) (runtime.OneOffResult, error) {
	stop := heartbeatWhile(ctx, "metadata migration")
	defer stop()
	cmd := strings.Fields(a.Config.MetadataMigrateCommand)
	if len(cmd) == 0 {
		return runtime.OneOffResult{}, refuse(domain.Errorf(domain.InvalidInput, "REWIND_METADATA_MIGRATE_COMMAND is empty"))
	}
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return runtime.OneOffResult{}, refuse(err)
	}
	res, err := a.Runtime.RunOneOff(ctx, d, req.NewerImage, cmd, runtime.OneOffOptions{Name: "db-migrate", Revision: req.Revision,
		Once: true, OwnEndpoint: true, Timeout: a.Config.DowngradeTimeout})
	activity.GetLogger(ctx).Info("metadata migration ran", "deployment", req.DeploymentID, "image", req.NewerImage,
		"command", strings.Join(cmd, " "), "exitCode", res.ExitCode, "attached", res.Attached, "output", clipOutput(res.Output), "error", err)
	if err != nil && res.ExitCode != 0 && !res.FinishedAt.IsZero() {
		// It ran and failed: running it again is not what a retry is for.
		return res, refuse(domain.Errorf(domain.MigrationFailed, "`%s` with %s exited with code %d:%s", strings.Join(cmd, " "), req.NewerImage, res.ExitCode, tail(res.Output)))
	}
	return res, refuse(err)
}

func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 800 {
		s = "…" + s[len(s)-800:]
	}
	if s == "" {
		return " (no output)"
	}
	return " " + s
}

// downgradeCommand splits the configured template into arguments first and
// substitutes the version into them after, so a version can never add or
// change an argument of a destructive command; and the version must be a
// strict one.
func downgradeCommand(template, airflowVersion string) ([]string, error) {
	if !domain.IsVersion(airflowVersion) {
		return nil, domain.Errorf(domain.InvalidInput, "Airflow version %q is not a version such as 2.9.3; the metadata downgrade was not run", clipOutput(airflowVersion))
	}
	args := strings.Fields(template)
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "{{airflowVersion}}", airflowVersion)
	}
	return args, nil
}

// stallTimeout is how long a pull may make no progress before it is
// retried (REWIND_STALL_TIMEOUT).
func (a *HostActivities) stallTimeout() time.Duration {
	if a.Config == nil || a.Config.StallTimeout <= 0 {
		return 2 * time.Minute
	}
	return a.Config.StallTimeout
}

func clipOutput(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// VerifyRequest names what a deployment should run after a change.
type VerifyRequest struct {
	DeploymentID  string   `json:"deploymentId"`
	ImageID       string   `json:"imageId"`
	Components    []string `json:"components"`
	BundleVersion string   `json:"bundleVersion,omitempty"`
}

// Verify checks the end state a change promises: each component has exactly
// one active container, running the expected image, and `current` points at
// the expected bundle.
func (a *HostActivities) Verify(ctx context.Context, req VerifyRequest) error {
	cs, err := a.Runtime.Containers(ctx, req.DeploymentID)
	if err != nil {
		return err
	}
	active := map[string][]runtime.Container{}
	for _, c := range cs {
		if c.Role == "active" {
			active[c.Component] = append(active[c.Component], c)
		}
	}
	for _, comp := range req.Components {
		got := active[comp]
		if len(got) != 1 {
			return fmt.Errorf("component %s has %d active containers, want 1", comp, len(got))
		}
		if got[0].State != "running" || (req.ImageID != "" && got[0].ImageID != req.ImageID) {
			return fmt.Errorf("component %s is %s on image %s, want running on %s", comp, got[0].State, got[0].ImageID, req.ImageID)
		}
	}
	if req.BundleVersion != "" && a.Config.BundleRoot != "" {
		if err := a.checkBundleCurrent(req.DeploymentID, req.BundleVersion); err != nil {
			return err
		}
	}
	return nil
}

// downgradeOutcome is the detail a metadata downgrade's failure carries
// when its one-off never existed: nothing touched the database, so the
// change is an ordinary failure and is compensated (issue 27).
type downgradeOutcome struct {
	NotStarted bool `json:"notStarted"`
}

// DowngradeNotStarted marks err as a downgrade failure before its one-off existed,
// keeping its type and whether it may be retried.
func DowngradeNotStarted(err error) error {
	msg, typ, nonRetryable := err.Error(), "DowngradeNotStarted", false
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		msg, typ, nonRetryable = ae.Message(), ae.Type(), ae.NonRetryable()
	}
	return temporal.NewApplicationErrorWithOptions(msg, typ, temporal.ApplicationErrorOptions{
		NonRetryable: nonRetryable, Cause: err, Details: []any{downgradeOutcome{NotStarted: true}}})
}

// DowngradeMayHaveStarted reads a failed MetadataDowngrade: false only when
// the activity said its one-off never existed. A timeout, a lost worker or
// any other failure may have left a downgrade running: the point of no
// return.
func DowngradeMayHaveStarted(err error) bool {
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || !ae.HasDetails() {
		return true
	}
	var o downgradeOutcome
	if ae.Details(&o) != nil {
		return true
	}
	return !o.NotStarted
}
