package bundle

import (
	"context"
	"io"

	"github.com/rewindhq/rewind/internal/domain"
)

// Cached is a Store whose local filesystem store caches a remote one (the
// registry): a worker fetches an archive by digest once, into its own
// bundle root, and reads it from there after. The digest is verified on the
// way in (the remote's reader checks it at EOF, and the local Put names
// what it stored). No filesystem is shared between the CLI, the API and the
// workers.
type Cached struct {
	Local  *FSStore
	Remote Store
}

// Put stores in the remote, and locally too (the machine that packed it
// may be the one that unpacks it).
func (c *Cached) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	d, n, err := c.Remote.Put(ctx, r)
	if err != nil {
		return d, n, err
	}
	if ok, _ := c.Local.Has(ctx, d); !ok {
		if err := c.fetch(ctx, d); err != nil {
			return d, n, err
		}
	}
	return d, n, nil
}

// Open reads the local copy, fetching it from the remote first if need be.
func (c *Cached) Open(ctx context.Context, d string) (io.ReadCloser, error) {
	if err := CheckDigest(d); err != nil {
		return nil, err
	}
	if ok, err := c.Local.Has(ctx, d); err != nil {
		return nil, err
	} else if !ok {
		if err := c.fetch(ctx, d); err != nil {
			return nil, err
		}
	}
	return c.Local.Open(ctx, d)
}

func (c *Cached) fetch(ctx context.Context, d string) error {
	rc, err := c.Remote.Open(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	got, _, err := c.Local.Put(ctx, rc)
	if err != nil {
		return err
	}
	if got != d {
		_ = c.Local.Delete(ctx, got)
		return errDigest(d, got)
	}
	return nil
}

func (c *Cached) Has(ctx context.Context, d string) (bool, error) {
	if ok, err := c.Local.Has(ctx, d); ok || err != nil {
		return ok, err
	}
	return c.Remote.Has(ctx, d)
}

// Delete removes the archive from both: cleanup of an artifact no kept
// revision references.
func (c *Cached) Delete(ctx context.Context, d string) error {
	if err := c.Local.Delete(ctx, d); err != nil {
		return err
	}
	return c.Remote.Delete(ctx, d)
}

func errDigest(want, got string) error {
	return domain.Errorf(domain.DigestMismatch, "DAG bundle %s: fetched content hashes to %s", want, got)
}
