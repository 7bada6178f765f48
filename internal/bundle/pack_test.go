package bundle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

var dagFiles = map[string]string{
	"dags/etl.py":              "from airflow import DAG\n",
	"dags/reports/weekly.py":   "# weekly\n",
	"dags/reports/daily.py":    "# daily\n",
	"include/sql/q.sql":        "select 1;\n",
	"requirements.txt":         "pandas==2.2\n",
	"dags/reports/__init__.py": "",
}

func packDigest(t *testing.T, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	d, n, err := Pack(dir, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("Pack reported %d bytes, wrote %d", n, buf.Len())
	}
	sum := sha256.Sum256(buf.Bytes())
	if want := "sha256:" + hex.EncodeToString(sum[:]); d != want {
		t.Fatalf("Pack digest %s does not hash what it wrote (%s)", d, want)
	}
	return d
}

func TestPackDeterministic(t *testing.T) {
	a := t.TempDir()
	writeTree(t, a, dagFiles)
	first := packDigest(t, a)
	if again := packDigest(t, a); again != first {
		t.Fatalf("same tree packed twice: %s then %s", first, again)
	}

	// The same files written in another directory, in another order, with
	// other mtimes, permissions (non-exec) and directory modes.
	b := t.TempDir()
	for name, content := range dagFiles {
		writeTree(t, b, map[string]string{name: content})
		p := filepath.Join(b, filepath.FromSlash(name))
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(b, "dags"), 0o700); err != nil {
		t.Fatal(err)
	}
	if other := packDigest(t, b); other != first {
		t.Fatalf("same files in another directory: %s, want %s", other, first)
	}

	// Anything that changes what Airflow would see changes the digest.
	changes := map[string]func(dir string){
		"content": func(dir string) {
			writeTree(t, dir, map[string]string{"dags/etl.py": "from airflow import DAG # v2\n"})
		},
		"new file": func(dir string) { writeTree(t, dir, map[string]string{"dags/new.py": ""}) },
		"rename": func(dir string) {
			os.Rename(filepath.Join(dir, "dags/etl.py"), filepath.Join(dir, "dags/etl2.py"))
		},
		"exec bit":  func(dir string) { os.Chmod(filepath.Join(dir, "requirements.txt"), 0o755) },
		"empty dir": func(dir string) { os.Mkdir(filepath.Join(dir, "plugins"), 0o755) },
		"symlink":   func(dir string) { os.Symlink("etl.py", filepath.Join(dir, "dags/link.py")) },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			c := t.TempDir()
			writeTree(t, c, dagFiles)
			change(c)
			if d := packDigest(t, c); d == first {
				t.Fatalf("digest unchanged after %s", name)
			}
		})
	}
}

func TestPackRefusesUnsafe(t *testing.T) {
	cases := map[string]func(t *testing.T, dir string){
		"symlink with ..": func(t *testing.T, dir string) {
			must(t, os.Symlink("../../etc/passwd", filepath.Join(dir, "dags/x")))
		},
		"absolute symlink": func(t *testing.T, dir string) {
			must(t, os.Symlink("/etc/passwd", filepath.Join(dir, "dags/x")))
		},
		"symlink to the parent": func(t *testing.T, dir string) {
			must(t, os.Symlink("..", filepath.Join(dir, "up")))
		},
		"fifo": func(t *testing.T, dir string) {
			must(t, syscall.Mkfifo(filepath.Join(dir, "dags/pipe"), 0o644))
		},
		"socket": func(t *testing.T, dir string) {
			// Unix socket paths are short; listen from inside dir.
			wd, _ := os.Getwd()
			must(t, os.Chdir(dir))
			defer os.Chdir(wd)
			l, err := net.Listen("unix", "sock")
			must(t, err)
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			l.Close()
		},
		"marker name": func(t *testing.T, dir string) {
			writeTree(t, dir, map[string]string{"dags/" + MarkerName: "x"})
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, dagFiles)
			setup(t, dir)
			_, _, err := Pack(dir, &bytes.Buffer{})
			wantType(t, err, domain.UnsafeBundle)
		})
	}
}

