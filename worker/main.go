// Command rewind-worker runs rewind's workflows and activities.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/config"
)

func main() {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "rewind-worker:", err)
		os.Exit(2)
	}
	logger := app.Logger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	w, err := app.StartWorker(ctx, cfg, logger)
	if err != nil {
		logger.Error("worker failed to start", "error", err)
		os.Exit(1)
	}
	<-ctx.Done() // SIGTERM or Ctrl-C
	w.Stop()
}
