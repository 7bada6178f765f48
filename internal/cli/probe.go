package cli

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/spf13/cobra"
)

// probeCmd is a container healthcheck: the worker image is distroless (no
// shell, no curl), so the compose file's healthchecks call the binary it
// already has. It reads one loopback URL and exits 0 on a 2xx answer. Only
// loopback is accepted: a healthcheck never needs another host, and the
// command is no general HTTP client.
func probeCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:    "probe URL",
		Short:  "Exit 0 when a loopback URL (e.g. http://127.0.0.1:8080/readyz) answers 2xx: a container healthcheck",
		Hidden: true,
		Args:   exactArgs(1, "one URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := url.Parse(args[0])
			if err != nil || u.Scheme != "http" || !isLoopbackHost(u.Hostname()) {
				return usageError{fmt.Errorf("probe takes an http:// URL on a loopback address, not %q", args[0])}
			}
			c := &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Get(u.String())
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("%s answered %s", u.Redacted(), resp.Status)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
