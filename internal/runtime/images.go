package runtime

import (
	"context"
	"errors"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"

	"github.com/rewindhq/rewind/internal/domain"
)

// RemoveImageByDigest removes the local images whose repo digest is digest,
// for cleanup (R12). An image any container still uses — running, stopped,
// or a worker draining — is kept. Removing what is already gone is not an
// error, so a retried cleanup converges. It returns the bytes freed.
func (r *Runtime) RemoveImageByDigest(ctx context.Context, digest string) (freed int64, removed bool, err error) {
	if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
		return 0, false, domain.Errorf(domain.InvalidInput, "image digest %q is not sha256:<64 hex>", digest)
	}
	imgs, err := r.cli.ImageList(ctx, image.ListOptions{All: false})
	if err != nil {
		return 0, false, err
	}
	for _, img := range imgs {
		repos := map[string]bool{}
		for _, rd := range img.RepoDigests {
			if strings.HasSuffix(rd, "@"+digest) {
				repos[repoOf(rd)] = true
			}
		}
		if len(repos) == 0 {
			continue
		}
		users, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("ancestor", img.ID))})
		if err != nil {
			return freed, removed, err
		}
		if len(users) > 0 {
			continue
		}
		// Only this repository's references go: the same image may be known
		// under other names that other revisions or people still use, and
		// Docker keeps the layers while any reference is left.
		for _, ref := range append(append([]string{}, img.RepoTags...), img.RepoDigests...) {
			if !repos[repoOf(ref)] {
				continue
			}
			if _, err := r.cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
				return freed, removed, err
			}
		}
		removed = true
		if _, err := r.cli.ImageInspect(ctx, img.ID); errdefs.IsNotFound(err) {
			freed += img.Size
		}
	}
	return freed, removed, nil
}

// repoOf is the repository of a reference: registry/name without tag or digest.
func repoOf(ref string) string {
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		return named.Name()
	}
	return ref
}

// Available says whether a revision's recorded image can still be had: on
// the Engine already, or from its registry by digest, asked with the
// registry's credentials (auth.go). A registry that no longer serves the
// digest is DigestMismatch, and one that refuses the credentials (or wants
// some) is RegistryAuth, so a rollback can be refused before it records
// anything; an unreachable registry is an ordinary error, retried like a
// pull.
func (r *Runtime) Available(ctx context.Context, ref, digest string) error {
	_, err := r.Locate(ctx, ref, digest)
	return err
}

// Locate is Available that also says where the image is: local is true
// when this Engine holds it by digest already (no registry asked, so a
// registry outage does not matter), false when the registry serves it.
func (r *Runtime) Locate(ctx context.Context, ref, digest string) (local bool, err error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false, domain.Errorf(domain.InvalidInput, "image reference %q is not valid: %v", ref, err)
	}
	pinned := named.Name() + "@" + digest
	if _, err := r.cli.ImageInspect(ctx, pinned); err == nil {
		return true, nil
	}
	c, err := r.credentialsFor(ctx, named)
	if err != nil {
		return false, err
	}
	_, err = r.cli.DistributionInspect(ctx, pinned, c.header)
	if err == nil {
		return false, nil
	}
	if refusal := authRefusal("check "+pinned, err, c); refusal != nil {
		return false, refusal
	}
	if errdefs.IsNotFound(err) || strings.Contains(err.Error(), "manifest unknown") || strings.Contains(err.Error(), "not found") {
		return false, domain.Errorf(domain.DigestMismatch, "revision image %s was recorded with digest %s, which %s no longer serves", ref, digest, reference.Domain(named))
	}
	if msg := c.scrub(err.Error()); msg != err.Error() {
		return false, errors.New(msg)
	}
	return false, err
}

// SameImage compares image references as Docker does (docker.io/library
// defaults, an implicit latest tag).
func SameImage(a, b string) bool {
	na, errA := reference.ParseNormalizedNamed(a)
	nb, errB := reference.ParseNormalizedNamed(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return reference.TagNameOnly(na).String() == reference.TagNameOnly(nb).String()
}
