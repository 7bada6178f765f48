package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without REWIND_DATA_DIR the CLI finds .rewind in a parent folder, a read
// from a folder with none says where it looked and makes nothing, and only
// a command that starts an installation makes ./.rewind.
func TestDataDirectoryIsFoundNotMadeByAccident(t *testing.T) {
	root := t.TempDir()
	t.Setenv("REWIND_DATABASE_URL", "")
	t.Setenv("REWIND_BUNDLE_ROOT", "")
	t.Setenv("REWIND_API_URL", "")
	t.Setenv("REWIND_TOKEN", "")
	t.Setenv("REWIND_DATA_DIR", "") // restored at the end; unset, not empty, meanwhile
	os.Unsetenv("REWIND_DATA_DIR")

	elsewhere := filepath.Join(root, "elsewhere")
	os.MkdirAll(elsewhere, 0o755)
	t.Chdir(elsewhere)
	r := rewind("history", "demo")
	if r.code != ExitRefused || !strings.Contains(r.stderr, "no .rewind in "+elsewhere+" or its parents") || !strings.Contains(r.stderr, "REWIND_DATA_DIR") {
		t.Fatalf("a read with no data directory: %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, ".rewind")); !os.IsNotExist(err) {
		t.Fatalf("the read made a data directory: %v", err)
	}

	install := filepath.Join(root, "install")
	os.MkdirAll(install, 0o755)
	t.Chdir(install)
	mustRewind(t, "deployment", "create", "demo", "--dag-source", "image")
	if fi, err := os.Stat(filepath.Join(install, ".rewind")); err != nil || !fi.IsDir() {
		t.Fatalf("deployment create makes ./.rewind: %v", err)
	}
	deep := filepath.Join(install, "dags", "etl")
	os.MkdirAll(deep, 0o755)
	t.Chdir(deep)
	if out := mustRewind(t, "deployment", "show", "demo"); !strings.Contains(out, "demo") {
		t.Fatalf("from a subfolder, the installation's deployment: %s", out)
	}
	if _, err := os.Stat(filepath.Join(deep, ".rewind")); !os.IsNotExist(err) {
		t.Fatalf("a read from a subfolder made a data directory: %v", err)
	}
}
