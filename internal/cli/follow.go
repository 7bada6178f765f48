package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"golang.org/x/term"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/termsafe"
)

// progressLine is one line of a change's live view: a step, or the
// activity running it (attempts, last failure, pull bytes and layers).
type progressLine struct{ key, text string }

// snapshot is what a change shows now: its lines, the run read, and
// whether that run is still running ("" status once it has ended is never
// returned: an ended run names how it ended).
type snapshot struct {
	lines   []progressLine
	runID   string
	status  string // Temporal's, e.g. Running, Completed, Failed
	running bool
}

// progressSource reads a change's snapshot: through Temporal store-direct,
// through the API's progress endpoint remotely.
type progressSource func(workflowID, runID string) (snapshot, error)

// liveView shows a change's lines as they change: on a terminal the block
// is redrawn in place, the way `docker pull` does; otherwise (a pipe, a CI
// log) each line that changed is printed once, with the time.
type liveView struct {
	out   io.Writer
	tty   bool
	drawn int
	seen  map[string]string
	now   func() time.Time
}

func newLiveView(out io.Writer) *liveView {
	v := &liveView{out: out, seen: map[string]string{}, now: time.Now}
	// On a terminal the view draws its own escape sequences, so it writes
	// underneath the escaping writer and escapes each line itself.
	if w, ok := out.(interface{ Unwrap() io.Writer }); ok {
		if f, ok := w.Unwrap().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			v.out, v.tty = f, true
		}
	} else if f, ok := out.(*os.File); ok {
		v.tty = term.IsTerminal(int(f.Fd()))
	}
	return v
}

func (v *liveView) show(lines []progressLine) {
	if v.tty {
		var b strings.Builder
		if v.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA\x1b[J", v.drawn) // back to the block's top, clear below
		}
		for _, l := range lines {
			b.WriteString(termsafe.Line(l.text) + "\n")
		}
		io.WriteString(v.out, b.String())
		v.drawn = len(lines)
		return
	}
	for _, l := range lines {
		if v.seen[l.key] != l.text {
			v.seen[l.key] = l.text
			fmt.Fprintf(v.out, "%s  %s\n", v.now().UTC().Format("15:04:05"), termsafe.Line(l.text))
		}
	}
}

// stepLines are the lines of a change's steps that have begun.
func stepLines(p *action.ChangeProgress) []progressLine {
	var lines []progressLine
	if p == nil {
		return nil
	}
	for _, st := range p.Steps {
		if st.State == action.StepPending {
			continue
		}
		line := fmt.Sprintf("%-20s %s", st.Name, st.State)
		if st.Detail != "" {
			line += "  " + st.Detail
		}
		if st.Error != "" {
			line += "  " + clipText(st.Error, 160)
		}
		lines = append(lines, progressLine{"step/" + st.Name, line})
	}
	return lines
}

// activityLine is a pending activity: its attempt, the failure it retries
// after, and the progress its heartbeat reports; or, when no worker of the
// deployment's host has picked it up, that it waits for one.
func activityLine(name string, attempt int32, lastFailure string, hb *action.Heartbeat, waitingHost string) progressLine {
	if waitingHost != "" {
		return progressLine{"activity/" + name, fmt.Sprintf("%-20s waiting for a worker on host %s (attempt %d; start rewind-worker with REWIND_HOST=%s)",
			name, waitingHost, attempt, waitingHost)}
	}
	line := fmt.Sprintf("%-20s attempt %d", name, attempt)
	if lastFailure != "" && attempt > 1 {
		line += ", retrying after: " + clipText(lastFailure, 160)
	}
	if hb != nil {
		if p := hb.Progress; p != nil && p.BytesTotal > 0 {
			line += fmt.Sprintf(", %d/%d layers, %.1f/%.1f MB", p.LayersDone, p.Layers, float64(p.BytesDone)/(1<<20), float64(p.BytesTotal)/(1<<20))
		} else if hb.Message != "" {
			line += ", " + clipText(hb.Message, 80)
		}
	}
	return progressLine{"activity/" + name, line}
}

// temporalProgress reads snapshots from Temporal with the one progress
// reader the API uses too (heartbeat details decoded with the client's
// converter, which decrypts when keys are set).
func (s *session) temporalProgress() (progressSource, error) {
	read, err := s.progressReader()
	if err != nil {
		return nil, err
	}
	return func(id, runID string) (snapshot, error) {
		p, err := read.Run(s.ctx, id, runID)
		if err != nil {
			return snapshot{}, err
		}
		return snapshotOf(p, runID), nil
	}, nil
}

// progressReader is the one progress reader, on this session's Temporal
// client and data converter.
func (s *session) progressReader() (*action.ReadProgress, error) {
	tc, err := s.temporal()
	if err != nil {
		return nil, err
	}
	dc, err := app.DataConverter(s.cfg)
	if err != nil {
		return nil, err
	}
	return &action.ReadProgress{Temporal: tc, DataConverter: dc}, nil
}

