package bundle

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/domain"
)

func TestFSStore(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := NewFSStore(root)
	data := []byte("not really a tar.gz, the store does not care")

	d := put(t, s, data)
	if again := put(t, s, data); again != d {
		t.Fatalf("second Put of the same content: %s, want %s", again, d)
	}
	objs, _ := filepath.Glob(filepath.Join(root, ".store", "sha256", "*"))
	if want := filepath.Join(root, ".store", "sha256", strings.TrimPrefix(d, "sha256:")+".tar.gz"); len(objs) != 1 || objs[0] != want {
		t.Fatalf("store holds %v, want only %s", objs, want)
	}
	if ok, err := s.Has(ctx, d); !ok || err != nil {
		t.Fatalf("Has: %v %v", ok, err)
	}
	r, err := s.Open(ctx, d)
	must(t, err)
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Open: %q %v", got, err)
	}

	// Bit rot in the store is caught by whoever reads to the end.
	p := objs[0]
	must(t, os.Chmod(p, 0o644))
	must(t, os.WriteFile(p, append([]byte("X"), data[1:]...), 0o644))
	r, err = s.Open(ctx, d)
	must(t, err)
	_, err = io.ReadAll(r)
	r.Close()
	wantType(t, err, domain.DigestMismatch)

	must(t, s.Delete(ctx, d))
	must(t, s.Delete(ctx, d)) // idempotent
	if ok, err := s.Has(ctx, d); ok || err != nil {
		t.Fatalf("Has after Delete: %v %v", ok, err)
	}
	_, err = s.Open(ctx, d)
	wantType(t, err, domain.NotFound)

	// Digests name files: nothing else may get through.
	for _, bad := range []string{"", "sha256:../../../etc/passwd", "sha512:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("A", 64), "sha256:" + strings.Repeat("g", 64), "sha256:" + strings.Repeat("a", 63)} {
		_, err := s.Open(ctx, bad)
		wantType(t, err, domain.InvalidInput)
		_, err = s.Has(ctx, bad)
		wantType(t, err, domain.InvalidInput)
		wantType(t, s.Delete(ctx, bad), domain.InvalidInput)
	}
	if tmps, _ := filepath.Glob(filepath.Join(root, ".store", "sha256", ".tmp-*")); len(tmps) != 0 {
		t.Fatalf("temp files left: %v", tmps)
	}
}

func TestFSStorePutCancelled(t *testing.T) {
	root := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := NewFSStore(root).Put(ctx, strings.NewReader("x"))
	if err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if left, _ := filepath.Glob(filepath.Join(root, ".store", "sha256", "*")); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}
