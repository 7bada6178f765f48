package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

// grantCmd builds `rewind grant` or, with grant false, `rewind revoke`.
func grantCmd(s *session, grant bool) *cobra.Command {
	var g domain.Grant
	var system bool
	verb := map[bool]string{true: "grant", false: "revoke"}[grant]
	cmd := &cobra.Command{
		Use:   verb + " <user> (--deployment ID (--role editor|viewer | --permission PERM) | --system --permission " + policy.SystemImagesPush + "|" + policy.SystemAdmin + ")",
		Short: map[bool]string{true: "Give a user a role or permission", false: "Take a role or permission away"}[grant] + " (through rewind serve: needs " + policy.SystemAdmin + ")",
		Args:  exactArgs(1, "a user name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			g.User = args[0]
			if system == (g.DeploymentID != "") {
				return usageError{fmt.Errorf("give exactly one of --deployment ID or --system")}
			}
			if err := policy.CheckGrant(g); err != nil {
				return err
			}
			if _, err := invoke(s, action.ChangeGrant{Grant: g, Revoke: !grant}, (*client.Client).ChangeGrant); err != nil {
				return err
			}
			what := "role " + g.Role
			if g.Role == "" {
				what = "permission " + g.Permission
			}
			where := "deployment " + g.DeploymentID
			if system {
				where = "every deployment"
			}
			fmt.Fprintf(s.out, "%s: %s %s on %s\n", verb, g.User, what, where)
			return nil
		},
	}
	cmd.Flags().StringVar(&g.DeploymentID, "deployment", "", "the deployment")
	cmd.Flags().BoolVar(&system, "system", false, "installation-wide")
	cmd.Flags().StringVar(&g.Role, "role", "", "editor (images and DAGs) or viewer")
	cmd.Flags().StringVar(&g.Permission, "permission", "", policy.ImagesPush+", "+policy.DagsPush+" or, with --system, "+policy.SystemImagesPush+" or "+policy.SystemAdmin+" (administration through the API)")
	if grant { // the first administrator is made store-direct, in a new installation
		mayCreateDataDir(cmd)
	}
	return cmd
}
