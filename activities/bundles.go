package activities

import (
	"context"
	"fmt"

	"github.com/rewindhq/rewind/internal/bundle"
)

// BundleRequest names one DAG bundle of one deployment.
type BundleRequest struct {
	DeploymentID string `json:"deploymentId"`
	Version      string `json:"version"`
	Digest       string `json:"digest"`
}

func (a *Activities) limits() bundle.Limits {
	return bundle.Limits{MaxBytes: a.Config.BundleMaxBytes, MaxFiles: a.Config.BundleMaxFiles}
}

// UnpackBundle unpacks the bundle into <root>/<deployment>/bundles/<version>/.
// It is a no-op when that directory is already complete, and converges after
// a crash mid-way; an unsafe bundle is refused (UnsafeBundle) leaving nothing.
func (a *Activities) UnpackBundle(ctx context.Context, req BundleRequest) (string, error) {
	stop := heartbeatWhile(ctx, "unpacking "+req.Version)
	defer stop()
	dir, err := bundle.Unpack(ctx, a.Bundles, req.Digest, a.Config.BundleRoot, req.DeploymentID, req.Version, a.limits())
	return dir, refuse(err)
}

// SwapBundle atomically repoints <root>/<deployment>/current at the version:
// a container reading DAGs sees the old tree or the new one, never a mix.
func (a *Activities) SwapBundle(ctx context.Context, req BundleRequest) error {
	return refuse(bundle.Swap(a.Config.BundleRoot, req.DeploymentID, req.Version))
}

func (a *Activities) checkBundleCurrent(deploymentID, version string) error {
	cur, err := bundle.Current(a.Config.BundleRoot, deploymentID)
	if err != nil {
		return err
	}
	if cur != version {
		return fmt.Errorf("DAG bundle of %s is %q, want %q", deploymentID, cur, version)
	}
	return nil
}