// A tree with everything Pack allows comes back identical through the
// store, Unpack and the current symlink.
func TestPackUnpackRoundTrip(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, dagFiles)
	must(t, os.Chmod(filepath.Join(src, "dags/etl.py"), 0o755))
	must(t, os.Mkdir(filepath.Join(src, "empty"), 0o755))
	must(t, os.Symlink("reports/daily.py", filepath.Join(src, "dags/today.py")))
	must(t, os.Symlink("./../include/./sql", filepath.Join(src, "dags/sql")))

	root := t.TempDir()
	s := NewFSStore(root)
	digest, size, err := PackTo(context.Background(), s, src)
	must(t, err)
	if size == 0 || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("PackTo: %s %d", digest, size)
	}
	if d := packDigest(t, src); d != digest {
		t.Fatalf("PackTo digest %s, Pack %s", digest, d)
	}
	dir, err := Unpack(context.Background(), s, digest, root, dep, v1, Limits{})
	must(t, err)
	must(t, Swap(root, dep, v1))

	want := readTree(t, src)
	want["dags/sql"] = "-> ../include/sql" // targets are stored cleaned
	got := readTree(t, dir)
	if len(got) != len(want) {
		t.Fatalf("unpacked %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, dep, "current", "dags", "sql", "q.sql"))
	if err != nil || string(b) != "select 1;\n" {
		t.Fatalf("through current and an inner symlink: %q %v", b, err)
	}
	for name, mode := range map[string]os.FileMode{"dags/etl.py": 0o755, "requirements.txt": 0o644, "dags": 0o755 | os.ModeDir} {
		fi, err := os.Stat(filepath.Join(dir, name))
		must(t, err)
		if fi.Mode()&^0o022 != mode&^0o022 { // the umask may clear group/other write only
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), mode)
		}
	}
	m, err := os.ReadFile(filepath.Join(dir, MarkerName))
	if err != nil || strings.TrimSpace(string(m)) != digest {
		t.Fatalf("marker %q %v, want the digest", m, err)
	}
}

func TestPackToUnsafeLeavesStoreEmpty(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, dagFiles)
	must(t, os.Symlink("/etc", filepath.Join(src, "etc")))
	root := t.TempDir()
	_, _, err := PackTo(context.Background(), NewFSStore(root), src)
	wantType(t, err, domain.UnsafeBundle)
	snap := snapshot(t, root)
	for _, l := range snap {
		if strings.Contains(l, ".tmp-") || strings.Contains(l, ".tar.gz") {
			t.Fatalf("left behind in the store: %v", snap)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A DAGs directory that is a git work tree packs to the same bundle as the
// same files without .git: history is not DAGs (and .git/config can hold a
// remote's token).
func TestPackLeavesOutVersionControl(t *testing.T) {
	files := map[string]string{"etl.py": "load()\n", "sub/dag.py": "# dag\n"}
	plain, withGit := t.TempDir(), t.TempDir()
	for n, b := range files {
		for _, d := range []string{plain, withGit} {
			os.MkdirAll(filepath.Join(d, filepath.Dir(n)), 0o755)
			os.WriteFile(filepath.Join(d, n), []byte(b), 0o644)
		}
	}
	os.MkdirAll(filepath.Join(withGit, ".git", "objects"), 0o755)
	os.WriteFile(filepath.Join(withGit, ".git", "config"), []byte("url = https://ci:token@git.example.com/x.git\n"), 0o644)
	os.WriteFile(filepath.Join(withGit, "sub", ".git"), []byte("gitdir: ../.git/modules/sub\n"), 0o644)
	var a, b bytes.Buffer
	da, _, err := Pack(plain, &a)
	if err != nil {
		t.Fatal(err)
	}
	db, _, err := Pack(withGit, &b)
	if err != nil {
		t.Fatal(err)
	}
	if da != db || bytes.Contains(b.Bytes(), []byte("token")) {
		t.Fatalf("a work tree must pack like its files alone: %s vs %s", da, db)
	}
}
