package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/temporal"
)

// Version is set at build time (-ldflags "-X …/internal/cli.Version=v1.2.3");
// without it the module version, else "devel".
var Version = ""

// buildInfo is what `rewind version` prints: the build, the commit it was
// built from (with +dirty for a modified work tree), Go and the Temporal SDK.
type buildInfo struct {
	Version     string `json:"version"`
	Commit      string `json:"commit,omitempty"`
	CommitTime  string `json:"commitTime,omitempty"`
	Go          string `json:"go"`
	TemporalSDK string `json:"temporalSdk,omitempty"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: Version, Go: "unknown", TemporalSDK: "v" + temporal.SDKVersion}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Go = info.GoVersion
	if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
		b.Version = info.Main.Version
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	dirty := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.CommitTime = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.Commit != "" {
		b.Commit += "+dirty"
	}
	return b
}

func (b buildInfo) String() string {
	return fmt.Sprintf("rewind %s (commit %s, %s, Temporal Go SDK %s)", b.Version, orDash(b.Commit), b.Go, orDash(b.TemporalSDK))
}

func versionCmd(s *session) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the build version, commit, Go and Temporal SDK versions",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			b := readBuildInfo()
			if s.output == "json" {
				return s.json(b)
			}
			fmt.Fprintln(s.out, b.String())
			return nil
		},
	}
}
