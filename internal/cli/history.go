package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
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
			if s.output == "json" {
				return s.json(revs)
			}
			rows := make([][]string, 0, len(revs))
			for _, r := range revs {
				rows = append(rows, []string{revisionLabel(r), stamp(r.CreatedAt), r.CreatedBy, string(r.Type),
					orDash(r.ImageRef), orDash(r.DagBundleVersion), statusText(r), clipText(r.Description, 60)})
			}
			return table(s.out, []string{"REVISION", "TIME", "USER", "TYPE", "IMAGE", "DAG BUNDLE VERSION", "STATUS", "DESCRIPTION"}, rows)
		},
	}
	cmd.Flags().IntVar(&h.Limit, "limit", 20, fmt.Sprintf("how many revisions (1-%d)", action.MaxHistoryLimit))
	return cmd
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
