package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/domain"
)

// Every kind of entry Unpack must refuse. Each archive starts with harmless
// entries so the refusal comes mid-stream, after files were already written
// to the temp directory, which must then disappear.
func TestUnpackRefusesUnsafe(t *testing.T) {
	ok := []ent{file("dags/a.py", "a"), {name: "dags/sub/", typ: tar.TypeDir}, file("dags/sub/b.py", "b")}
	zeros := make([]byte, 8<<20) // compresses to a few KiB
	cases := []struct {
		name string
		ents []ent
		lim  Limits
	}{
		{"dot-dot", []ent{file("../x", "pwned")}, Limits{}},
		{"dot-dot inside", []ent{file("dags/../../x", "pwned")}, Limits{}},
		{"dot-dot dir", []ent{{name: "../d/", typ: tar.TypeDir}}, Limits{}},
		{"absolute", []ent{file("/etc/x", "pwned")}, Limits{}},
		{"symlink dot-dot", []ent{{name: "dags/l", link: "../../x", typ: tar.TypeSymlink}}, Limits{}},
		{"symlink absolute", []ent{{name: "dags/l", link: "/etc/passwd", typ: tar.TypeSymlink}}, Limits{}},
		{"write through symlink", []ent{{name: "dags/l", link: "sub", typ: tar.TypeSymlink}, file("dags/l/c.py", "c")}, Limits{}},
		{"hardlink dot-dot", []ent{{name: "dags/h", link: "../../../etc/passwd", typ: tar.TypeLink}}, Limits{}},
		{"hardlink absolute", []ent{{name: "dags/h", link: "/etc/passwd", typ: tar.TypeLink}}, Limits{}},
		{"hardlink to a missing file", []ent{{name: "dags/h", link: "etc/passwd", typ: tar.TypeLink}}, Limits{}},
		{"hardlink to a symlink", []ent{{name: "dags/s", link: "a.py", typ: tar.TypeSymlink}, {name: "dags/h", link: "dags/s", typ: tar.TypeLink}}, Limits{}},
		{"char device", []ent{{name: "dags/null", typ: tar.TypeChar}}, Limits{}},
		{"block device", []ent{{name: "dags/sda", typ: tar.TypeBlock}}, Limits{}},
		{"fifo", []ent{{name: "dags/pipe", typ: tar.TypeFifo}}, Limits{}},
		{"marker name", []ent{file(MarkerName, "sha256:forged")}, Limits{}},
		{"duplicate", []ent{file("dags/a.py", "again")}, Limits{}},
		{"file as parent", []ent{file("dags/a.py/c.py", "c")}, Limits{}},
		{"too many files", []ent{file("c1", ""), file("c2", ""), file("c3", "")}, Limits{MaxFiles: 5}},
		{"too many bytes", []ent{{name: "bomb", typ: tar.TypeReg, body: zeros, size: -1}}, Limits{MaxBytes: 1 << 20}},
		{"too many bytes over files", []ent{file("c1", strings.Repeat("x", 600)), file("c2", strings.Repeat("x", 600))}, Limits{MaxBytes: 1000}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, fresh := range []bool{true, false} {
				root := t.TempDir()
				s := NewFSStore(root)
				if !fresh { // an existing deployment with a live version
					d := put(t, s, tarGz(t, file("dags/old.py", "old")))
					_, err := Unpack(context.Background(), s, d, root, dep, v1, Limits{})
					must(t, err)
					must(t, Swap(root, dep, v1))
				}
				digest := put(t, s, tarGz(t, append(slices.Clone(ok), c.ents...)...))
				before := snapshot(t, root)
				_, err := Unpack(context.Background(), s, digest, root, dep, v2, c.lim)
				wantType(t, err, domain.UnsafeBundle)
				if fresh {
					t.Log(err)
				}
				if after := snapshot(t, root); !slices.Equal(before, after) {
					t.Fatalf("fresh=%v: left behind:\nbefore %v\nafter  %v", fresh, before, after)
				}
			}
		})
	}
}

// A store object corrupted after Put must never be unpacked, even though
// every entry in it may look fine.
func TestUnpackCorruptObject(t *testing.T) {
	root := t.TempDir()
	s := NewFSStore(root)
	data := tarGz(t, file("dags/a.py", "a"))
	d := put(t, s, data)
	p := filepath.Join(root, ".store", "sha256", strings.TrimPrefix(d, "sha256:")+".tar.gz")
	must(t, os.Chmod(p, 0o644))
	must(t, os.WriteFile(p, append(data, "trailing junk"...), 0o644))
	before := snapshot(t, root)
	_, err := Unpack(context.Background(), s, d, root, dep, v1, Limits{})
	wantType(t, err, domain.DigestMismatch)
	if after := snapshot(t, root); !slices.Equal(before, after) {
		t.Fatalf("left behind:\nbefore %v\nafter  %v", before, after)
	}
}

