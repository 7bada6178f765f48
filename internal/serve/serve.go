// Package serve composes `rewind serve`: the HTTP API and the Deploy
// History page (internal/api) on the configured store and Temporal client,
// with the installation's data converter. It is the one place outside
// tests that builds an api.Server, so the CLI needs nothing of api.
package serve

import (
	"context"
	"log/slog"
	"net/netip"

	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/api"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/store"
)

// DefaultAddress is where `rewind serve` listens by default.
const DefaultAddress = api.DefaultAddress

// Options are `rewind serve`'s own settings, beside the configuration.
type Options struct {
	Address        string
	SecureCookies  bool
	TrustedProxies []netip.Prefix
}

// Run serves the HTTP API and the Deploy History page on st and tc until
// ctx ends.
func Run(ctx context.Context, cfg *config.Config, st *store.Store, tc client.Client, logger *slog.Logger, o Options) error {
	dc, err := app.DataConverter(cfg)
	if err != nil {
		return err
	}
	srv, err := api.New(api.Options{Config: cfg, Store: st, Temporal: tc, Logger: logger, DataConverter: dc,
		SecureCookies: o.SecureCookies, SessionKey: []byte(cfg.HTTPSessionKey), TrustedProxies: o.TrustedProxies})
	if err != nil {
		return err
	}
	return api.Serve(ctx, o.Address, srv.Handler(), logger)
}
