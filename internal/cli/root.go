// Package cli is the `rewind` command line: a thin layer of cobra commands
// over internal/action and the store. Every refusal is a non-zero exit with
// a one-line reason on stderr.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/termsafe"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitRefused = 1 // the action was refused or failed
	ExitUsage   = 2 // the command line itself was wrong
	ExitTimeout = 3 // --wait gave up after --timeout; the change goes on
)

type usageError struct{ error }

// session holds what commands share, opened on first use so that commands
// that need only the store never dial Temporal.
type session struct {
	ctx      context.Context
	in       io.Reader
	out, err io.Writer
	output   string
	as       string
	cfg      *config.Config
	st       *action.Store
	tc       client.Client
	be       backend // store-direct or remote, chosen on first use
	// createsDataDir: the running command may make the data directory
	// (datadir.go).
	createsDataDir bool
}

func (s *session) config() (*config.Config, error) {
	if s.cfg == nil {
		c, err := config.LoadFinding(func() (string, bool) {
			dir, _, ok := findDataDir()
			return dir, ok
		})
		if err != nil {
			return nil, err
		}
		s.cfg = c
	}
	return s.cfg, nil
}

func (s *session) store() (*action.Store, error) {
	if s.st == nil {
		cfg, err := s.config()
		if err != nil {
			return nil, err
		}
		if err := s.checkDataDir(cfg.DataDir, cfg.DatabaseURL); err != nil {
			return nil, err
		}
		if err := app.MakeDataDir(cfg); err != nil {
			return nil, err
		}
		if s.st, err = action.OpenStore(s.ctx, cfg.DatabaseURL); err != nil {
			return nil, err
		}
	}
	return s.st, nil
}

func (s *session) temporal() (client.Client, error) {
	if s.tc == nil {
		cfg, err := s.config()
		if err != nil {
			return nil, err
		}
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		if s.tc, err = app.Dial(cfg, quiet); err != nil {
			return nil, err
		}
	}
	return s.tc, nil
}

// all opens everything a change needs: configuration, store and Temporal.
func (s *session) all() (*config.Config, *action.Store, client.Client, error) {
	cfg, err := s.config()
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := s.store()
	if err != nil {
		return nil, nil, nil, err
	}
	tc, err := s.temporal()
	return cfg, st, tc, err
}

// deployment checks the id before anything reaches the store, then loads it.
func (s *session) deployment(id string) (domain.Deployment, *action.Store, error) {
	if err := domain.CheckDeploymentID(id); err != nil {
		return domain.Deployment{}, nil, err
	}
	st, err := s.store()
	if err != nil {
		return domain.Deployment{}, nil, err
	}
	d, err := st.GetDeployment(s.ctx, id)
	return d, st, err
}

func (s *session) close() {
	if s.st != nil {
		s.st.Close()
	}
	if s.tc != nil {
		s.tc.Close()
	}
}

// verbs are the commands that register themselves from their own file
// (`func init() { verbs = append(verbs, xCmd) }`), so a new verb is one
// file here; cobra lists commands sorted, whatever the order.
var verbs []func(*session) *cobra.Command

// requester is --as, else $REWIND_USER, else the OS user (SPEC §3).
func (s *session) requester() string {
	if s.as != "" {
		return s.as
	}
	if u := os.Getenv("REWIND_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// Run executes the rewind command line and returns the exit code. stdin
// answers the rollback confirmation.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// Everything rewind prints about deployments came from users or
	// containers at some point: descriptions, failure reasons quoting
	// container output, webhook URLs. The writers escape control
	// characters, so none of it can move the cursor, rewrite rows, set
	// links or write the clipboard on an operator's terminal (issue 26).
	s := &session{ctx: ctx, in: stdin, out: termsafe.NewWriter(stdout), err: termsafe.NewWriter(stderr)}
	defer s.close()
	root := &cobra.Command{
		Use:           "rewind",
		Short:         "Deploy history and emergency rollbacks for Airflow on Docker, on Temporal",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			s.createsDataDir = cmd.Annotations[createsDataDir] == "true"
			if s.output != "table" && s.output != "json" && s.output != "wide" {
				return usageError{fmt.Errorf("--output must be table, wide or json, not %q", s.output)}
			}
			return nil
		},
	}
	root.Version = readBuildInfo().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVarP(&s.output, "output", "o", "table", "output format: table, wide (every column, where a table has more) or json")
	root.AddCommand(deploymentCmd(s), hostCmd(s), grantCmd(s, true), grantCmd(s, false), deployCmd(s), historyCmd(s), rollbackCmd(s), watchCmd(s), cleanupCmd(s), serveCmd(s), tokenCmd(s), notifyCmd(s),
		loginCmd(s), logoutCmd(s), whoamiCmd(s), probeCmd(), versionCmd(s))
	for _, verb := range verbs {
		root.AddCommand(verb(s))
	}
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(s.err, "rewind: "+oneLine(err))
	if errors.As(err, new(waitTimedOut)) {
		return ExitTimeout
	}
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "arg(s)") {
		return ExitUsage
	}
	return ExitRefused
}

// oneLine renders an error as the single line a refusal gets: its SPEC §3
// type, then the innermost message.
func oneLine(err error) string {
	msg := strings.Join(strings.Fields(action.Message(err)), " ")
	if t := action.ErrorType(err); t != "" && !strings.HasPrefix(msg, t) {
		return t + ": " + msg
	}
	return msg
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{fmt.Errorf("expected %s", what)}
		}
		return nil
	}
}
