package bundle

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rewindhq/rewind/internal/domain"
)

// Unpack makes the bundle digest from s available as version of deploymentID
// at VersionDir(root, deploymentID, version), and returns that directory.
//
// It is safe to retry after a crash at any point: a finished directory (its
// marker holds digest) is kept as is; leftover temp directories and a
// directory without marker are replaced. The new tree is built in a temp
// sibling, flushed to disk, marked, and renamed into place, so the version
// directory either does not exist or is complete.
//
// An archive breaking the rules (relative names without "..", only
// directories, regular files and links that stay inside, nothing written
// through a symlink, within lim; the full list is in docs/bundles.md) is
// refused with domain.UnsafeBundle, a corrupt store object with
// domain.DigestMismatch; either way Unpack removes everything it created,
// including the deployment directories if it made them.
func Unpack(ctx context.Context, s Store, digest, root, deploymentID, version string, lim Limits) (dir string, err error) {
	if err := checkIDs(deploymentID, version); err != nil {
		return "", err
	}
	if err := CheckDigest(digest); err != nil {
		return "", err
	}
	final := VersionDir(root, deploymentID, version)
	if done, err := complete(final, digest); err != nil {
		return "", err
	} else if done {
		return final, nil
	}
	src, err := s.Open(ctx, digest)
	if err != nil {
		return "", err
	}
	defer src.Close()

	// Remember which parents we create so a refusal can take them back:
	// "nothing left behind" includes an empty <deployment>/bundles.
	bundles := filepath.Dir(final)
	var made []string
	defer func() {
		if err != nil {
			for i := len(made) - 1; i >= 0; i-- {
				os.Remove(made[i]) // only if still empty
			}
		}
	}()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	for _, d := range []string{filepath.Join(root, deploymentID), bundles} {
		if err := os.Mkdir(d, 0o755); err == nil {
			made = append(made, d)
		} else if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}

	// Debris of earlier attempts at this version. Other versions' temp
	// directories are left alone: they may belong to a running unpack.
	prefix := ".tmp-" + version + "-"
	if err := removePrefixed(bundles, prefix); err != nil {
		return "", err
	}

	tmp, err := os.MkdirTemp(bundles, prefix)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp made it 0700; containers run as other users
		return "", err
	}
	if err := extract(ctx, src, tmp, lim.withDefaults()); err != nil {
		return "", err
	}
	// Contents must be on disk before the marker claims they are, or a
	// power cut could leave a marked directory of empty files.
	if err := syncTree(tmp); err != nil {
		return "", err
	}
	if err := writeMarker(tmp, digest); err != nil {
		return "", err
	}

	if err := os.Rename(tmp, final); err != nil {
		// final exists: a partial directory from a crash (no marker), or a
		// concurrent attempt that just finished.
		if done, cerr := complete(final, digest); cerr != nil {
			return "", cerr
		} else if done {
			os.RemoveAll(tmp)
			return final, nil
		}
		// Move the debris aside first: rename cannot replace a non-empty
		// directory, and removing it in place could leave a half-deleted
		// tree under the real name if we crash.
		trash := filepath.Join(bundles, prefix+"old-"+rand.Text())
		if err := os.Rename(final, trash); err != nil {
			return "", err
		}
		if err := os.Rename(tmp, final); err != nil {
			return "", err
		}
		os.RemoveAll(trash)
	}
	return final, syncDir(bundles)
}

// removePrefixed removes the entries of dir whose names start with prefix.
// (Not filepath.Glob: the bundle root may contain glob metacharacters.)
func removePrefixed(dir, prefix string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// complete reports whether dir is a finished unpack of digest. A finished
// unpack of a different digest under the same version is refused: versions
// are immutable, and replacing one could change what current/ shows.
func complete(dir, digest string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, MarkerName))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if got := strings.TrimSpace(string(b)); got != digest {
		return false, domain.Errorf(domain.DigestMismatch, "%s already holds bundle %s, not %s", dir, clip(got), digest)
	}
	return true, nil
}

