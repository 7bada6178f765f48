package cli

import (
	"fmt"

	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/app"
)

// setAsideRows are the status lines for what cleanup gave up on: the
// artifacts it could not remove, and why, so they are seen and not
// retried forever.
func (s *session) setAsideRows() ([][]string, error) {
	st, err := s.store()
	if err != nil {
		return nil, err
	}
	aside, n, err := st.SetAsideGarbage(s.ctx, 20)
	if err != nil {
		return nil, err
	}
	rows := [][]string{{"set aside", fmt.Sprintf("%d artifacts (retry them with `rewind cleanup --release` once fixed)", n)}}
	if n == 0 {
		rows[0][1] = "none"
	}
	for _, a := range aside {
		where := a.Ref
		if a.DeploymentID != "" {
			where = a.DeploymentID + " " + a.Ref
		}
		rows = append(rows, []string{"  " + a.Kind, fmt.Sprintf("%s: %d attempts, last: %s", where, a.Attempts, a.LastError)})
	}
	return rows, nil
}

func (s *session) releaseGarbage() error {
	st, err := s.store()
	if err != nil {
		return err
	}
	n, err := st.ReleaseGarbage(s.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "released %d artifacts: the next cleanup tries to remove them again\n", n)
	return nil
}

func (s *session) resetSchedule(tc client.Client) error {
	cfg, err := s.config()
	if err != nil {
		return err
	}
	if err := app.ResetCleanupSchedule(s.ctx, tc, cfg); err != nil {
		return err
	}
	fmt.Fprintf(s.out, "schedule rewritten from this configuration: %q, %s\n", cfg.CleanupCron, map[bool]string{true: "active", false: "paused (REWIND_CLEANUP_ENABLED=false)"}[cfg.CleanupEnabled])
	return nil
}

func count(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