func TestUnpackChecksInputsBeforeTouchingDisk(t *testing.T) {
	root := t.TempDir()
	s := NewFSStore(root)
	d := put(t, s, tarGz(t, file("a.py", "a")))
	before := snapshot(t, root)
	for _, c := range []struct{ dep, ver, digest string }{
		{"../escape", v1, d}, {"D1", v1, d}, {".store", v1, d},
		{dep, "../../x", d}, {dep, "2023-11-16T14:00:00Z", d},
		{dep, v1, "sha256:../x"},
	} {
		_, err := Unpack(context.Background(), s, c.digest, root, c.dep, c.ver, Limits{})
		wantType(t, err, domain.InvalidInput)
	}
	_, err := Unpack(context.Background(), s, "sha256:"+strings.Repeat("0", 64), root, dep, v1, Limits{})
	wantType(t, err, domain.NotFound)
	if after := snapshot(t, root); !slices.Equal(before, after) {
		t.Fatalf("left behind:\nbefore %v\nafter  %v", before, after)
	}
}

func TestUnpackIdempotent(t *testing.T) {
	root := t.TempDir()
	s := NewFSStore(root)
	d := put(t, s, tarGz(t, file("dags/a.py", "a")))
	dir, err := Unpack(context.Background(), s, d, root, dep, v1, Limits{})
	must(t, err)
	if dir != VersionDir(root, dep, v1) {
		t.Fatalf("dir %s", dir)
	}
	before := snapshot(t, root)
	// The store object may even be gone by now: a complete version is kept
	// without reading it again.
	must(t, s.Delete(context.Background(), d))
	again, err := Unpack(context.Background(), s, d, root, dep, v1, Limits{})
	if err != nil || again != dir {
		t.Fatalf("second Unpack: %s %v", again, err)
	}
	after := snapshot(t, root)
	if len(after) != len(before)-1 { // only the deleted object differs
		t.Fatalf("second Unpack changed the tree:\nbefore %v\nafter  %v", before, after)
	}

	// The same version with other content is a conflict, not an overwrite.
	other := put(t, s, tarGz(t, file("dags/a.py", "b")))
	_, err = Unpack(context.Background(), s, other, root, dep, v1, Limits{})
	wantType(t, err, domain.DigestMismatch)
	if b, _ := os.ReadFile(filepath.Join(dir, "dags/a.py")); string(b) != "a" {
		t.Fatalf("existing version overwritten: %q", b)
	}
}

// A crash can leave a temp directory (killed while extracting) or, from a
// tool that wrote in place, a version directory without marker. Re-running
// Unpack must converge on the complete tree and clear the debris.
func TestUnpackAfterCrash(t *testing.T) {
	for _, c := range []string{"leftover temp", "partial dir", "both", "partial dir is current"} {
		t.Run(c, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "odd [root]*") // no globbing on paths
			s := NewFSStore(root)
			d := put(t, s, tarGz(t, file("dags/a.py", "a"), file("dags/b.py", "b")))
			final := VersionDir(root, dep, v1)
			bundles := filepath.Dir(final)
			if c != "partial dir" && c != "partial dir is current" {
				tmp := filepath.Join(bundles, ".tmp-"+v1+"-123456")
				writeTree(t, tmp, map[string]string{"dags/a.py": "a", "dags/half.py": "trunc"})
			}
			if c != "leftover temp" {
				writeTree(t, final, map[string]string{"dags/a.py": "", "dags/stale.py": "stale"})
			}
			if c == "partial dir is current" {
				must(t, os.Symlink("bundles/"+v1, filepath.Join(root, dep, "current")))
			}
			dir, err := Unpack(context.Background(), s, d, root, dep, v1, Limits{})
			must(t, err)
			got := readTree(t, dir)
			want := map[string]string{"dags/": "", "dags/a.py": "a", "dags/b.py": "b"}
			if len(got) != len(want) || got["dags/a.py"] != "a" || got["dags/b.py"] != "b" {
				t.Fatalf("tree %v, want %v", got, want)
			}
			ents, err := os.ReadDir(bundles)
			must(t, err)
			if len(ents) != 1 || ents[0].Name() != v1 {
				t.Fatalf("bundles/ holds %v, want only %s", ents, v1)
			}
			if c == "partial dir is current" {
				b, err := os.ReadFile(filepath.Join(root, dep, "current", "dags", "b.py"))
				if err != nil || string(b) != "b" {
					t.Fatalf("current after repair: %q %v", b, err)
				}
			}
		})
	}
}

func TestUnpackCancelled(t *testing.T) {
	root := t.TempDir()
	s := NewFSStore(root)
	var ents []ent
	for i := range 600 {
		ents = append(ents, file(fmt.Sprintf("d%d/f%d.py", i%10, i), "x"))
	}
	d := put(t, s, tarGz(t, ents...))
	before := snapshot(t, root)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Unpack(ctx, s, d, root, dep, v1, Limits{})
	if err == nil {
		t.Fatal("Unpack with a cancelled context succeeded")
	}
	if after := snapshot(t, root); !slices.Equal(before, after) {
		t.Fatalf("left behind:\nbefore %v\nafter  %v", before, after)
	}
}

