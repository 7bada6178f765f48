package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A new SQLite store is private to its owner; an existing one keeps the
// modes it had.
func TestSQLiteFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "dir")
	path := filepath.Join(dir, "rewind.db")
	s := open(t, "sqlite://"+path)
	if err := s.CreateDeployment(context.Background(), deployment("d1")); err != nil { // writes the WAL
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		dir: 0o700 | os.ModeDir, filepath.Dir(dir): 0o700 | os.ModeDir,
		path: 0o600, path + "-wal": 0o600, path + "-shm": 0o600, path + ".migrate.lock": 0o600,
	} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: %v, want %v", p, fi.Mode(), want)
		}
	}
	s.Close()

	shared := filepath.Join(t.TempDir(), "shared")
	os.MkdirAll(shared, 0o750)
	os.Chmod(shared, 0o750)
	open(t, "sqlite://"+filepath.Join(shared, "rewind.db"))
	if fi, _ := os.Stat(shared); fi.Mode().Perm() != 0o750 {
		t.Errorf("an existing directory's mode changed: %v", fi.Mode())
	}
}

// No error of Open carries the URL's password, for any way it fails.
func TestOpenErrorsHideThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, url := range []string{
		"mysql://root:hunter2-secret@db/x",
		"postgres://rewind:hunter2-secret@127.0.0.1:1/rewind?connect_timeout=2",
		"postgres://rewind:hunter2-secret@127.0.0.1:notaport/rewind",
		"postgres://rewind:hunter2%2Dsecret@127.0.0.1:1/rewind?connect_timeout=2",
		"postgres://rewind@127.0.0.1:1/rewind?password=hunter2-secret&connect_timeout=2",
		"postgres://rewind:hun/ter2-secret@127.0.0.1:1/rewind",
		"postgres://rewind:hunter2-secret@127.0.0.1:1/rewind?sslmode=bogus",
	} {
		s, err := Open(ctx, url)
		if err == nil {
			s.Close()
			t.Fatalf("%s opened", url)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error leaks the password: %v", url, err)
		}
	}
}
