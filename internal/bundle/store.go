package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/rewindhq/rewind/internal/domain"
)

// Store keeps bundle archives by digest. It is an interface so an object
// store (S3, GCS) can replace the local filesystem when the CLI and the
// workers stop sharing a disk; everything else only needs these four verbs.
//
// Implementations must make Put atomic (a reader never sees a partial object)
// and idempotent (the same content twice is one object), and Open must fail
// with domain.DigestMismatch rather than hand out bytes that do not match
// their digest.
type Store interface {
	// Put stores everything r yields and returns its digest and size.
	Put(ctx context.Context, r io.Reader) (digest string, size int64, err error)
	// Open returns the object; reading it to EOF verifies the digest.
	// A missing object is a domain.NotFound error.
	Open(ctx context.Context, digest string) (io.ReadCloser, error)
	Has(ctx context.Context, digest string) (bool, error)
	// Delete is idempotent: deleting a missing object is not an error.
	Delete(ctx context.Context, digest string) error
}

// FSStore is the Store on a local filesystem, at <root>/.store/sha256/. The
// leading dot keeps it out of the deployment namespace: deployment ids are
// slugs and cannot start with one.
type FSStore struct {
	dir string
}

// NewFSStore returns the store under bundle root root. Directories are made
// on first Put, so a read-only caller never creates anything.
func NewFSStore(root string) *FSStore {
	return &FSStore{dir: filepath.Join(root, ".store", "sha256")}
}

func (s *FSStore) path(digest string) (string, error) {
	if err := CheckDigest(digest); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, strings.TrimPrefix(digest, digestPrefix)+".tar.gz"), nil
}

// Put writes to a temp file in the store directory, fsyncs it and renames it
// to its digest, so a crash leaves either the whole object or a ".tmp-" file
// that no digest can name.
func (s *FSStore) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return "", 0, err
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return "", 0, err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), ctxReader{ctx, r}, make([]byte, 256<<10))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	digest := digestPrefix + hex.EncodeToString(h.Sum(nil))
	final, _ := s.path(digest)
	if err := os.Chmod(tmp, 0o444); err != nil { // CreateTemp made it 0600
		return "", 0, err
	}
	// Renaming over an existing object is harmless: same digest, same bytes.
	if err := os.Rename(tmp, final); err != nil {
		return "", 0, err
	}
	return digest, n, syncDir(s.dir)
}

func (s *FSStore) Open(ctx context.Context, digest string) (io.ReadCloser, error) {
	p, err := s.path(digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, domain.Errorf(domain.NotFound, "bundle %s is not in the store", digest)
	}
	if err != nil {
		return nil, err
	}
	return &verifyingReader{f: f, h: sha256.New(), want: digest}, nil
}

func (s *FSStore) Has(ctx context.Context, digest string) (bool, error) {
	p, err := s.path(digest)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (s *FSStore) Delete(ctx context.Context, digest string) error {
	p, err := s.path(digest)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// verifyingReader hashes what it hands out and, instead of io.EOF, returns a
// DigestMismatch error when the object was corrupted on disk. Callers that
// stop before EOF get no guarantee, which is why Unpack drains the stream.
type verifyingReader struct {
	f    *os.File
	h    hash.Hash
	want string
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := digestPrefix + hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, domain.Errorf(domain.DigestMismatch, "bundle %s is corrupt in the store: its content hashes to %s", v.want, got)
		}
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.f.Close() }

// ctxReader makes a long copy stop when the activity is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
