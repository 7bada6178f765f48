package bundle

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

const currentName = "current"

// Swap points <root>/<deploymentID>/current at bundles/<version>.
//
// It creates the new symlink under a temp name and rename(2)s it over
// current, so at every instant current resolves to the old tree or the new
// one, never to nothing: deleting and recreating would leave a gap in which
// the scheduler sees no DAGs and marks them all removed. The link is relative
// so it resolves the same inside containers that mount <root>/<deploymentID>
// elsewhere. Its cost does not depend on the bundle size.
//
// The version must be completely unpacked (marker present); swapping to a
// partial tree would defeat the point.
func Swap(root, deploymentID, version string) error {
	if err := relink(root, deploymentID, version); err != nil {
		return err
	}
	// The rename is atomic for readers at once; the fsync makes it survive
	// a power cut, so a restart never goes back to the old DAGs silently
	// while the revision says otherwise. It is also the slow, variable part
	// (it waits for the filesystem journal), which is why the benchmark
	// reports the two separately.
	return syncDir(filepath.Join(root, deploymentID))
}

// relink is Swap up to the moment readers see the new tree.
func relink(root, deploymentID, version string) error {
	if err := checkIDs(deploymentID, version); err != nil {
		return err
	}
	depDir := filepath.Join(root, deploymentID)
	if _, err := os.Lstat(filepath.Join(VersionDir(root, deploymentID, version), MarkerName)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return domain.Errorf(domain.NotFound, "DAG bundle %s of %s is not unpacked", version, deploymentID)
		}
		return err
	}
	sweepTempLinks(depDir)
	tmp := filepath.Join(depDir, ".tmp-current-"+rand.Text())
	if err := os.Symlink("bundles/"+version, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(depDir, currentName)); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// sweepTempLinks removes temp symlinks a crash left between Symlink and
// Rename. Only old ones: a younger one may belong to a Swap in flight.
func sweepTempLinks(depDir string) {
	ents, err := os.ReadDir(depDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".tmp-current-") {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Minute {
			os.Remove(filepath.Join(depDir, e.Name()))
		}
	}
}

// Current returns the version <root>/<deploymentID>/current points at, or ""
// when the deployment has never been swapped.
func Current(root, deploymentID string) (string, error) {
	if err := domain.CheckDeploymentID(deploymentID); err != nil {
		return "", err
	}
	target, err := os.Readlink(filepath.Join(root, deploymentID, currentName))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	v, ok := strings.CutPrefix(target, "bundles/")
	if !ok || domain.CheckDagBundleVersion(v) != nil {
		return "", domain.Errorf(domain.InvalidInput, "%s/current points at %q, which is not a bundle version rewind made", deploymentID, clip(target))
	}
	return v, nil
}

// RemoveVersion deletes an unpacked version (for cleanup, R12). It refuses
// the version current points at: removing it would empty the live DAG folder.
// Removing a missing version is not an error.
func RemoveVersion(root, deploymentID, version string) error {
	if err := checkIDs(deploymentID, version); err != nil {
		return err
	}
	cur, err := Current(root, deploymentID)
	if err != nil {
		return err
	}
	if cur == version {
		return domain.Errorf(domain.InvalidInput, "DAG bundle %s is current for %s and cannot be removed", version, deploymentID)
	}
	dir := VersionDir(root, deploymentID, version)
	// Rename first so the version disappears atomically; a crash during
	// RemoveAll leaves a temp directory the next Unpack of it sweeps, never
	// a half-deleted tree under the version's name.
	trash := filepath.Join(filepath.Dir(dir), ".tmp-"+version+"-rm-"+rand.Text())
	if err := os.Rename(dir, trash); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Also whatever an earlier, interrupted removal or unpack left.
	err = removePrefixed(filepath.Dir(dir), ".tmp-"+version+"-")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
