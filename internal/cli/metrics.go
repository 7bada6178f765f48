package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
	"github.com/rewindhq/rewind/internal/domain"
)

// metricsCmd is `rewind metrics [<deployment>] [--since 30d]`: DORA's five
// from the deploy history (docs/metrics.md), for one deployment or across
// the deployments the caller may read.
func init() { verbs = append(verbs, metricsCmd) }

func metricsCmd(s *session) *cobra.Command {
	var since string
	cmd := &cobra.Command{
		Use:   "metrics [<deployment>] [--since 30d]",
		Short: "Delivery metrics from the deploy history: deployment frequency, change lead time, change failure rate, recovery time, rework rate",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("expected at most one deployment id")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id := ""
			if len(args) == 1 {
				id = args[0]
				if err := domain.CheckDeploymentID(id); err != nil {
					return err
				}
			}
			// A malformed flag exits 2 naming it (issue 28's convention);
			// the API refuses the same window with InvalidInput.
			if _, err := action.ParseWindow(since); err != nil {
				return usageError{fmt.Errorf("--since %q: want a number followed by h, d or w, from 1h to 366d", clipText(since, 40))}
			}
			rep, err := invoke(s, action.ShowMetrics{Deployment: id, Since: since}, (*client.Client).ShowMetrics)
			if err != nil {
				return err
			}
			if s.output == "json" {
				return s.json(rep)
			}
			return printMetrics(s, rep)
		},
	}
	cmd.Flags().StringVar(&since, "since", action.DefaultMetricsWindow, "the window up to now: a number followed by h, d or w (1h to 366d)")
	return cmd
}

func printMetrics(s *session, r action.MetricsReport) error {
	scope := "all deployments you may read"
	if r.DeploymentID != "" {
		scope = "deployment " + r.DeploymentID
	}
	fmt.Fprintf(s.out, "Delivery metrics of %s, %s to %s (%s):\n", scope, stamp(r.Since), stamp(r.Until), r.Window)
	f, lt, cfr, rt, rw := r.DeploymentFrequency, r.LeadTime, r.ChangeFailureRate, r.RecoveryTime, r.ReworkRate
	rows := [][]string{
		{"deployment frequency", fmt.Sprintf("%.2f/day, %.2f/week", f.PerDay, f.PerWeek), fmt.Sprintf("%d deploys DEPLOYED (rollbacks not counted)", f.Deploys)},
		{"change lead time", spread(lt), fmt.Sprintf("%d deploys with a commit time, %d without", lt.Count, lt.Missing)},
		{"change failure rate", percent(cfr.Rate), fmt.Sprintf("%d failed + %d rolled back of %d deploys that ended", cfr.Failed, cfr.RolledBack, cfr.Deploys)},
		{"recovery time", spread(rt), fmt.Sprintf("%d rolled-back deploys, landing to rollback", rt.Count)},
		{"rework rate", percent(rw.Rate), fmt.Sprintf("%d rollbacks (%d automatic) + %d forced of %d changes DEPLOYED", rw.Rollbacks, rw.AutomaticRollbacks, rw.Forced, rw.Deploys+rw.Rollbacks)},
	}
	if err := table(s.out, []string{"METRIC", "VALUE", "FROM"}, rows); err != nil {
		return err
	}
	if len(r.Deployments) == 0 {
		return nil
	}
	fmt.Fprintln(s.out)
	var per [][]string
	for _, d := range r.Deployments {
		per = append(per, []string{d.DeploymentID, fmt.Sprint(d.DeploymentFrequency.Deploys), fmt.Sprintf("%.2f", d.DeploymentFrequency.PerDay),
			percent(d.ChangeFailureRate.Rate), percent(d.ReworkRate.Rate)})
	}
	return table(s.out, []string{"DEPLOYMENT", "DEPLOYS", "PER DAY", "FAILURE RATE", "REWORK RATE"}, per)
}

func spread(d action.Durations) string {
	if d.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("median %s, p90 %s", round(d.MedianSeconds), round(d.P90Seconds))
}

func round(sec float64) string {
	return (time.Duration(sec * float64(time.Second))).Round(time.Second).String()
}

func percent(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *r*100)
}
