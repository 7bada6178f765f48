package bundle

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/domain"
)

func packFiles(t *testing.T, s Store, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, _, err := PackTo(context.Background(), s, dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The plan of a change between two bundles lists exactly what it adds,
// removes and changes, and with unified diffs shows the changed lines of
// text files; binary and large files are named without a line diff.
func TestDiffBundles(t *testing.T) {
	s := NewFSStore(t.TempDir())
	big := strings.Repeat("x = 1\n", 20000) // 120 KB of text
	from := packFiles(t, s, map[string]string{
		"dags/etl.py":     "def etl():\n    extract()\n    load()\n",
		"dags/old.py":     "# retired\n",
		"dags/same.py":    "# unchanged\n",
		"dags/model.bin":  "\x00\x01\x02binary",
		"dags/big.py":     big,
		"include/sql.sql": "select 1;\n",
	})
	to := packFiles(t, s, map[string]string{
		"dags/etl.py":     "def etl():\n    extract()\n    transform()\n    load()\n",
		"dags/new.py":     "# new dag\n",
		"dags/same.py":    "# unchanged\n",
		"dags/model.bin":  "\x00\x01\x02binary, retrained",
		"dags/big.py":     big + "y = 2\n",
		"include/sql.sql": "select 1;\n",
	})
	d, err := DiffBundles(context.Background(), s, from, to, true, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	names := func(fs []FileStat) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return strings.Join(out, ",")
	}
	if names(d.Added) != "dags/new.py" || names(d.Removed) != "dags/old.py" || len(d.Changed) != 3 {
		t.Fatalf("diff: %+v", d)
	}
	byName := map[string]FileChange{}
	for _, c := range d.Changed {
		byName[c.Name] = c
	}
	if u := byName["dags/etl.py"].Unified; !strings.Contains(u, "+    transform()") || !strings.Contains(u, "--- a/dags/etl.py") || strings.Contains(u, "+    load()") {
		t.Fatalf("etl.py diff:\n%s", u)
	}
	if c := byName["dags/model.bin"]; c.Unified != "" || !strings.Contains(c.Note, "binary") {
		t.Fatalf("binary: %+v", c)
	}
	if c := byName["dags/big.py"]; c.Unified != "" || c.Note == "" || c.FromSize != int64(len(big)) {
		t.Fatalf("large file: %+v", c)
	}
	plain, err := DiffBundles(context.Background(), s, from, to, false, Limits{})
	if err != nil || len(plain.Changed) != 3 || plain.Changed[1].Unified != "" {
		t.Fatalf("without unified diffs: %+v %v", plain, err)
	}
	if same, _ := DiffBundles(context.Background(), s, from, from, true, Limits{}); len(same.Added)+len(same.Removed)+len(same.Changed) != 0 {
		t.Fatalf("a bundle against itself: %+v", same)
	}
}

// Hostile archives are refused by the diff as they are by an unpack.
func TestDiffRefusesHostileBundles(t *testing.T) {
	s := NewFSStore(t.TempDir())
	ok := packFiles(t, s, map[string]string{"dags/a.py": "a"})
	bad, _, err := s.Put(context.Background(), bytes.NewReader(tarGz(t, file("../escape.py", "x"))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DiffBundles(context.Background(), s, ok, bad, true, Limits{}); domain.TypeOf(err) != domain.UnsafeBundle {
		t.Fatalf("traversal: %v", err)
	}
	bomb, _, err := s.Put(context.Background(), bytes.NewReader(tarGz(t, file("dags/a.py", "a"), file("dags/b.py", "b"), file("dags/c.py", "c"))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DiffBundles(context.Background(), s, ok, bomb, true, Limits{MaxFiles: 2}); domain.TypeOf(err) != domain.UnsafeBundle {
		t.Fatalf("more entries than the limit: %v", err)
	}
}
