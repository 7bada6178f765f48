// Package bundle turns a DAG directory into an immutable, content-addressed
// archive and puts it in front of Airflow without a reader ever seeing a
// half-written tree.
//
// The life of a bundle:
//
//	Pack / PackTo   dir  -> deterministic tar.gz, digest "sha256:<hex>"
//	Store           <root>/.store/sha256/<hex>.tar.gz (FSStore)
//	Unpack          <root>/<deployment>/bundles/<version>/ (+ marker, written last)
//	Swap            <root>/<deployment>/current -> bundles/<version> (rename(2))
//
// Containers mount <root>/<deployment> and read current/, so Swap is the only
// moment the DAGs change, and it is a single atomic rename.
//
// Archives are untrusted input even though rewind wrote them: the store may be
// shared or tampered with, so Unpack re-checks everything Pack promised and
// refuses with a domain.UnsafeBundle error, leaving nothing on disk.
package bundle

import (
	"encoding/hex"
	"path/filepath"
	"strings"

	"github.com/rewindhq/rewind/internal/domain"
)

// MarkerName is written last into an unpacked version directory and holds the
// bundle digest. Its presence is the only proof that an unpack finished, so a
// directory without it is treated as debris from a crash.
const MarkerName = ".rewind-complete"

// Limits bound what Unpack is willing to write. They are enforced on the bytes
// actually streamed, never on sizes an archive claims about itself, because a
// crafted header can lie and gzip can expand a few KiB into gigabytes.
type Limits struct {
	// MaxBytes is the total size of regular-file content, uncompressed.
	MaxBytes int64
	// MaxFiles is the number of archive entries of any kind (files,
	// directories, links): inode exhaustion is as real as disk exhaustion.
	MaxFiles int
}

// DefaultLimits are generous for a DAG repository (Python files, small SQL
// and config) yet keep one bad bundle from filling the worker's disk.
var DefaultLimits = Limits{MaxBytes: 1 << 30, MaxFiles: 100_000}

// withDefaults lets callers pass Limits{} or set only one field.
func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	return l
}

const digestPrefix = "sha256:"

// CheckDigest refuses anything but "sha256:" and 64 lowercase hex digits.
// Digests become file names in the store, so this is also what keeps a
// digest from naming a path outside it.
func CheckDigest(d string) error {
	h, ok := strings.CutPrefix(d, digestPrefix)
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return domain.Errorf(domain.InvalidInput, "bundle digest %q is not sha256:<64 lowercase hex digits>", clip(d))
	}
	if _, err := hex.DecodeString(h); err != nil {
		return domain.Errorf(domain.InvalidInput, "bundle digest %q is not sha256:<64 lowercase hex digits>", clip(d))
	}
	return nil
}

// VersionDir is where Unpack puts a version; exported so callers (cleanup,
// the Docker runtime) agree on the layout without rebuilding it.
func VersionDir(root, deploymentID, version string) string {
	return filepath.Join(root, deploymentID, "bundles", version)
}

func checkIDs(deploymentID, version string) error {
	if err := domain.CheckDeploymentID(deploymentID); err != nil {
		return err
	}
	return domain.CheckDagBundleVersion(version)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