func writeMarker(dir, digest string) error {
	f, err := os.OpenFile(filepath.Join(dir, MarkerName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(digest + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dir)
	}
	return err
}

// unpacker is the state of one extraction into an empty directory.
type unpacker struct {
	dir      string
	lim      Limits
	bytes    int64
	entries  int
	seen     map[string]byte // name -> tar type flag of every entry so far
	dirs     map[string]bool // directories known to exist (saves a syscall per file)
	symlinks int             // entries below a symlink are only possible if > 0
	buf      []byte

	// Small files are handed to writer goroutines. Creating a file is a
	// kernel-bound syscall (hundreds of µs on some filesystems) while the
	// decoding is cheap. Creates in one directory serialise on its lock,
	// so each directory goes to one writer (queues[hash(dir)]) and the
	// writers work on different directories at once.
	queues  []chan writeJob
	writers sync.WaitGroup
	errMu   sync.Mutex
	werr    error
}

// smallFile is the largest file copied into memory for a writer goroutine;
// bigger ones are streamed by the decoding goroutine itself. A queue holds
// a directory's worth of typical DAG files, and the product bounds the
// memory in flight (4 x 128 x 64 KiB = 32 MiB at worst).
const (
	smallFile  = 64 << 10
	queueLen   = 128
	numWriters = 4
)

type writeJob struct {
	full string
	mode os.FileMode
	data []byte
}

func (u *unpacker) startWriters() {
	u.queues = make([]chan writeJob, numWriters)
	for i := range u.queues {
		q := make(chan writeJob, queueLen)
		u.queues[i] = q
		u.writers.Add(1)
		go func() {
			defer u.writers.Done()
			for j := range q {
				if u.failed() != nil {
					continue // drain; the extraction is being abandoned
				}
				if err := writeFile(j.full, j.mode, j.data); err != nil {
					u.errMu.Lock()
					if u.werr == nil {
						u.werr = err
					}
					u.errMu.Unlock()
				}
			}
		}()
	}
}

// wait stops the writers and returns their first error. Nothing may touch
// the temp directory (least of all RemoveAll) while they still run.
func (u *unpacker) wait() error {
	if u.queues != nil {
		for _, q := range u.queues {
			close(q)
		}
		u.writers.Wait()
		u.queues = nil
	}
	return u.failed()
}

func (u *unpacker) failed() error {
	u.errMu.Lock()
	defer u.errMu.Unlock()
	return u.werr
}

// writeFile creates full with O_EXCL|O_NOFOLLOW: never write through
// something already there.
func writeFile(full string, mode os.FileMode, data []byte) error {
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscallNoFollow, mode)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// extract streams the archive from r into dir, then drains r so the store's
// digest check runs before anything is marked complete.
func extract(ctx context.Context, r io.Reader, dir string, lim Limits) error {
	br := bufio.NewReaderSize(r, 256<<10)
	gz, err := gzip.NewReader(br)
	if err != nil {
		return unsafeOr(fmt.Errorf("bundle: not a gzip stream: %w", err), r)
	}
	u := &unpacker{dir: dir, lim: lim, seen: map[string]byte{}, dirs: map[string]bool{".": true}, buf: make([]byte, 256<<10)}
	u.startWriters()
	defer u.wait()
	// The whole decompressed stream is bounded, not only the files in it:
	// zeros after the tar end marker, or more gzip members, would otherwise
	// be decompressed without limit while the digest is read (issue 26).
	stream := &boundedReader{r: gz, left: streamBound(lim)}
	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return unsafeOr(fmt.Errorf("bundle: reading archive: %w", err), br)
		}
		if u.entries&255 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := u.failed(); err != nil {
				return err
			}
		}
		if err := u.entry(hdr, tr); err != nil {
			return err
		}
	}
	if err := u.wait(); err != nil {
		return err
	}
	// Trailing data after the tar end marker is neither written nor
	// trusted, but it is part of the digest: read it all.
	if _, err := io.CopyBuffer(io.Discard, stream, u.buf); err != nil {
		return unsafeOr(fmt.Errorf("bundle: reading archive: %w", err), br)
	}
	if _, err := io.CopyBuffer(io.Discard, br, u.buf); err != nil {
		return err
	}
	return nil
}

