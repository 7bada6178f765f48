package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
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
	ChangeRunning = "running"
	ChangeDone    = "done"
	ChangeFailed  = "failed"
)

// Progress answers the "progress" query: the ordered steps of a change.
type Progress struct {
	Kind         string `json:"kind"`
	DeploymentID string `json:"deploymentId"`
	Revision     int    `json:"revision,omitempty"`
	State        string `json:"state"`
	Steps        []Step `json:"steps"`
}

// tracker owns a Progress and updates it as steps run. All times are
// workflow time, so replays produce the same answers.
type tracker struct {
	p Progress
}

func newTracker(ctx workflow.Context, kind string, steps ...string) (*tracker, error) {
	t := &tracker{p: Progress{Kind: kind, State: ChangeRunning}}
	for _, s := range steps {
		t.p.Steps = append(t.p.Steps, Step{Name: s, State: StepPending})
	}
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

// run marks the step running, calls fn, and records how it ended.
func (t *tracker) run(ctx workflow.Context, name string, fn func() error) error {
	s := t.step(name)
	now := workflow.Now(ctx)
	s.State, s.StartedAt, s.Attempts = StepRunning, &now, s.Attempts+1
	err := fn()
	end := workflow.Now(ctx)
	s = t.step(name) // fn may have appended steps
	s.EndedAt = &end
	if err != nil {
		s.State, s.Error = StepFailed, err.Error()
		return err
	}
	s.State = StepDone
	return nil
}

func (t *tracker) detail(name, detail string) { t.step(name).Detail = detail }

func (t *tracker) skip(name, why string) {
	s := t.step(name)
	s.State, s.Detail = StepSkipped, why
}

func (t *tracker) finish(err error) {
	if err != nil {
		t.p.State = ChangeFailed
		return
	}
	t.p.State = ChangeDone
}
