package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/client"
)

func hostCmd(s *session) *cobra.Command {
	cmd := &cobra.Command{Use: "host", Short: "The Docker hosts deployments run on"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the hosts deployments name and whether a worker polls each (through rewind serve: needs system.admin)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			hs, err := invoke(s, action.ListHosts{}, (*client.Client).ListHosts)
			if err != nil {
				return err
			}
			if s.output == "json" {
				if hs == nil {
					hs = []action.Host{}
				}
				return s.json(hs)
			}
			rows := make([][]string, 0, len(hs))
			for _, h := range hs {
				rows = append(rows, []string{h.Host, h.Queue, strconv.Itoa(h.Deployments), workerText(h)})
			}
			return table(s.out, []string{"HOST", "QUEUE", "DEPLOYMENTS", "WORKER"}, rows)
		},
	}
	cmd.AddCommand(list)
	return cmd
}

// workerText says whether the host's worker polls, so a stopped one shows.
func workerText(h action.Host) string {
	switch {
	case h.Error != "":
		return "unknown: " + clipText(h.Error, 80)
	case h.Pollers == 0 && !h.LastPoll.IsZero():
		return "none polling since " + h.LastPoll.Format(time.RFC3339) + ": its changes wait (start rewind-worker with REWIND_HOST=" + h.Host + ")"
	case h.Pollers == 0:
		return "none polling: its changes wait (start rewind-worker with REWIND_HOST=" + h.Host + ")"
	default:
		return fmt.Sprintf("%d polling (last %s)", h.Pollers, h.LastPoll.Format(time.RFC3339))
	}
}
