package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
	"github.com/rewindhq/rewind/internal/domain"
)

// tokenCmd manages the API tokens of `rewind serve`. A token is shown once,
// when created; only its SHA-256 is stored.
func tokenCmd(s *session) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens for `rewind serve`"}

	var (
		user, description string
		expires           time.Duration
	)
	create := &cobra.Command{
		Use:   "create --user NAME [--description TEXT] [--expires DURATION]",
		Short: "Create a token for a user (shown once; the user is the requester of what the token starts)",
		Args:  exactArgs(0, "no arguments (the user goes in --user)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" {
				return usageError{fmt.Errorf("--user NAME names whose token it is")}
			}
			if !cmd.Flags().Changed("expires") {
				expires = 0 // the installation's default
			} else if expires <= 0 {
				return domain.Errorf(domain.InvalidInput, "a token's lifetime must be positive, e.g. 720h for 30 days (got %s)", expires)
			}
			it, err := invoke(s, action.CreateToken{User: user, Description: description, TTL: expires}, (*client.Client).CreateToken)
			plain, t := it.Plain, it.Token
			if err != nil {
				return err
			}
			if s.output == "json" {
				return s.json(map[string]any{"id": t.ID, "user": t.User, "description": t.Description, "createdAt": t.CreatedAt, "expiresAt": t.ExpiresAt, "token": plain})
			}
			fmt.Fprintf(s.out, "token %s for %s, expires %s (shown once; keep it secret):\n%s\n", t.ID, t.User, stamp(*t.ExpiresAt), plain)
			return nil
		},
	}
	create.Flags().StringVar(&user, "user", "", "the user the token acts as (required)")
	create.Flags().StringVar(&description, "description", "", "what the token is for, e.g. CI")
	create.Flags().DurationVar(&expires, "expires", 0, "how long the token lasts, e.g. 720h (default $REWIND_TOKEN_TTL, 2160h)")

	var listUser string
	list := &cobra.Command{
		Use:   "list [--user NAME]",
		Short: "List tokens (ids, users, when made, when they expire, when revoked; never the tokens)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := invoke(s, action.ListTokens{User: listUser}, (*client.Client).ListTokens)
			if err != nil {
				return err
			}
			if s.output == "json" {
				if ts == nil {
					ts = []action.Token{}
				}
				return s.json(ts)
			}
			rows := make([][]string, 0, len(ts))
			now := time.Now()
			for _, t := range ts {
				revoked := "-"
				if t.RevokedAt != nil {
					revoked = stamp(*t.RevokedAt)
				}
				rows = append(rows, []string{t.ID, t.User, stamp(t.CreatedAt), expiry(t, now), revoked, orDash(clipText(t.Description, 50))})
			}
			return table(s.out, []string{"ID", "USER", "CREATED", "EXPIRES", "REVOKED", "DESCRIPTION"}, rows)
		},
	}
	list.Flags().StringVar(&listUser, "user", "", "only this user's tokens")

	revoke := &cobra.Command{
		Use:   "revoke <id>",
		Short: "Revoke a token: it stops working at once, for the API and page sessions alike",
		Args:  exactArgs(1, "a token id (see `rewind token list`)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := invoke(s, action.RevokeToken{ID: args[0]}, (*client.Client).RevokeToken); err != nil {
				return err
			}
			fmt.Fprintf(s.out, "token %s revoked\n", args[0])
			return nil
		},
	}
	// Issuing the first administrator's token is part of starting an
	// installation, like the grant before it.
	mayCreateDataDir(create)
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// expiry is a token's EXPIRES column: when, marked once past; "never" for
// tokens made before tokens expired.
func expiry(t action.Token, now time.Time) string {
	switch {
	case t.ExpiresAt == nil:
		return "never"
	case t.Expired(now):
		return stamp(*t.ExpiresAt) + " (expired)"
	}
	return stamp(*t.ExpiresAt)
}