// snapshotOf is what the live view shows of a progress, read directly or
// through the API: the steps, then each activity running or waiting.
func snapshotOf(p *action.Progress, runID string) snapshot {
	status := p.Status
	if status != "" { // Temporal's, spelt as its SDK prints it: Completed
		status = strings.ToUpper(status[:1]) + strings.ToLower(status[1:])
	}
	snap := snapshot{runID: p.RunID, status: status, running: !p.Done, lines: stepLines(p.Progress)}
	if snap.runID == "" {
		snap.runID = runID
	}
	for _, pa := range p.PendingActivities {
		var hb *action.Heartbeat
		var d action.Heartbeat
		if raw, err := json.Marshal(pa.Heartbeat); err == nil && pa.Heartbeat != nil && json.Unmarshal(raw, &d) == nil {
			hb = &d
		}
		snap.lines = append(snap.lines, activityLine(pa.Activity, pa.Attempt, pa.LastFailure, hb, pa.WaitingForHost))
	}
	return snap
}

// follow shows a change live until its run ends (the latest run when runID
// is empty, then held), and returns the run and how it ended; the caller
// reads the result. ended, when not nil, says when the run ends, so the end
// is shown then rather than at the next tick: with the run's last snapshot
// when it sends one (read from its result, so nothing asks the worker to
// replay the closed run for a query), else by reading the source once
// more when it closes.
func follow(ctx context.Context, out io.Writer, src progressSource, id, runID string, every time.Duration, ended <-chan *snapshot) (string, string, error) {
	v := newLiveView(out)
	for {
		snap, err := src(id, runID)
		if err != nil {
			return runID, "", err
		}
		runID = snap.runID
		v.show(snap.lines)
		if !snap.running {
			return runID, snap.status, nil
		}
		select {
		case <-ctx.Done():
			return runID, snap.status, ctx.Err()
		case <-time.After(every):
		case last, ok := <-ended:
			if ok && last != nil {
				v.show(last.lines)
				return last.runID, last.status, nil
			}
			ended = nil // read once more, then tick again if it still runs
		}
	}
}

// showRun follows a change the command started and waits for, on a text
// output: the steps and the pull appear as they happen instead of nothing
// until the end. JSON output stays one document.
func (s *session) showRun(be backend, run change) error {
	if s.output == "json" {
		return nil
	}
	src, err := be.progressSource()
	if err != nil {
		return err
	}
	// Store-direct, the run's result is long-polled alongside and says
	// when it ended: a rollback that took 1.3 s is not reported up to
	// 300 ms later. A change that completed returns its steps, which are
	// its last snapshot. (Remotely, Get polls the same progress follow
	// reads.)
	var ended chan *snapshot
	if wr, ok := run.(client.WorkflowRun); ok {
		ended = make(chan *snapshot, 1)
		ctx, cancel := context.WithCancel(s.ctx)
		defer cancel()
		go func() {
			defer close(ended)
			var res struct {
				Progress *action.ChangeProgress `json:"progress"`
			}
			if wr.Get(ctx, &res) == nil && res.Progress != nil {
				ended <- &snapshot{lines: stepLines(res.Progress), runID: wr.GetRunID(), status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED.String()}
			}
		}()
	}
	_, _, err = follow(s.ctx, s.out, src, run.GetID(), run.GetRunID(), 300*time.Millisecond, ended)
	return err
}

// waitTimedOut: --wait gave up after --timeout while the change goes on;
// its own exit code (ExitTimeout) lets a script tell it from a failure.
type waitTimedOut struct {
	id      string
	timeout time.Duration
}

func (e waitTimedOut) Error() string {
	return fmt.Sprintf("still running after --timeout %s: %s goes on; follow it with `rewind watch %s`", e.timeout, e.id, e.id)
}

// waitAtMost runs f (the --wait part of a command) under --timeout: a
// timeout ends the wait, never the change.
func (s *session) waitAtMost(timeout time.Duration, id string, f func() error) error {
	if timeout <= 0 {
		return f()
	}
	outer := s.ctx
	ctx, cancel := context.WithTimeout(outer, timeout)
	defer cancel()
	s.ctx = ctx
	defer func() { s.ctx = outer }()
	deadline, _ := ctx.Deadline()
	err := f()
	if outer.Err() == nil && waitEndedByTimeout(ctx.Err(), err, time.Now(), deadline) {
		return waitTimedOut{id, timeout}
	}
	return err
}

// waitEndedByTimeout: the server may end a call at the deadline before this
// process's own timer has cancelled the context (gRPC's "stream terminated
// by RST_STREAM with error code: CANCEL"), so an error at or past the
// deadline is the timeout too, never a failure of the change.
func waitEndedByTimeout(ctxErr, err error, now, deadline time.Time) bool {
	return errors.Is(ctxErr, context.DeadlineExceeded) || err != nil && !now.Before(deadline)
}
