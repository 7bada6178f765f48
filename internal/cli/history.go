package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

func historyCmd(s *session) *cobra.Command {
	h := action.History{}
	cmd := &cobra.Command{
		Use:   "history <deployment> [--limit N]",
		Short: "List a deployment's deploys and rollbacks, newest first",
		Args:  exactArgs(1, "a deployment id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := s.store()
			if err != nil {
				return err
			}
			h.Store = st
			revs, err := h.Run(s.ctx, args[0])
			if err != nil {
				return err
			}
			cfg, err := s.config()
			if err != nil {
				return err
			}
			d, err := st.GetDeployment(s.ctx, args[0])
			if err != nil {
				return err
			}
			latest, err := st.LatestDeployed(s.ctx, args[0])
			if err != nil {
				return err
			}
			now, window := time.Now(), time.Duration(cfg.RollbackWindowDays)*24*time.Hour
			if s.output == "json" {
				// The revision objects of SPEC §1, plus whether each is a
				// rollback target now (R6, R7).
				out := make([]historyRow, 0, len(revs))
				for _, r := range revs {
					out = append(out, historyRow{r, policy.Target(r, d.CurrentRevision, latest, now, window)})
				}
				return s.json(out)
			}
			rows := make([][]string, 0, len(revs))
			for _, r := range revs {
				rows = append(rows, []string{revisionLabel(r), stamp(r.CreatedAt), requester(r), string(r.Type),
					orDash(r.ImageRef), orDash(r.DagBundleVersion), commitText(r), statusText(r), targetText(policy.Target(r, d.CurrentRevision, latest, now, window)),
					clipText(r.Description, 60)})
			}
			if err := table(s.out, []string{"REVISION", "TIME", "USER", "TYPE", "IMAGE", "DAG BUNDLE VERSION", "COMMIT", "STATUS", "ROLLBACK TARGET", "DESCRIPTION"}, rows); err != nil {
				return err
			}
			for _, r := range revs {
				if r.Number == d.CurrentRevision {
					if g := activities.Guard(r); g != "" {
						fmt.Fprintln(s.out, g)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&h.Limit, "limit", 20, fmt.Sprintf("how many revisions (1-%d)", action.MaxHistoryLimit))
	return cmd
}

type historyRow struct {
	domain.Revision
	RollbackTarget policy.TargetStatus `json:"rollbackTarget"`
}

func targetText(t policy.TargetStatus) string {
	switch {
	case !t.Eligible:
		return "no: " + t.Reason
	case t.Until == nil:
		return "yes"
	}
	return "yes, until " + t.Until.UTC().Format("2006-01-02")
}

// revisionLabel marks rollback rows with the revision they restored.
func revisionLabel(r domain.Revision) string {
	if r.RollbackOf > 0 {
		return fmt.Sprintf("%d (rollback to %d)", r.Number, r.RollbackOf)
	}
	return strconv.Itoa(r.Number)
}

func statusText(r domain.Revision) string {
	if r.Status == domain.StatusFailed && r.FailureReason != "" {
		return "FAILED: " + clipText(r.FailureReason, 40)
	}
	return string(r.Status)
}

// requester is who asked for a revision, marked when it is only what the
// request claimed rather than verified (R18).
func requester(r domain.Revision) string {
	if r.RequestedByVerified {
		return r.CreatedBy
	}
	return r.CreatedBy + " (claimed)"
}

// commitText is a revision's git commit, short, and the rollback guard it
// overrode if any.
func commitText(r domain.Revision) string {
	c := "-"
	if r.Git != nil {
		c = r.Git.Commit
		if len(c) > 10 {
			c = c[:10]
		}
	}
	if r.ForcedPast > 0 {
		c += fmt.Sprintf(" (forced past #%d)", r.ForcedPast)
	}
	return c
}
