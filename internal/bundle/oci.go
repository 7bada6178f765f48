package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/rewindhq/rewind/internal/domain"
)

// Bundles travel through the registry (issue 13): `rewind deploy --dags`
// pushes the deterministic archive as an OCI artifact to a repository, and
// each worker fetches it by its digest into its own bundle root. The
// archive is the artifact's one layer, so the layer's digest *is* the
// bundle digest of R3 and history: nothing is renamed, and the content is
// verified on the way in. The artifact is tagged with the digest so a
// registry's garbage collection keeps what a revision names.
const (
	// ArtifactType is the artifact type of a DAG bundle.
	ArtifactType = "application/vnd.rewind.dag-bundle.v1"
	// LayerMediaType is the media type of its one layer, the archive.
	LayerMediaType = "application/vnd.rewind.dag-bundle.v1.tar+gzip"
)

// Credential resolves a registry host's credentials the way every other
// registry call rewind makes does (runtime.Runtime.Credential).
type Credential func(ctx context.Context, host string) (username, password, token string, err error)

// OCIStore is the Store of bundles in a registry repository.
type OCIStore struct {
	repo *remote.Repository
	ref  string
}

// NewOCIStore addresses repository host[:port]/path. Registries on a
// loopback address are spoken to in plain HTTP, as the Docker Engine does
// by default; every other one over TLS.
func NewOCIStore(repository string, cred Credential) (*OCIStore, error) {
	repo, err := remote.NewRepository(repository)
	if err != nil || strings.Contains(repository, "@") || strings.Contains(repository[strings.LastIndex(repository, "/")+1:], ":") {
		return nil, domain.Errorf(domain.InvalidInput, "bundle repository %q is not host[:port]/path, with no tag or digest", clip(repository))
	}
	host := repo.Reference.Registry
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
		repo.PlainHTTP = true
	}
	repo.Client = &auth.Client{
		Client: retry.DefaultClient,
		Cache:  auth.NewCache(),
		Credential: func(ctx context.Context, hostport string) (auth.Credential, error) {
			if cred == nil {
				return auth.EmptyCredential, nil
			}
			u, p, tok, err := cred(ctx, hostport)
			if err != nil {
				return auth.EmptyCredential, err
			}
			return auth.Credential{Username: u, Password: p, RefreshToken: tok}, nil
		},
	}
	return &OCIStore{repo: repo, ref: repository}, nil
}

// Put pushes the archive r yields and tags its artifact with the digest.
// It spools to a temporary file first: a push names the digest and size
// before the bytes. Pushing what is there already changes nothing.
func (s *OCIStore) Put(ctx context.Context, r io.Reader) (string, int64, error) {
	tmp, err := os.CreateTemp("", "rewind-bundle-*.tar.gz")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		return "", n, err
	}
	d := digestPrefix + hex.EncodeToString(h.Sum(nil))
	layer := ocispec.Descriptor{MediaType: LayerMediaType, Digest: digest.Digest(d), Size: n}
	if ok, err := s.repo.Blobs().Exists(ctx, layer); err != nil {
		return d, n, s.wrap("push", err)
	} else if !ok {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return d, n, err
		}
		if err := s.repo.Blobs().Push(ctx, layer, tmp); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return d, n, s.wrap("push", err)
		}
	}
	man, err := oras.PackManifest(ctx, s.repo, oras.PackManifestVersion1_1, ArtifactType, oras.PackManifestOptions{
		Layers: []ocispec.Descriptor{layer}, ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "1970-01-01T00:00:00Z"}})
	if err != nil {
		return d, n, s.wrap("push", err)
	}
	if err := s.repo.Tag(ctx, man, tagOf(d)); err != nil {
		return d, n, s.wrap("tag", err)
	}
	return d, n, nil
}

// tagOf is the tag an archive's artifact carries: its digest, as a tag.
func tagOf(d string) string { return strings.Replace(d, ":", "-", 1) }

// Open fetches the archive by digest; reading it to EOF verifies it.
func (s *OCIStore) Open(ctx context.Context, d string) (io.ReadCloser, error) {
	if err := CheckDigest(d); err != nil {
		return nil, err
	}
	desc, err := s.repo.Blobs().Resolve(ctx, d)
	if err != nil {
		return nil, s.wrap("fetch "+d, err)
	}
	rc, err := s.repo.Blobs().Fetch(ctx, desc)
	if err != nil {
		return nil, s.wrap("fetch "+d, err)
	}
	return &verified{ReadCloser: rc, want: d, h: sha256.New()}, nil
}

func (s *OCIStore) Has(ctx context.Context, d string) (bool, error) {
	if err := CheckDigest(d); err != nil {
		return false, err
	}
	_, err := s.repo.Blobs().Resolve(ctx, d)
	if errors.Is(err, errdef.ErrNotFound) {
		return false, nil
	}
	return err == nil, s.wrap("look up "+d, err)
}

// Delete removes the artifact and its archive; what is gone already is not
// an error. A registry that refuses deletes is an error cleanup reports.
func (s *OCIStore) Delete(ctx context.Context, d string) error {
	if err := CheckDigest(d); err != nil {
		return err
	}
	if man, err := s.repo.Resolve(ctx, tagOf(d)); err == nil {
		if err := s.repo.Delete(ctx, man); err != nil && !errors.Is(err, errdef.ErrNotFound) {
			return s.wrap("delete "+d, err)
		}
	}
	desc, err := s.repo.Blobs().Resolve(ctx, d)
	if errors.Is(err, errdef.ErrNotFound) {
		return nil
	}
	if err == nil {
		err = s.repo.Blobs().Delete(ctx, desc)
	}
	if errors.Is(err, errdef.ErrNotFound) {
		return nil
	}
	return s.wrap("delete "+d, err)
}

// wrap types the registry's answers: an archive it does not have is
// NotFound, refused credentials RegistryAuth; the rest stays retryable.
func (s *OCIStore) wrap(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case domain.TypeOf(err) != "":
		return err
	case errors.Is(err, errdef.ErrNotFound):
		return domain.Errorf(domain.NotFound, "DAG bundle %s: not in %s", strings.TrimPrefix(what, "fetch "), s.ref)
	case strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "403") || strings.Contains(strings.ToLower(err.Error()), "unauthorized"):
		return domain.Errorf(domain.RegistryAuth, "DAG bundle repository %s refused the credentials (%s)", s.ref, what)
	}
	return fmt.Errorf("DAG bundle repository %s: %s: %w", s.ref, what, err)
}

// verified checks, at EOF, that what was read has the digest asked for.
type verified struct {
	io.ReadCloser
	want string
	h    interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func (v *verified) Read(p []byte) (int, error) {
	n, err := v.ReadCloser.Read(p)
	v.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if got := digestPrefix + hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, domain.Errorf(domain.DigestMismatch, "DAG bundle %s: the registry served content with digest %s", v.want, got)
		}
	}
	return n, err
}
