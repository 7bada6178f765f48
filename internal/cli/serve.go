package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/api"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/config"
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
			dc, err := app.DataConverter(cfg)
			if err != nil {
				return err
			}
			srv, err := api.New(api.Options{Config: cfg, Store: st, Temporal: tc, Logger: logger, DataConverter: dc,
				SecureCookies: secureCookies || cfg.HTTPSecureCookies, SessionKey: []byte(cfg.HTTPSessionKey), TrustedProxies: proxies})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(s.ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return api.Serve(ctx, address, srv.Handler(), logger)
		},
	}
	cmd.Flags().StringVar(&address, "address", api.DefaultAddress, "address to listen on (default $REWIND_HTTP_ADDRESS)")
	cmd.Flags().BoolVar(&secureCookies, "secure-cookies", false, "mark the page's cookies Secure (serving over HTTPS)")
	mayCreateDataDir(cmd)
	return cmd
}