// Archives from other tools: "./" prefixes, missing parent entries, PAX
// long names. Unpack must accept what is safe, not only Pack's output.
func TestUnpackForeignArchive(t *testing.T) {
	root := t.TempDir()
	s := NewFSStore(root)
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("f", 120) + ".py"
	d := put(t, s, tarGz(t,
		ent{name: "./", typ: tar.TypeDir},
		file("./dags/a.py", "a"),
		file("deep/er/b.py", "b"),
		file(long, "long"),
		ent{name: "dags/h.py", link: "./dags/a.py", typ: tar.TypeLink},
		ent{name: "dags/", typ: tar.TypeDir},
	))
	dir, err := Unpack(context.Background(), s, d, root, dep, v1, Limits{})
	must(t, err)
	got := readTree(t, dir)
	for k, v := range map[string]string{"dags/a.py": "a", "deep/er/b.py": "b", long: "long", "dags/h.py": "a"} {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	if !bytes.Equal([]byte(got["dags/h.py"]), []byte("a")) {
		t.Fatal("hard link content")
	}
}

// Header sizes are not trusted: the limit holds on the bytes a reader
// actually yields (sparse entries, for one, expand beyond what they store).
func TestUnpackLimitIsOnStreamedBytes(t *testing.T) {
	dir := t.TempDir()
	u := &unpacker{dir: dir, lim: Limits{MaxBytes: 1 << 20, MaxFiles: 10}, seen: map[string]byte{}, dirs: map[string]bool{".": true}, buf: make([]byte, 64<<10)}
	for _, size := range []int64{10, smallFile + 1} { // buffered and streamed
		hdr := &tar.Header{Name: fmt.Sprint("liar", size), Typeflag: tar.TypeReg, Size: size}
		err := u.entry(hdr, bytes.NewReader(make([]byte, 4<<20)))
		wantType(t, err, domain.UnsafeBundle)
	}
}

// A truncated archive (its digest is right: it was stored truncated) is an
// ordinary failure, with the same clean-up as a refusal.
func TestUnpackTruncatedArchive(t *testing.T) {
	var ents []ent
	for i := range 50 {
		ents = append(ents, file(fmt.Sprintf("d%d/f%d.py", i%5, i), strings.Repeat("x", 5000+i)))
	}
	data := tarGz(t, ents...)
	for _, cut := range []int{10, len(data) / 2, len(data) - 30} {
		root := t.TempDir()
		s := NewFSStore(root)
		d := put(t, s, data[:cut])
		before := snapshot(t, root)
		if _, err := Unpack(context.Background(), s, d, root, dep, v1, Limits{}); err == nil {
			t.Fatalf("cut at %d: Unpack succeeded", cut)
		}
		if after := snapshot(t, root); !slices.Equal(before, after) {
			t.Fatalf("cut at %d: left behind:\nbefore %v\nafter  %v", cut, before, after)
		}
	}
}

// Check refuses what Unpack refuses and leaves nothing behind either way.
func TestCheckLeavesNothing(t *testing.T) {
	root := t.TempDir()
	s := NewFSStore(filepath.Join(t.TempDir(), "store-root"))
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "dag.py"), []byte("x = 1\n"), 0o644)
	good, _, err := PackTo(context.Background(), s, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(context.Background(), s, good, root, Limits{}); err != nil {
		t.Fatalf("a safe bundle: %v", err)
	}
	if err := Check(context.Background(), s, good, root, Limits{MaxFiles: 0, MaxBytes: 1}); domain.TypeOf(err) != domain.UnsafeBundle {
		t.Fatalf("over the byte limit: %v", err)
	}
	if err := Check(context.Background(), s, "sha256:"+strings.Repeat("0", 64), root, Limits{}); domain.TypeOf(err) != domain.NotFound {
		t.Fatalf("a missing bundle: %v", err)
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 0 {
		t.Fatalf("Check left %d entries in the bundle root", len(entries))
	}
}

// Data after the tar end marker, in the same gzip member or in more
// members, is decompressed only up to the limits (issue 26): a few KiB of
// compressed zeros do not expand without bound while the digest is read.
func TestUnpackBoundsTheWholeStream(t *testing.T) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	must(t, tw.WriteHeader(&tar.Header{Name: "dags/a.py", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}))
	tw.Write([]byte("a"))
	must(t, tw.Close())
	raw.Write(make([]byte, 16<<20)) // after the end marker
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	must(t, zw.Close())
	root := t.TempDir()
	s := NewFSStore(root)
	digest := put(t, s, gz.Bytes())
	before := snapshot(t, root)
	_, err := Unpack(context.Background(), s, digest, root, dep, v2, Limits{MaxBytes: 1 << 20, MaxFiles: 10})
	wantType(t, err, domain.UnsafeBundle)
	if after := snapshot(t, root); !slices.Equal(before, after) {
		t.Fatalf("left behind: %v", after)
	}
	// Within the limits, trailing data is read (it is part of the digest)
	// and the bundle unpacks.
	_, err = Unpack(context.Background(), s, digest, root, dep, v2, Limits{MaxBytes: 32 << 20, MaxFiles: 10})
	must(t, err)
}
