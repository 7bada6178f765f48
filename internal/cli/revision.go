package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
)

func init() { verbs = append(verbs, revisionCmd) }

func revisionCmd(s *session) *cobra.Command {
	cmd := &cobra.Command{Use: "revision", Short: "One revision of a deployment, whole"}
	cmd.AddCommand(&cobra.Command{
		Use:   "show <deployment> <N>",
		Short: "Show revision N: what it ran, where it came from, who asked, how it ended, and the change's steps with times and attempts",
		Args:  exactArgs(2, "a deployment id and a revision number"),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return usageError{fmt.Errorf("revision %q: want a number, 1 or more", clipText(args[1], 20))}
			}
			d, err := invoke(s, action.ShowRevision{Deployment: args[0], Number: n}, (*client.Client).ShowRevision)
			if err != nil {
				return err
			}
			if s.output == "json" {
				return s.json(d)
			}
			return printRevision(s, d)
		},
	})
	return cmd
}

func printRevision(s *session, d action.RevisionDetail) error {
	r := d.Revision
	what := string(r.Status)
	if r.RollbackOf > 0 {
		what += fmt.Sprintf(", a rollback to revision %d", r.RollbackOf)
	}
	by := r.CreatedBy + " (claimed)"
	if r.RequestedByVerified {
		by = r.CreatedBy + " (verified)"
	}
	rows := [][]string{
		{"revision", fmt.Sprintf("%d of %s: %s", r.Number, r.DeploymentID, what)},
		{"requested", stamp(r.CreatedAt) + " by " + by},
		{"description", r.Description},
		{"type", string(r.Type)},
		{"image", orDash(r.ImageRef) + digestNote(r.ImageDigest)},
		{"versions", fmt.Sprintf("Runtime %s%s, Airflow %s%s", orDash(r.RuntimeVersion), sourceOf(r.RuntimeVersionSource), orDash(r.AirflowVersion), sourceOf(r.AirflowVersionSource))},
		{"DAG bundle", orDash(r.DagBundleVersion) + digestNote(r.DagBundleDigest)},
	}
	if g := r.Git; g != nil {
		rows = append(rows, []string{"git", strings.TrimSpace(fmt.Sprintf("%s %s %s %s", g.Commit, orEmpty("branch ", g.Branch), orEmpty("by ", g.Author), g.Subject))})
	}
	if r.ForcedPast > 0 {
		rows = append(rows, []string{"guard", fmt.Sprintf("forced past the rollback of revision %d", r.ForcedPast)})
	}
	if r.MetadataSnapshot != "" {
		rows = append(rows, []string{"snapshot", r.MetadataSnapshot})
	}
	if r.FinishedAt != nil {
		rows = append(rows, []string{"finished", stamp(*r.FinishedAt)})
	}
	if r.FailureReason != "" {
		rows = append(rows, []string{"failure", r.FailureReason})
	}
	switch c := d.Change; {
	case c != nil:
		rows = append(rows, []string{"change", fmt.Sprintf("%s (run %s): %s", c.WorkflowID, c.RunID, c.Status)})
		if c.Error != nil {
			rows = append(rows, []string{"error", c.Error.Type + ": " + c.Error.Message})
		}
	case d.ChangeUnavailable != "":
		rows = append(rows, []string{"change", r.WorkflowID + ": " + d.ChangeUnavailable})
	}
	if err := table(s.out, []string{"FIELD", "VALUE"}, rows); err != nil {
		return err
	}
	if d.Change == nil || len(d.Change.Steps) == 0 {
		return nil
	}
	fmt.Fprintln(s.out)
	var steps [][]string
	for _, st := range d.Change.Steps {
		took := "-"
		if st.StartedAt != nil && st.EndedAt != nil {
			took = st.EndedAt.Sub(*st.StartedAt).Round(10 * time.Millisecond).String()
		}
		started := "-"
		if st.StartedAt != nil {
			started = st.StartedAt.UTC().Format("15:04:05.00")
		}
		detail := st.Detail
		if st.Error != "" {
			detail = st.Error
		}
		steps = append(steps, []string{st.Name, string(st.State), strconv.Itoa(st.Attempts), started, took, clipText(detail, 120)})
	}
	return table(s.out, []string{"STEP", "STATE", "ATTEMPTS", "STARTED", "TOOK", "DETAIL"}, steps)
}

func digestNote(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}

func sourceOf(src string) string {
	if src == "" {
		return ""
	}
	return " from " + src
}

func orEmpty(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}
