// Command rewind is the operator's command line: deployments, grants,
// deploys, history (and, as they land, rollbacks, watch and cleanup).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rewindhq/rewind/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
