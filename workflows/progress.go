package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
)

// StepState is the state of one step in the progress query (SPEC §3).
type StepState string

const (
	StepPending     StepState = "pending"
	StepRunning     StepState = "running"
	StepDone        StepState = "done"
	StepFailed      StepState = "failed"
	StepSkipped     StepState = "skipped"
	StepCompensated StepState = "compensated"
)

// Step is one line of a change's progress. Attempts counts activity
// attempts the workflow has seen finish; a running activity's current
// attempt is on the workflow's pending activities (rewind watch merges both).
type Step struct {
	Name      string     `json:"name"`
	State     StepState  `json:"state"`
	Attempts  int        `json:"attempts"`
	Detail    string     `json:"detail,omitempty"`
	Error     string     `json:"error,omitempty"`
	StartedAt *time.Time `json:"startedAt,omitempty"`
	EndedAt   *time.Time `json:"endedAt,omitempty"`
}

// Overall states of a change.
const (
	ChangeRunning   = "running"
	ChangeDone      = "done"
	ChangeFailed    = "failed"
	ChangeContinued = "continued" // a cleanup run that continued as new
)

// Progress answers the "progress" query: the ordered steps of a change.
type Progress struct {
	Kind         string `json:"kind"`
	DeploymentID string `json:"deploymentId"`
	Revision     int    `json:"revision,omitempty"`
	State        string `json:"state"`
	Steps        []Step `json:"steps"`
}

// tracker owns a Progress and updates it as steps run, logging each step
// with the workflow and run ids and keeping it as a log event for export
// (R13). All times are workflow time, so replays produce the same events.
type tracker struct {
	ctx    workflow.Context
	p      Progress
	events []eslog.Event
	base   eslog.Event // the fields every event of this run carries
	logger log.Logger
	// notifies is whether this run sends notifications (decided once, by
	// version, at its first).
	notifies *bool
	// incremental is whether this run exports its events as its steps
	// start and end (decided once, by version, at the first flush);
	// exported counts the events handed over so far.
	incremental *bool
	exported    int
	// together is whether this run starts its notification and export
	// children without waiting for each start, and exports a step's end
	// with the next step's start (version startsTogether); pending are the
	// child starts not awaited yet.
	together bool
	pending  []pendingChild
	// store runs the change's short store steps (local activities since
	// storeLocalChange, for the changes that decide so; activities else).
	store storeSteps
}

func newTracker(ctx workflow.Context, kind string, steps ...string) (*tracker, error) {
	info := workflow.GetInfo(ctx)
	t := &tracker{ctx: ctx, p: Progress{Kind: kind, State: ChangeRunning},
		base:   eslog.Event{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID, Kind: eslog.Kind(kind)},
		logger: log.With(workflow.GetLogger(ctx), "workflowId", info.WorkflowExecution.ID, "runId", info.WorkflowExecution.RunID)}
	for _, s := range steps {
		t.p.Steps = append(t.p.Steps, Step{Name: s, State: StepPending})
	}
	t.together = workflow.GetVersion(ctx, startsTogether, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) { return t.p, nil })
	return t, err
}

func (t *tracker) step(name string) *Step {
	for i := range t.p.Steps {
		if t.p.Steps[i].Name == name {
			return &t.p.Steps[i]
		}
	}
	t.p.Steps = append(t.p.Steps, Step{Name: name, State: StepPending})
	return &t.p.Steps[len(t.p.Steps)-1]
}

