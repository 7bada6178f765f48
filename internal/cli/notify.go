package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/notify"
)

func notifyCmd(s *session) *cobra.Command {
	cmd := &cobra.Command{Use: "notify", Short: "Webhooks told when changes start, finish, fail or are compensated"}
	var dep, secretFile string
	var events []string
	add := &cobra.Command{
		Use:   "add --url URL --secret-file FILE [--deployment ID] [--event E]…",
		Short: "Add a webhook for one deployment, or for every deployment",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			url, _ := cmd.Flags().GetString("url")
			if err := notify.CheckURL(url); err != nil {
				return err
			}
			if err := notify.CheckEvents(events); err != nil {
				return err
			}
			if dep != "" {
				if err := domain.CheckDeploymentID(dep); err != nil {
					return err
				}
			}
			// The secret is read from a file, never a flag: flags are in
			// shell history and in every process listing.
			b, err := os.ReadFile(secretFile)
			secret := strings.TrimSpace(string(b))
			if err != nil || len(secret) < 16 {
				return domain.Errorf(domain.InvalidInput, "--secret-file must name a file holding a secret of 16 bytes or more")
			}
			w, err := invoke(s, action.CreateWebhook{DeploymentID: dep, URL: url, Secret: secret, Events: events}, (*client.Client).CreateWebhook)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "added webhook %s for %s\n", w.ID, scopeOf(dep))
			return nil
		},
	}
	add.Flags().String("url", "", "where to POST notifications (http or https)")
	add.Flags().StringVar(&secretFile, "secret-file", "", "file holding the secret that signs each delivery (X-Rewind-Signature)")
	add.Flags().StringVar(&dep, "deployment", "", "only this deployment's changes (default: every deployment)")
	add.Flags().StringArrayVar(&events, "event", nil, "only these events: "+strings.Join(notify.Events, ", ")+" (default: all)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List webhooks (secrets are never shown)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			hooks, err := invoke(s, action.ListWebhooks{}, (*client.Client).ListWebhooks)
			if err != nil {
				return err
			}
			if s.output == "json" {
				if hooks == nil {
					hooks = []action.Webhook{}
				}
				return s.json(hooks)
			}
			rows := [][]string{}
			for _, h := range hooks {
				ev := "all"
				if len(h.Events) > 0 {
					ev = strings.Join(h.Events, ",")
				}
				rows = append(rows, []string{h.ID, scopeOf(h.DeploymentID), h.URL, ev})
			}
			return table(s.out, []string{"ID", "FOR", "URL", "EVENTS"}, rows)
		},
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a webhook",
		Args:  exactArgs(1, "a webhook id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := invoke(s, action.RemoveWebhook{ID: args[0]}, (*client.Client).RemoveWebhook); err != nil {
				return err
			}
			fmt.Fprintf(s.out, "removed webhook %s\n", args[0])
			return nil
		},
	}
	var testDep string
	test := &cobra.Command{
		Use:   "test [--deployment ID]",
		Short: "Send a sample notification to the webhooks, through the worker, and wait for it",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if testDep != "" {
				if err := domain.CheckDeploymentID(testDep); err != nil {
					return err
				}
			}
			res, err := invoke(s, action.SendTestNotification{DeploymentID: testDep}, (*client.Client).SendTestNotification)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "test notification delivered to %d webhook(s) (workflow %s)\n", res.Delivered, res.WorkflowID)
			return nil
		},
	}
	test.Flags().StringVar(&testDep, "deployment", "", "the webhooks of this deployment (and the installation's)")
	cmd.AddCommand(add, list, remove, test)
	return cmd
}

func scopeOf(dep string) string {
	if dep == "" {
		return "every deployment"
	}
	return "deployment " + dep
}
