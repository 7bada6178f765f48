package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/workflows"
)

// watch follows a change through the API's progress endpoint, printing
// the same lines as watching Temporal directly: each step as it changes,
// each activity attempt, then how the workflow finished.
func (r *remote) watch(id string, every time.Duration) error {
	seen := map[string]string{}
	say := func(key, line string) {
		if seen[key] != line {
			seen[key] = line
			fmt.Fprintf(r.out, "%s  %s\n", time.Now().UTC().Format("15:04:05"), line)
		}
	}
	for {
		p, err := r.progress(id, "")
		if err != nil {
			return err
		}
		if p.Progress != nil {
			for _, st := range p.Progress.Steps {
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
				say("step/"+st.Name, line)
			}
		}
		for _, pa := range p.PendingActivities {
			line := fmt.Sprintf("%-20s attempt %d", pa.Activity, pa.Attempt)
			if pa.LastFailure != "" && pa.Attempt > 1 {
				line += ", retrying after: " + clipText(pa.LastFailure, 160)
			}
			var d activities.Heartbeat
			if raw, err := json.Marshal(pa.Heartbeat); err == nil && pa.Heartbeat != nil && json.Unmarshal(raw, &d) == nil {
				if hp := d.Progress; hp != nil && hp.BytesTotal > 0 {
					line += fmt.Sprintf(", %d/%d layers, %.1f/%.1f MB", hp.LayersDone, hp.Layers, float64(hp.BytesDone)/(1<<20), float64(hp.BytesTotal)/(1<<20))
				} else if d.Message != "" {
					line += ", " + clipText(d.Message, 80)
				}
			}
			say("activity/"+pa.Activity, line)
		}
		if p.Done {
			if err := progressOutcome(p, nil); err != nil {
				return err
			}
			// Temporal's status, spelt as the store-direct watch prints it.
			status := strings.ToUpper(p.Status[:1]) + strings.ToLower(p.Status[1:])
			fmt.Fprintf(r.out, "%s  %s finished: %s\n", time.Now().UTC().Format("15:04:05"), id, status)
			return nil
		}
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-time.After(every):
		}
	}
}