// show puts the change's step table on the workflow as its current
// details, which the Temporal UI shows live: the same view `rewind watch`
// and the page give, for whoever watches from Temporal (a change started
// from the Temporal CLI has no summary of its own, so the first line says
// what it is). Not a command: replay ignores it.
func (t *tracker) show() {
	var b strings.Builder
	title := t.p.Kind
	if t.p.DeploymentID != "" {
		title += " of " + t.p.DeploymentID
	}
	if t.p.Revision > 0 {
		title += fmt.Sprintf(", revision %d", t.p.Revision)
	}
	if t.base.RequestedBy != "" {
		title += " by " + t.base.RequestedBy
	}
	fmt.Fprintf(&b, "**rewind %s** — %s\n\n| step | state | attempts | detail |\n|---|---|---|---|\n", title, t.p.State)
	for _, s := range t.p.Steps {
		detail := s.Detail
		if s.Error != "" {
			detail = s.Error
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s |\n", s.Name, s.State, s.Attempts, mdCell(detail))
	}
	workflow.SetCurrentDetails(t.ctx, b.String())
}

// mdCell keeps a table cell one line and free of the table's own syntax.
func mdCell(s string) string {
	s = strings.NewReplacer("|", "\\|", "\n", " ", "\r", " ").Replace(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// about records what the change is about, for every later event.
func (t *tracker) about(deploymentID, requestedBy string) {
	t.p.DeploymentID, t.base.Deployment, t.base.RequestedBy = deploymentID, deploymentID, requestedBy
	t.logger = log.With(t.logger, "deployment", deploymentID, "requestedBy", requestedBy)
}

// verified records whether the requester was verified (R18), for every
// later event.
func (t *tracker) verified(v bool) {
	t.base.RequestedByVerified = &v
	t.logger = log.With(t.logger, "requestedByVerified", v)
}

// revision records the change's revision and its artifacts as they become known.
func (t *tracker) revision(r domain.Revision) {
	t.p.Revision = r.Number
	t.base.Revision, t.base.RollbackOf, t.base.ImageRef = r.Number, r.RollbackOf, r.ImageRef
	t.base.ImageDigest, t.base.DagBundleVersion = r.ImageDigest, r.DagBundleVersion
}

// emit logs one event, keeps it for export and shows the steps.
func (t *tracker) emit(step string, level eslog.Level, msg string, err error) {
	defer t.show()
	e := t.base
	e.Timestamp, e.Step, e.Level, e.Message, e.Seq = workflow.Now(t.ctx), step, level, msg, len(t.events)+1
	if s := t.find(step); s != nil {
		e.Attempt = s.Attempts
	}
	kv := []any{"step", step, "seq", e.Seq, "revision", e.Revision}
	if err != nil {
		e.Error = err.Error()
		kv = append(kv, "error", e.Error)
	}
	switch level {
	case eslog.LevelError:
		t.logger.Error(msg, kv...)
	case eslog.LevelWarn:
		t.logger.Warn(msg, kv...)
	default:
		t.logger.Info(msg, kv...)
	}
	t.events = append(t.events, e)
}

func (t *tracker) find(name string) *Step {
	for i := range t.p.Steps {
		if t.p.Steps[i].Name == name {
			return &t.p.Steps[i]
		}
	}
	return nil
}

// run marks the step running, calls fn, and records how it ended.
func (t *tracker) run(ctx workflow.Context, name string, fn func() error) error {
	return t.runStep(ctx, name, true, fn)
}

// runStore is run for a step made of the change's short store steps
// (storeSteps). Run as local activities, such a step takes a few
// milliseconds inside one workflow task: its start is exported with the
// next step's, not by an export of its own, which would still be running
// when the step ended (after the last step the server would then fail the
// run's completing workflow task, UnhandledCommand: a round trip more).
// A failure is exported at once, like any step's.
func (t *tracker) runStore(ctx workflow.Context, name string, fn func() error) error {
	return t.runStep(ctx, name, !t.store.local, fn)
}

func (t *tracker) runStep(ctx workflow.Context, name string, flushStart bool, fn func() error) error {
	s := t.step(name)
	now := workflow.Now(ctx)
	s.State, s.StartedAt, s.Attempts = StepRunning, &now, s.Attempts+1
	t.emit(name, eslog.LevelInfo, name+": started", nil)
	if flushStart {
		t.flush()
	}
	err := fn()
	end := workflow.Now(ctx)
	s = t.step(name) // fn may have appended steps
	s.EndedAt = &end
	if err != nil {
		s.State, s.Error = StepFailed, err.Error()
		t.emit(name, eslog.LevelError, name+": failed", err)
		// At once: compensation may take a while before the export child.
		t.flush()
		return err
	}
	s.State = StepDone
	msg := name + ": done"
	if s.Detail != "" {
		msg += " (" + s.Detail + ")"
	}
	t.emit(name, eslog.LevelInfo, msg, nil)
	// Since startsTogether a step's end goes with the next step's start,
	// or with the export child after the last step.
	if !t.together {
		t.flush()
	}
	return nil
}

func (t *tracker) detail(name, detail string) { t.step(name).Detail = detail }

// moveBefore lists step name just before step before (a change whose
// steps run in another order than the list it started with); not a command.
func (t *tracker) moveBefore(name, before string) {
	s := *t.step(name)
	rest := make([]Step, 0, len(t.p.Steps))
	for _, x := range t.p.Steps {
		if x.Name != name {
			rest = append(rest, x)
		}
	}
	t.p.Steps = rest[:0:0]
	for _, x := range rest {
		if x.Name == before {
			t.p.Steps = append(t.p.Steps, s)
		}
		t.p.Steps = append(t.p.Steps, x)
	}
	if len(t.p.Steps) == len(rest) {
		t.p.Steps = append(t.p.Steps, s)
	}
}

func (t *tracker) skip(name, why string) {
	s := t.step(name)
	s.State, s.Detail = StepSkipped, why
	t.emit(name, eslog.LevelInfo, name+": skipped ("+why+")", nil)
}

func (t *tracker) compensated(name, what string) {
	t.step(name).State = StepCompensated
	t.emit(name, eslog.LevelWarn, name+": compensated ("+what+")", nil)
}

// continuedAsNew marks a run that hands over to its next segment: its
// deferred finish adds no "failed" event and counts no finished change.
func (t *tracker) continuedAsNew() {
	t.p.State = ChangeContinued
	t.emit("continue", eslog.LevelInfo, t.p.Kind+" continues as new", nil)
}

// finish closes the change once; later calls are ignored, so a deferred
// finish after an explicit one adds no second event.
func (t *tracker) finish(err error) {
	if t.p.State != ChangeRunning {
		return
	}
	if err != nil {
		t.p.State = ChangeFailed
		t.emit("finish", eslog.LevelError, t.p.Kind+" failed", err)
	} else {
		t.p.State = ChangeDone
		t.emit("finish", eslog.LevelInfo, t.p.Kind+" finished", nil)
	}
	// The SDK's handler drops these during replay, so each change counts once.
	m := workflow.GetMetricsHandler(t.ctx).WithTags(map[string]string{"kind": t.p.Kind, "outcome": t.p.State})
	m.Counter("rewind_changes").Inc(1)
	m.Timer("rewind_change_duration").Record(workflow.Now(t.ctx).Sub(workflow.GetInfo(t.ctx).WorkflowStartTime))
}

// incrementalOptions are best effort: the export child at the end of the
// change sends every event again (same ids: exactly once) and retries for
// days; these only make each step searchable while the change still runs.
var incrementalOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second, ScheduleToCloseTimeout: 2 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 3},
}

// flush hands the events emitted since the last flush to an export
// activity it does not wait for (R13): a change is never held back by
// Elasticsearch, and a three-hour change shows its steps as they happen.
// The activities' inputs stay in the run's history, which is how the events
// of a run that never ends (terminated, timed out) are exported when its
// revision is released. Histories recorded before this replay without it.
func (t *tracker) flush() {
	if t.incremental == nil {
		v := workflow.GetVersion(t.ctx, "export-incremental", workflow.DefaultVersion, 1) != workflow.DefaultVersion
		t.incremental = &v
	}
	if !*t.incremental || t.exported == len(t.events) {
		return
	}
	batch := append([]eslog.Event(nil), t.events[t.exported:]...)
	t.exported = len(t.events)
	ctx, _ := workflow.NewDisconnectedContext(t.ctx)
	workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, incrementalOptions), acts.ExportEvents, batch)
}
