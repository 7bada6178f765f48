package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/serve"
)

// serveCmd runs the HTTP API and the Deploy History page until SIGINT or
// SIGTERM.
func serveCmd(s *session) *cobra.Command {
	var (
		address       string
		secureCookies bool
	)
	cmd := &cobra.Command{
		Use:   "serve [--address HOST:PORT]",
		Short: "Serve the HTTP API (/api/v1) and the Deploy History page",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, st, tc, err := s.all()
			if err != nil {
				return err
			}
			logger := app.Logger(cfg)
			if !cmd.Flags().Changed("address") {
				address = cfg.HTTPAddress
			}
			proxies, err := config.ParseProxies(cfg.HTTPTrustedProxies)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(s.ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve.Run(ctx, cfg, st, tc, logger, serve.Options{Address: address, SecureCookies: secureCookies || cfg.HTTPSecureCookies, TrustedProxies: proxies})
		},
	}
	cmd.Flags().StringVar(&address, "address", serve.DefaultAddress, "address to listen on (default $REWIND_HTTP_ADDRESS)")
	cmd.Flags().BoolVar(&secureCookies, "secure-cookies", false, "mark the page's cookies Secure (serving over HTTPS)")
	mayCreateDataDir(cmd)
	return cmd
}
