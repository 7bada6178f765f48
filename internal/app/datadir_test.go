package app

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rewindhq/rewind/internal/config"
)

func TestMakeDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "srv", "rewind")
	if err := MakeDataDir(&config.Config{DataDir: dir}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, filepath.Dir(dir)} {
		if fi, err := os.Stat(p); err != nil || fi.Mode() != os.ModeDir|0o700 {
			t.Fatalf("%s: %v %v", p, fi.Mode(), err)
		}
	}
	// An existing directory is left as the operator made it.
	shared := t.TempDir()
	os.Chmod(shared, 0o750)
	if err := MakeDataDir(&config.Config{DataDir: shared}); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(shared); fi.Mode().Perm() != 0o750 {
		t.Fatalf("existing directory changed to %v", fi.Mode())
	}
}
