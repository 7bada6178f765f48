package cli

import (
	"fmt"
	"strings"
	"time"
)

// watch follows a change through the API's progress endpoint, printing
// the same lines as watching Temporal directly: each step as it changes,
// each activity attempt, then how the workflow finished.
func (r *remote) watch(id string, every time.Duration) error {
	src, _ := r.progressSource()
	runID, _, err := follow(r.ctx, r.out, src, id, "", every, nil)
	if err != nil {
		return err
	}
	p, err := r.progress(id, runID)
	if err != nil {
		return err
	}
	if err := progressOutcome(p, nil); err != nil {
		return err
	}
	// Temporal's status, spelt as the store-direct watch prints it.
	status := strings.ToUpper(p.Status[:1]) + strings.ToLower(p.Status[1:])
	fmt.Fprintf(r.out, "%s  %s finished: %s\n", time.Now().UTC().Format("15:04:05"), id, status)
	return nil
}

// progressSource reads snapshots from the API's progress endpoint.
func (r *remote) progressSource() (progressSource, error) {
	return func(id, runID string) (snapshot, error) {
		p, err := r.progress(id, runID)
		if err != nil {
			return snapshot{}, err
		}
		return snapshotOf(&p, runID), nil
	}, nil
}
