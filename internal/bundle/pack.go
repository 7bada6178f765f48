package bundle

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// epoch is the mtime of every entry. Unpack does not restore mtimes (files
// get the unpack time, so Airflow's file processor notices the new code), so
// the value only has to be fixed, not meaningful.
var epoch = time.Unix(0, 0).UTC()

// Pack writes dir as a tar.gz to w and returns its digest and size.
//
// The output depends only on the tree's names, contents, symlink targets and
// executable bits: entries are sorted, owners, mtimes and the gzip header are
// fixed, and permissions are normalised to 0644/0755. So packing the same
// files twice, on another machine or after a fresh checkout, gives the same
// digest and the store keeps one copy. (The compressed bytes come from Go's
// compress/flate; a Go release that changed its output would change digests
// of new packs, never the validity of stored ones.)
//
// Pack refuses, with domain.UnsafeBundle, what Unpack would refuse anyway:
// symlinks leaving dir, device files, fifos and sockets, and entries named
// like the completion marker. Refusing early gives the user the error at
// deploy time rather than during a rollback.
func Pack(dir string, w io.Writer) (digest string, n int64, err error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", 0, err
	}
	if st, err := os.Stat(root); err != nil {
		return "", 0, err
	} else if !st.IsDir() {
		return "", 0, domain.Errorf(domain.InvalidInput, "%s is not a directory", dir)
	}

	cw := &countingWriter{w: w, h: sha256.New()}
	gz, _ := gzip.NewWriterLevel(cw, gzip.DefaultCompression) // level is valid
	tw := tar.NewWriter(gz)
	buf := make([]byte, 128<<10)

	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if vcsMetadata[d.Name()] {
			// A DAGs directory is often a git work tree: its history is not
			// DAGs, would make every commit a different bundle, and can
			// hold secrets (a remote's token in .git/config).
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if path.Base(rel) == MarkerName {
			return domain.Errorf(domain.UnsafeBundle, "%s: the name %s is reserved for rewind", rel, MarkerName)
		}
		hdr := &tar.Header{Name: rel, ModTime: epoch, Format: tar.FormatPAX}
		switch t := d.Type(); {
		case t.IsDir():
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, rel+"/", 0o755
			return tw.WriteHeader(hdr)
		case t.IsRegular():
			return packFile(tw, hdr, p, buf)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			clean, err := checkSymlink(rel, target)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, clean, 0o777
			return tw.WriteHeader(hdr)
		default:
			return domain.Errorf(domain.UnsafeBundle, "%s: %s files cannot be deployed, only directories, regular files and symlinks", rel, kind(t))
		}
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	if err != nil {
		return "", cw.n, err
	}
	return digestPrefix + hex.EncodeToString(cw.h.Sum(nil)), cw.n, nil
}

// vcsMetadata are the version-control directories (or, for a git worktree
// or submodule, files) Pack leaves out, at any depth.
var vcsMetadata = map[string]bool{".git": true, ".hg": true, ".svn": true}

// PackTo packs dir straight into s, without a temporary archive on disk.
func PackTo(ctx context.Context, s Store, dir string) (digest string, size int64, err error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, _, err := Pack(dir, pw)
		pw.CloseWithError(err) // nil closes with EOF
		done <- err
	}()
	digest, size, err = s.Put(ctx, pr)
	pr.CloseWithError(io.ErrClosedPipe) // unblock Pack if Put gave up early
	perr := <-done
	switch {
	case perr != nil && !errors.Is(perr, io.ErrClosedPipe):
		// Pack's error (e.g. UnsafeBundle) is the cause; Put only saw a
		// broken pipe and has already discarded its temp file.
		return "", 0, perr
	case err != nil:
		return "", 0, err
	}
	return digest, size, nil
}

func packFile(tw *tar.Writer, hdr *tar.Header, p string, buf []byte) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() { // replaced between the walk and the open
		return domain.Errorf(domain.UnsafeBundle, "%s changed type while packing", hdr.Name)
	}
	hdr.Typeflag, hdr.Size, hdr.Mode = tar.TypeReg, st.Size(), 0o644
	if st.Mode().Perm()&0o111 != 0 {
		hdr.Mode = 0o755
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	// Copy exactly the size in the header: a file growing or shrinking
	// while we read it must fail the pack, not produce a corrupt archive.
	n, err := io.CopyBuffer(tw, io.LimitReader(f, hdr.Size), buf)
	if err != nil {
		return err
	}
	if n != hdr.Size {
		return fmt.Errorf("bundle: %s shrank while packing (%d of %d bytes)", hdr.Name, n, hdr.Size)
	}
	return nil
}

// checkSymlink returns target cleaned, or UnsafeBundle when the link at name
// (slash-separated, relative to the bundle) resolves outside the bundle.
//
// The check is lexical. That is sound only because Unpack also refuses any
// entry *below* a symlink, so every directory a cleaned target climbs with
// leading ".." is a real directory, and a target that stays inside lexically
// stays inside on disk. Cleaning matters: "x/../../y" with x -> "." would
// look inside lexically yet land outside if written as given.
func checkSymlink(name, target string) (string, error) {
	if target == "" || path.IsAbs(target) {
		return "", domain.Errorf(domain.UnsafeBundle, "%s: symlink to %q: only relative links inside the bundle are allowed", name, clip(target))
	}
	clean := path.Clean(target)
	if escapes(path.Join(path.Dir(name), clean)) {
		return "", domain.Errorf(domain.UnsafeBundle, "%s: symlink to %q points outside the bundle", name, clip(target))
	}
	return clean, nil
}

// escapes reports whether a cleaned relative path climbs above its root.
func escapes(p string) bool { return p == ".." || strings.HasPrefix(p, "../") }

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	default:
		return "irregular"
	}
}

type countingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	return n, err
}