// unsafeOr prefers a DigestMismatch from the store (the real cause of a
// garbled stream) over the parse error it led to.
func unsafeOr(err error, r io.Reader) error {
	if domain.TypeOf(err) != "" {
		return err
	}
	if _, derr := io.Copy(io.Discard, r); domain.TypeOf(derr) == domain.DigestMismatch {
		return derr
	}
	return err
}

// entry writes one archive entry. The rules, each refused with UnsafeBundle:
//   - names are relative, without "..", not the marker, not repeated;
//   - only directories, regular files, symlinks and hard links; no devices,
//     fifos or anything else;
//   - symlinks are relative and resolve inside the bundle (checkSymlink);
//   - no entry lives below a symlink, so nothing is written through one;
//   - hard links name a regular file earlier in this archive;
//   - entry count and streamed bytes stay within the limits.
func (u *unpacker) entry(hdr *tar.Header, r io.Reader) error {
	// Counted before anything else so even entries we skip bound the work.
	u.entries++
	if u.entries > u.lim.MaxFiles {
		return domain.Errorf(domain.UnsafeBundle, "bundle has more than %d entries (limit MaxFiles)", u.lim.MaxFiles)
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader { // metadata only, nothing to write
		return nil
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "." { // the archive's root, e.g. "./"
		if hdr.Typeflag != tar.TypeDir {
			return domain.Errorf(domain.UnsafeBundle, "entry %q is not a directory but names the bundle root", clip(hdr.Name))
		}
		return nil
	}
	if u.symlinks > 0 {
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			if u.seen[p] == tar.TypeSymlink {
				return domain.Errorf(domain.UnsafeBundle, "%s: entry below the symlink %s", clip(name), clip(p))
			}
		}
	}
	if prev, dup := u.seen[name]; dup && !(prev == tar.TypeDir && hdr.Typeflag == tar.TypeDir) {
		return domain.Errorf(domain.UnsafeBundle, "%s: entry appears twice in the bundle", clip(name))
	}
	if err := u.parent(name); err != nil {
		return err
	}
	full := filepath.Join(u.dir, filepath.FromSlash(name))

	switch hdr.Typeflag {
	case tar.TypeDir:
		u.seen[name] = tar.TypeDir
		if u.dirs[name] {
			return nil
		}
		if err := os.Mkdir(full, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		u.dirs[name] = true
		return nil

	case tar.TypeReg, tar.TypeRegA:
		u.seen[name] = tar.TypeReg
		return u.file(full, name, hdr, r)

	case tar.TypeSymlink:
		target, err := checkSymlink(name, hdr.Linkname)
		if err != nil {
			return err
		}
		u.seen[name] = tar.TypeSymlink
		u.symlinks++
		return os.Symlink(target, full)

	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return domain.Errorf(domain.UnsafeBundle, "%s: hard link target %v", clip(name), err)
		}
		if u.seen[target] != tar.TypeReg {
			return domain.Errorf(domain.UnsafeBundle, "%s: hard link to %q, which is not a regular file earlier in the bundle", clip(name), clip(hdr.Linkname))
		}
		u.seen[name] = tar.TypeLink
		// The target may still be queued: let the writers finish first.
		// Hard links are rare in DAG repositories, so the stall is too.
		if err := u.wait(); err != nil {
			return err
		}
		u.startWriters()
		return os.Link(filepath.Join(u.dir, filepath.FromSlash(target)), full)

	default:
		return domain.Errorf(domain.UnsafeBundle, "%s: %s entries cannot be deployed, only directories, regular files and links", clip(name), typeName(hdr.Typeflag))
	}
}

// parent creates the directories above name that the archive did not list.
func (u *unpacker) parent(name string) error {
	p := path.Dir(name)
	if u.dirs[p] {
		return nil
	}
	if t, ok := u.seen[p]; ok && t != tar.TypeDir {
		return domain.Errorf(domain.UnsafeBundle, "%s: its parent is not a directory", clip(name))
	}
	if err := u.parent(p); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(u.dir, filepath.FromSlash(p)), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	u.seen[p], u.dirs[p] = tar.TypeDir, true
	return nil
}

func (u *unpacker) file(full, name string, hdr *tar.Header, r io.Reader) error {
	// Cheap early refusal; the real limit is enforced on the stream below.
	if hdr.Size > u.lim.MaxBytes-u.bytes {
		return tooBig(u.lim)
	}
	mode := os.FileMode(0o644)
	if hdr.Mode&0o111 != 0 {
		mode = 0o755
	}
	if hdr.Size <= smallFile {
		// One byte more than the header promises, to catch a reader that
		// yields more than it said.
		data := make([]byte, hdr.Size+1)
		n, err := io.ReadFull(r, data)
		switch {
		case err == nil:
			return tooBig(u.lim) // more bytes than the header claims
		case int64(n) != hdr.Size: // truncated archive
			return fmt.Errorf("bundle: reading %s: %w", name, err)
		}
		u.bytes += int64(n)
		if u.bytes > u.lim.MaxBytes {
			return tooBig(u.lim)
		}
		u.queues[dirHash(path.Dir(name))%numWriters] <- writeJob{full: full, mode: mode, data: data[:n]}
		return nil
	}
	f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscallNoFollow, mode)
	if err != nil {
		return err
	}
	for {
		n, rerr := r.Read(u.buf)
		if n > 0 {
			u.bytes += int64(n)
			if u.bytes > u.lim.MaxBytes {
				f.Close()
				return tooBig(u.lim)
			}
			if _, err := f.Write(u.buf[:n]); err != nil {
				f.Close()
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Close()
			return fmt.Errorf("bundle: reading %s: %w", name, rerr)
		}
	}
	return f.Close()
}

func tooBig(l Limits) error {
	return domain.Errorf(domain.UnsafeBundle, "bundle expands to more than %d bytes (limit MaxBytes)", l.MaxBytes)
}

// cleanName turns an archive name into a clean slash path relative to the
// bundle, refusing absolute paths and any ".." component. It refuses rather
// than strips (as tar does): a bundle rewind packed never contains them, so
// one that does was crafted.
func cleanName(n string) (string, error) {
	switch {
	case n == "":
		return "", domain.Errorf(domain.UnsafeBundle, "entry with an empty name")
	case strings.HasPrefix(n, "/"):
		return "", domain.Errorf(domain.UnsafeBundle, "%q: absolute paths are not allowed", clip(n))
	case strings.IndexByte(n, 0) >= 0:
		return "", domain.Errorf(domain.UnsafeBundle, "%q: NUL in name", clip(n))
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", domain.Errorf(domain.UnsafeBundle, "%q: '..' is not allowed in names", clip(n))
		}
		if len(part) > 255 {
			return "", domain.Errorf(domain.UnsafeBundle, "%q: a name component is longer than 255 bytes", clip(n))
		}
	}
	c := path.Clean(n)
	if path.Base(c) == MarkerName {
		return "", domain.Errorf(domain.UnsafeBundle, "%q: the name %s is reserved for rewind", clip(n), MarkerName)
	}
	if len(c) > 4000 {
		return "", domain.Errorf(domain.UnsafeBundle, "%q: path longer than 4000 bytes", clip(n))
	}
	return c, nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	case tar.TypeCont:
		return "contiguous file"
	case tar.TypeGNUSparse:
		return "GNU sparse"
	}
	if t >= ' ' && t <= '~' {
		return fmt.Sprintf("type %q", t)
	}
	return fmt.Sprintf("type %d", t)
}

// dirHash is FNV-1a: cheap, and spreads sibling directories like
// "pkg01", "pkg02" over the writers.
func dirHash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// Check applies every rule Unpack applies to a stored bundle — safe names
// and links, no devices, the size and entry limits, the digest — by
// extracting it into a throwaway directory that is removed again. A deploy
// calls it before recording anything, so an unsafe bundle is refused
// without leaving a revision or a file behind. The directory is a dotted
// sibling of the deployments (their ids cannot start with a dot).
func Check(ctx context.Context, s Store, digest, root string, lim Limits) error {
	if err := CheckDigest(digest); err != nil {
		return err
	}
	src, err := s.Open(ctx, digest)
	if err != nil {
		return err
	}
	defer src.Close()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(root, ".check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	return extract(ctx, src, tmp, lim.withDefaults())
}
