package bundle

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// registryRepo is a repository of its own on the registry `make test`
// starts.
func registryRepo(t *testing.T) string {
	t.Helper()
	reg := os.Getenv("REWIND_TEST_REGISTRY")
	if reg == "" {
		t.Fatal("REWIND_TEST_REGISTRY is not set: run the tests with `make test`, which starts the registry")
	}
	return fmt.Sprintf("%s/rewind-test/bundles-%d", reg, time.Now().UnixNano())
}

// Bundles through a real registry: pushed as an OCI artifact whose layer
// digest is the bundle digest, fetched back verified, idempotent, deleted.
func TestOCIStore(t *testing.T) {
	ctx := context.Background()
	s, err := NewOCIStore(registryRepo(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	dir := t.TempDir()
	os.WriteFile(dir+"/etl.py", []byte("load()\n"), 0o644)
	want, _, err := Pack(dir, &archive)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second push changes nothing
		d, n, err := s.Put(ctx, bytes.NewReader(archive.Bytes()))
		if err != nil || d != want || n != int64(archive.Len()) {
			t.Fatalf("put %d: %s %d %v (want %s)", i, d, n, err, want)
		}
	}
	if ok, err := s.Has(ctx, want); err != nil || !ok {
		t.Fatalf("has: %v %v", ok, err)
	}
	rc, err := s.Open(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, archive.Bytes()) {
		t.Fatalf("fetched %d bytes, %v", len(got), err)
	}
	missing := "sha256:" + fmt.Sprintf("%064x", 7)
	if _, err := s.Open(ctx, missing); domain.TypeOf(err) != domain.NotFound {
		t.Fatalf("a missing bundle: %v", err)
	}
	// The worker's side: a cache in an empty bundle root fetches once.
	local := NewFSStore(t.TempDir())
	c := &Cached{Local: local, Remote: s}
	if err := Check(ctx, c, want, t.TempDir(), Limits{}); err != nil {
		t.Fatalf("check through the cache: %v", err)
	}
	if ok, _ := local.Has(ctx, want); !ok {
		t.Fatal("the archive was not cached locally")
	}
	if err := s.Delete(ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, want); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if ok, _ := s.Has(ctx, want); ok {
		t.Fatal("deleted, yet the registry has it")
	}
	if _, err := NewOCIStore("127.0.0.1:5000/repo:tag", nil); domain.TypeOf(err) != domain.InvalidInput {
		t.Fatalf("a repository with a tag: %v", err)
	}
}
