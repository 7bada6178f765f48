package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rewindhq/rewind/internal/domain"
)

// The data directory is found, not made by accident: without
// REWIND_DATA_DIR the CLI uses the nearest .rewind in the current
// directory or its parents, the way git finds .git, and only the commands
// that start an installation (createsDataDir: deployment create, grant,
// token create, serve) make a new one, in ./.rewind
// as SPEC §3 says. A read from the wrong folder says where it looked
// instead of answering from a new, empty store.

// createsDataDir marks a command that may make the data directory.
const createsDataDir = "rewind.creates-data-dir"

func mayCreateDataDir(cmd *cobra.Command) *cobra.Command {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[createsDataDir] = "true"
	return cmd
}

// findDataDir is the nearest .rewind directory from the current directory
// up, and the folders it looked in.
func findDataDir() (string, []string, bool) {
	wd, err := os.Getwd()
	if err != nil {
		return "", nil, false
	}
	var looked []string
	for dir := wd; ; dir = filepath.Dir(dir) {
		looked = append(looked, dir)
		if fi, err := os.Stat(filepath.Join(dir, ".rewind")); err == nil && fi.IsDir() {
			return filepath.Join(dir, ".rewind"), looked, true
		}
		if filepath.Dir(dir) == dir {
			return "", looked, false
		}
	}
}

// checkDataDir refuses a command that may not make the data directory when
// the SQLite store's directory does not exist.
func (s *session) checkDataDir(dataDir, databaseURL string) error {
	if s.createsDataDir || !strings.HasPrefix(databaseURL, "sqlite://") {
		return nil
	}
	if _, err := os.Stat(dataDir); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	where := "REWIND_DATA_DIR=" + dataDir
	if _, set := os.LookupEnv("REWIND_DATA_DIR"); !set {
		_, looked, _ := findDataDir()
		where = fmt.Sprintf("no .rewind in %s or its parents", looked[0])
	}
	return domain.Errorf(domain.NotFound, "no rewind data directory (%s): run from the folder that holds .rewind, "+
		"set REWIND_DATA_DIR to it, or set REWIND_API_URL to use a rewind serve; `rewind deployment create` starts a new one", where)
}
