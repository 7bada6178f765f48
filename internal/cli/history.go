package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

func historyCmd(s *session) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "history <deployment> [--limit N] [--output table|wide|json]",
		Short: "List a deployment's deploys and rollbacks, newest first",
		Args:  exactArgs(1, "a deployment id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := domain.CheckDeploymentID(args[0]); err != nil {
				return err
			}
			page, err := invoke(s, action.ListDeploys{Deployment: args[0], Limit: limit}, (*client.Client).ListDeploys)
			if err != nil {
				return err
			}
			if s.output == "json" {
				// The revision objects of SPEC §1, plus whether each is a
				// rollback target now (R6, R7).
				if page.Deploys == nil {
					page.Deploys = []action.HistoryRow{}
				}
				return s.json(page.Deploys)
			}
			// The default fits a terminal (about 120 columns); --output wide
			// has every column, whole image references included.
			head := []string{"REVISION", "TIME", "USER", "IMAGE", "COMMIT", "STATUS", "TARGET", "DESCRIPTION"}
			if s.output == "wide" {
				head = []string{"REVISION", "TIME", "USER", "TYPE", "IMAGE", "DAG BUNDLE VERSION", "COMMIT", "STATUS", "ROLLBACK TARGET", "DESCRIPTION"}
			}
			rows := make([][]string, 0, len(page.Deploys))
			for _, h := range page.Deploys {
				r := h.Revision
				if s.output == "wide" {
					rows = append(rows, []string{revisionLabel(r), stamp(r.CreatedAt), requester(r), string(r.Type),
						orDash(r.ImageRef), orDash(r.DagBundleVersion), commitText(r), statusText(r), targetText(h.RollbackTarget),
						clipText(r.Description, 60)})
					continue
				}
				rows = append(rows, []string{revisionLabel(r), stamp(r.CreatedAt), requester(r), orDash(shortImage(r.ImageRef)),
					commitText(r), clipText(statusText(r), 30), clipText(targetText(h.RollbackTarget), 32), clipText(r.Description, 60)})
			}
			if err := table(s.out, head, rows); err != nil {
				return err
			}
			for _, h := range page.Deploys {
				if h.Number == page.CurrentRevision {
					if g := action.Guard(h.Revision); g != "" {
						fmt.Fprintln(s.out, g)
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, fmt.Sprintf("how many revisions (1-%d)", action.MaxHistoryLimit))
	return cmd
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

// shortImage is an image reference without its registry and path: the
// repository's last part and the tag, which is what tells revisions apart
// at a glance (--output wide has the whole reference).
func shortImage(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}
