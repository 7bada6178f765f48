package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/term"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/workflows"
)

// progressLine is one line of a change's live view: a step, or the
// activity running it (attempts, last failure, pull bytes and layers).
type progressLine struct{ key, text string }

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
	f, ok := out.(*os.File)
	return &liveView{out: out, tty: ok && term.IsTerminal(int(f.Fd())), seen: map[string]string{}, now: time.Now}
}

func (v *liveView) show(lines []progressLine) {
	if v.tty {
		var b strings.Builder
		if v.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA\x1b[J", v.drawn) // back to the block's top, clear below
		}
		for _, l := range lines {
			b.WriteString(l.text + "\n")
		}
		io.WriteString(v.out, b.String())
		v.drawn = len(lines)
		return
	}
	for _, l := range lines {
		if v.seen[l.key] != l.text {
			v.seen[l.key] = l.text
			fmt.Fprintf(v.out, "%s  %s\n", v.now().UTC().Format("15:04:05"), l.text)
		}
	}
}

// progressOf reads a change's steps (its progress query) and its pending
// activities (heartbeat details decoded with dc, which decrypts when keys
// are set), with the run it read and that run's status.
func progressOf(s *session, tc client.Client, dc converter.DataConverter, id, runID string) (lines []progressLine, run string, status enumspb.WorkflowExecutionStatus, err error) {
	desc, err := tc.DescribeWorkflowExecution(s.ctx, id, runID)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, runID, 0, domain.Errorf(domain.NotFound, "no workflow %s (deploys and rollbacks run as change/<deployment>)", id)
	}
	if err != nil {
		return nil, runID, 0, err
	}
	info := desc.GetWorkflowExecutionInfo()
	if v, err := tc.QueryWorkflow(s.ctx, id, info.GetExecution().GetRunId(), workflows.ProgressQuery); err == nil {
		var p workflows.Progress
		if v.Get(&p) == nil {
			for _, st := range p.Steps {
				if st.State == workflows.StepPending {
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
		}
	}
	for _, pa := range desc.GetPendingActivities() {
		name := pa.GetActivityType().GetName()
		line := fmt.Sprintf("%-20s attempt %d", name, pa.GetAttempt())
		if f := pa.GetLastFailure(); f != nil && pa.GetAttempt() > 1 {
			line += ", retrying after: " + clipText(f.GetMessage(), 160)
		}
		if hb := pa.GetHeartbeatDetails(); hb != nil {
			var d activities.Heartbeat
			if dc.FromPayloads(hb, &d) == nil {
				if p := d.Progress; p != nil && p.BytesTotal > 0 {
					line += fmt.Sprintf(", %d/%d layers, %.1f/%.1f MB", p.LayersDone, p.Layers, float64(p.BytesDone)/(1<<20), float64(p.BytesTotal)/(1<<20))
				} else if d.Message != "" {
					line += ", " + clipText(d.Message, 80)
				}
			}
		}
		lines = append(lines, progressLine{"activity/" + name, line})
	}
	return lines, info.GetExecution().GetRunId(), info.GetStatus(), nil
}

// follow shows a change live until its run ends (the latest run when runID
// is empty, then held), and returns the run and how it ended; the caller
// reads the result.
func follow(s *session, tc client.Client, dc converter.DataConverter, id, runID string, every time.Duration) (string, enumspb.WorkflowExecutionStatus, error) {
	v := newLiveView(s.out)
	for {
		lines, run, status, err := progressOf(s, tc, dc, id, runID)
		if err != nil {
			return runID, status, err
		}
		runID = run
		v.show(lines)
		if status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return runID, status, nil
		}
		select {
		case <-s.ctx.Done():
			return runID, status, s.ctx.Err()
		case <-time.After(every):
		}
	}
}

// showRun follows a change the command started and waits for, on a text
// output: the steps and the pull appear as they happen instead of nothing
// until the end. JSON output stays one document.
func (s *session) showRun(tc client.Client, run client.WorkflowRun) error {
	if s.output == "json" {
		return nil
	}
	dc, err := app.DataConverter(s.cfg)
	if err != nil {
		return err
	}
	_, _, err = follow(s, tc, dc, run.GetID(), run.GetRunID(), 300*time.Millisecond)
	return err
}
