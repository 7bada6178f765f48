package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

// An Elasticsearch address the client cannot parse is reported without its
// password.
func TestExporterErrorsHideThePassword(t *testing.T) {
	for _, addr := range []string{"http://elastic:hunter2-secret@127.0.0.1:bad", "http://elastic:hunter2 secret@127.0.0.1:9200"} {
		cfg := &config.Config{DataDir: t.TempDir(), ElasticsearchAddresses: []string{addr}, ElasticsearchPassword: "hunter2-secret"}
		_, _, err := Exporters(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.HasPrefix(err.Error(), "REWIND_ELASTICSEARCH_ADDRESSES: ") {
			t.Errorf("%s: %v", addr, err)
		}
	}
}
