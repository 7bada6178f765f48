package activities

import (
	"context"
	"fmt"

	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/config"
)

// BundleRequest names one DAG bundle of one deployment.
type BundleRequest struct {
	DeploymentID string `json:"deploymentId"`
	Version      string `json:"version"`
	Digest       string `json:"digest"`
}

// bundleLimits bound what any bundle may unpack to, on the host or when
// a store activity checks or diffs one.
func bundleLimits(cfg *config.Config) bundle.Limits {
	return bundle.Limits{MaxBytes: cfg.BundleMaxBytes, MaxFiles: cfg.BundleMaxFiles}
}

// UnpackBundle unpacks the bundle into <root>/<deployment>/bundles/<version>/.
// It is a no-op when that directory is already complete, and converges after
// a crash mid-way; an unsafe bundle is refused (UnsafeBundle) leaving nothing.
func (a *HostActivities) UnpackBundle(ctx context.Context, req BundleRequest) (string, error) {
	ctx, done := a.hostStep(ctx, "unpacking "+req.Version)
	dir, err := bundle.Unpack(ctx, a.Bundles, req.Digest, a.Config.BundleRoot, req.DeploymentID, req.Version, bundleLimits(a.Config))
	return dir, done(refuse(err))
}

// SwapBundle atomically repoints <root>/<deployment>/current at the version:
// a container reading DAGs sees the old tree or the new one, never a mix.
func (a *HostActivities) SwapBundle(ctx context.Context, req BundleRequest) error {
	return refuse(bundle.Swap(a.Config.BundleRoot, req.DeploymentID, req.Version))
}

func (a *HostActivities) checkBundleCurrent(deploymentID, version string) error {
	cur, err := bundle.Current(a.Config.BundleRoot, deploymentID)
	if err != nil {
		return err
	}
	if cur != version {
		return fmt.Errorf("DAG bundle of %s is %q, want %q", deploymentID, cur, version)
	}
	return nil
}
