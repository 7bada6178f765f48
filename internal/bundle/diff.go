package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sort"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/rewindhq/rewind/internal/domain"
)

// FileStat is one file of a bundle in a diff.
type FileStat struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// FileChange is a file both bundles have with different content.
type FileChange struct {
	Name     string `json:"name"`
	FromSize int64  `json:"fromSize"`
	ToSize   int64  `json:"toSize"`
	// Unified is the unified diff of a text file (when asked for and within
	// the caps); Note says why there is none (binary, too large).
	Unified string `json:"unified,omitempty"`
	Note    string `json:"note,omitempty"`
}

// Diff is what changes between two DAG bundles: the files a change adds,
// removes and changes (names and sizes), sorted by name.
type Diff struct {
	Added   []FileStat   `json:"added"`
	Removed []FileStat   `json:"removed"`
	Changed []FileChange `json:"changed"`
	// Truncated: the unified diffs stopped at the total cap.
	Truncated bool `json:"truncated,omitempty"`
}

// Caps on the unified diffs a plan carries: they travel in workflow
// results and reach a terminal or a page, so they are bounded whatever the
// bundles hold.
const (
	maxDiffFile  = 64 << 10 // a text file larger than this gets no unified diff
	maxDiffTotal = 256 << 10
	maxKept      = 8 << 20 // contents kept while reading both archives
)

type entry struct {
	size int64
	sum  [32]byte
	text []byte // kept for small text files, for the unified diff
}

// DiffBundles compares two stored bundles. With unified set, changed text
// files also get a unified diff, capped per file and in total; binary files
// and large ones are named with a note instead. Archives are read with the
// same limits as an unpack, and only names a safe unpack accepts count.
func DiffBundles(ctx context.Context, s Store, from, to string, unified bool, lim Limits) (Diff, error) {
	var d Diff
	kept := 0
	a, err := read(ctx, s, from, unified, lim, &kept)
	if err != nil {
		return d, err
	}
	b, err := read(ctx, s, to, unified, lim, &kept)
	if err != nil {
		return d, err
	}
	total := 0
	for name, eb := range b {
		ea, ok := a[name]
		switch {
		case !ok:
			d.Added = append(d.Added, FileStat{name, eb.size})
		case ea.sum != eb.sum:
			c := FileChange{Name: name, FromSize: ea.size, ToSize: eb.size}
			switch {
			case !unified:
			case ea.text == nil || eb.text == nil:
				c.Note = "binary or larger than 64 KiB: no line diff"
			case total >= maxDiffTotal:
				c.Note = "diff left out: the plan's diffs reached 256 KiB"
				d.Truncated = true
			default:
				u, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(string(ea.text)), B: difflib.SplitLines(string(eb.text)),
					FromFile: "a/" + name, ToFile: "b/" + name, Context: 3})
				if err != nil {
					return d, err
				}
				if total+len(u) > maxDiffTotal {
					c.Note, d.Truncated = "diff left out: the plan's diffs reached 256 KiB", true
				} else {
					c.Unified, total = u, total+len(u)
				}
			}
			d.Changed = append(d.Changed, c)
		}
	}
	for name, ea := range a {
		if _, ok := b[name]; !ok {
			d.Removed = append(d.Removed, FileStat{name, ea.size})
		}
	}
	sort.Slice(d.Added, func(i, j int) bool { return d.Added[i].Name < d.Added[j].Name })
	sort.Slice(d.Removed, func(i, j int) bool { return d.Removed[i].Name < d.Removed[j].Name })
	sort.Slice(d.Changed, func(i, j int) bool { return d.Changed[i].Name < d.Changed[j].Name })
	return d, nil
}

// read lists a bundle's regular files with their sizes and hashes.
func read(ctx context.Context, s Store, digest string, keep bool, lim Limits, kept *int) (map[string]entry, error) {
	if err := CheckDigest(digest); err != nil {
		return nil, err
	}
	lim = lim.withDefaults()
	src, err := s.Open(ctx, digest)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	zr, err := gzip.NewReader(src)
	if err != nil {
		return nil, domain.Errorf(domain.UnsafeBundle, "bundle %s is not gzip: %v", digest, err)
	}
	tr := tar.NewReader(&boundedReader{r: zr, left: streamBound(lim)})
	out := map[string]entry{}
	var files int
	var bytesRead int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, domain.Errorf(domain.UnsafeBundle, "bundle %s: %v", digest, err)
		}
		if files++; files > lim.MaxFiles {
			return nil, domain.Errorf(domain.UnsafeBundle, "bundle %s has more than %d entries", digest, lim.MaxFiles)
		}
		name, err := cleanName(hdr.Name)
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if bytesRead += hdr.Size; bytesRead > lim.MaxBytes {
			return nil, tooBig(lim)
		}
		h := sha256.New()
		var buf bytes.Buffer
		w := io.Writer(h)
		small := keep && hdr.Size <= maxDiffFile && *kept+int(hdr.Size) <= maxKept
		if small {
			w = io.MultiWriter(h, &buf)
		}
		n, err := io.Copy(w, io.LimitReader(tr, hdr.Size+1))
		if err != nil {
			return nil, err
		}
		if n != hdr.Size {
			return nil, domain.Errorf(domain.UnsafeBundle, "%q: %d bytes where the header says %d", clip(name), n, hdr.Size)
		}
		e := entry{size: hdr.Size}
		copy(e.sum[:], h.Sum(nil))
		if small && utf8.Valid(buf.Bytes()) && bytes.IndexByte(buf.Bytes(), 0) < 0 {
			e.text = buf.Bytes()
			*kept += buf.Len()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		out[name] = e
	}
}

// Summary is a diff in one line, for plans and logs.
func (d Diff) Summary() string {
	return fmt.Sprintf("%d added, %d removed, %d changed", len(d.Added), len(d.Removed), len(d.Changed))
}
