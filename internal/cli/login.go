package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
	"github.com/spf13/cobra"
)

// credentials say where `rewind serve` is and which token to present.
// REWIND_API_URL and REWIND_TOKEN win over the file `rewind login` writes.
type credentials struct {
	URL   string `json:"url"`
	Token string `json:"token"`
}

// credentialsPath is the login file: rewind/credentials.json under the
// user's configuration directory ($XDG_CONFIG_HOME or ~/.config on Linux).
func credentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "rewind", "credentials.json"), nil
}

func loadCredentials() (credentials, error) {
	var c credentials
	if p, err := credentialsPath(); err == nil {
		raw, err := os.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return c, err
		default:
			if err := json.Unmarshal(raw, &c); err != nil {
				return c, fmt.Errorf("%s is not a rewind login (run `rewind logout`, then `rewind login`): %w", p, err)
			}
		}
	}
	if u := os.Getenv("REWIND_API_URL"); u != "" {
		c.URL = u
	}
	if t := os.Getenv("REWIND_TOKEN"); t != "" {
		c.Token = t
	}
	return c, nil
}

// saveCredentials writes the login file readable by its owner only: it
// holds a bearer token.
func saveCredentials(c credentials) (string, error) {
	p, err := credentialsPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", err
	}
	raw, _ := json.MarshalIndent(c, "", "  ")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o600); err != nil { // WriteFile keeps an existing file's mode
		return "", err
	}
	return p, os.Rename(tmp, p)
}

func loginCmd(s *session) *cobra.Command {
	var apiURL string
	cmd := &cobra.Command{
		Use:   "login --url URL",
		Short: "Keep a token for `rewind serve` (read from stdin) in your configuration directory, mode 0600",
		Long: "Reads a token (rwd_…, from `rewind token create`) on stdin, checks it with the server and keeps the URL and token in " +
			"rewind/credentials.json under your configuration directory. Every command then runs through the server as the token's user. " +
			"REWIND_API_URL and REWIND_TOKEN override the file.",
		Args: exactArgs(0, "no arguments (the URL goes in --url, the token on stdin)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if apiURL == "" {
				apiURL = os.Getenv("REWIND_API_URL")
			}
			if apiURL == "" {
				return usageError{fmt.Errorf("--url names rewind serve, e.g. https://rewind.example.com")}
			}
			if w := plaintextWarning(apiURL); w != "" {
				fmt.Fprintln(s.err, w)
			}
			fmt.Fprint(s.err, "token: ")
			line, _ := bufio.NewReader(s.in).ReadString('\n')
			c := credentials{URL: apiURL, Token: strings.TrimSpace(line)}
			r, err := newRemote(s.ctx, c, s.out)
			if err != nil {
				return err
			}
			p, err := saveCredentials(c)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "logged in to %s as %s (token kept in %s)\n", r.c.BaseURL(), r.me.User, p)
			return nil
		},
	}
	cmd.Flags().StringVar(&apiURL, "url", "", "rewind serve's address (default $REWIND_API_URL)")
	return cmd
}

func logoutCmd(s *session) *cobra.Command {
	var revoke bool
	cmd := &cobra.Command{
		Use:   "logout [--revoke]",
		Short: "Forget the token `rewind login` kept (and with --revoke, end it on the server)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := credentialsPath()
			if err != nil {
				return err
			}
			if revoke {
				c, err := loadCredentials()
				if err != nil {
					return err
				}
				r, err := newRemote(s.ctx, c, s.out)
				if err != nil {
					return err
				}
				if r.me.Token != nil {
					if _, err := r.c.RevokeToken(r.ctx, action.RevokeToken{ID: r.me.Token.ID}); err != nil {
						return err
					}
				}
			}
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			fmt.Fprintf(s.out, "logged out (%s removed)\n", p)
			return nil
		},
	}
	cmd.Flags().BoolVar(&revoke, "revoke", false, "revoke the token on the server first, so no copy of it works")
	return cmd
}

func whoamiCmd(s *session) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Who this CLI acts as: the token's user through rewind serve, else the requester store-direct; and its grants",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := invoke(s, action.Whoami{}, (*client.Client).Whoami)
			if err != nil {
				return err
			}
			if s.output == "json" {
				return s.json(id)
			}
			how := "store-direct: the requester is claimed (--as, $REWIND_USER or the OS user); the database URL is administration"
			if id.Verified {
				how = "through rewind serve, proven by token"
				if id.Token != nil {
					how += " " + id.Token.ID
					if id.Token.ExpiresAt != nil {
						how += ", expires " + stamp(*id.Token.ExpiresAt)
					}
				}
			}
			fmt.Fprintf(s.out, "%s (%s)\n", id.User, how)
			rows := make([][]string, 0, len(id.Grants))
			for _, g := range id.Grants {
				where, what := g.DeploymentID, g.Role
				if where == "" {
					where = "(every deployment)"
				}
				if what == "" {
					what = g.Permission
				}
				rows = append(rows, []string{where, what})
			}
			if len(rows) == 0 {
				fmt.Fprintln(s.out, "no grants")
				return nil
			}
			return table(s.out, []string{"DEPLOYMENT", "ROLE OR PERMISSION"}, rows)
		},
	}
	cmd.Flags().StringVar(&s.as, "as", "", "store-direct: the requester to show (default $REWIND_USER, else the OS user); refused through rewind serve")
	return cmd
}
