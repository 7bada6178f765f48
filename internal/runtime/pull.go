package runtime

import (
	"context"

	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/opencontainers/go-digest"

	"github.com/rewindhq/rewind/internal/domain"
)

// Image is a pulled image as a revision records it.
type Image struct {
	Ref            string `json:"ref"`    // repo:tag as requested (normalized, e.g. 127.0.0.1:5000/repo:tag)
	Digest         string `json:"digest"` // repo (manifest) digest, sha256:…
	ID             string `json:"id"`     // local image ID (config digest)
	RuntimeVersion string `json:"runtimeVersion"`
	AirflowVersion string `json:"airflowVersion"`
	// Where each version came from (R20): "label <key>", or "airflow
	// version" once DetectAirflowVersion read it; empty when unknown.
	RuntimeVersionSource string            `json:"runtimeVersionSource,omitempty"`
	AirflowVersionSource string            `json:"airflowVersionSource,omitempty"`
	Labels               map[string]string `json:"labels,omitempty"`
}

// Pinned is the reference containers are created from: repo@digest when the
// digest is known, so a tag that moves later cannot change what runs.
func (i Image) Pinned() string {
	if i.Digest == "" {
		return i.Ref
	}
	if named, err := reference.ParseNormalizedNamed(i.Ref); err == nil {
		return named.Name() + "@" + i.Digest
	}
	return i.Ref
}

// Progress is a snapshot of a pull, for heartbeats. Bytes are those of the
// layers Docker reported sizes for so far; Docker only learns a layer's size
// when its download starts, so BytesTotal can grow during a pull.
type Progress struct {
	Ref        string `json:"ref"`
	Status     string `json:"status"` // last status line, e.g. "Downloading"
	Layers     int    `json:"layers"`
	LayersDone int    `json:"layersDone"` // downloaded and extracted, or already present
	BytesDone  int64  `json:"bytesDone"`
	BytesTotal int64  `json:"bytesTotal"`
	// Messages counts what the Engine has said about the pull so far: it
	// moves during extraction too, when the byte counts do not.
	Messages int `json:"messages"`
}

type pullOptions struct {
	verifyTag bool
	interval  time.Duration
}

// PullOption adjusts a Pull.
type PullOption func(*pullOptions)

// VerifyTag makes a pull by digest also ask the registry what the tag serves
// now and refuse with DigestMismatch when it is different content. Deploys
// that record a digest leave it off; rollbacks that must restore "what the
// tag meant then" and want to notice a re-pushed tag turn it on.
func VerifyTag() PullOption { return func(o *pullOptions) { o.verifyTag = true } }

// ProgressEvery sets the minimum interval between progress callbacks
// (default 500ms; the last snapshot is always reported).
func ProgressEvery(d time.Duration) PullOption { return func(o *pullOptions) { o.interval = d } }

// Pull makes ref available on the Engine and describes it.
//
// Without wantDigest it pulls by tag and resolves the repo digest the
// registry served, for the revision to record. With wantDigest it pulls
// repo@wantDigest, so the content is exactly what the revision recorded
// whatever the tag points to now; when that content is already local the
// registry is not contacted at all (a rollback works while the registry is
// down). Docker keeps the layers it already has, so a retried pull resumes
// from the layers that completed.
//
// Every registry call carries the registry's credentials (auth.go),
// resolved only when a call is made: a cached image by digest needs neither
// the registry nor a credential helper.
//
// Errors: a malformed ref or digest is InvalidInput; an image or tag the
// registry does not have is NotFound; a recorded digest the registry no
// longer serves, or (with VerifyTag) a tag that now serves other content, is
// DigestMismatch with both digests in the message; the registry refusing the
// credentials, or requiring some and none being configured, is RegistryAuth.
// Anything else (registry or daemon unreachable) is an ordinary, retryable
// error.
func (r *Runtime) Pull(ctx context.Context, ref, wantDigest string, progress func(Progress), opts ...PullOption) (Image, error) {
	o := pullOptions{interval: 500 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return Image{}, domain.Errorf(domain.InvalidInput, "image reference %q is not valid: %v", ref, err)
	}
	if d, ok := named.(reference.Digested); ok && wantDigest == "" {
		wantDigest = d.Digest().String()
	}
	tagged := reference.TagNameOnly(reference.TrimNamed(named))
	if t, ok := named.(reference.Tagged); ok {
		tagged, _ = reference.WithTag(reference.TrimNamed(named), t.Tag())
	}
	tagRef := reference.FamiliarString(tagged)
	img := Image{Ref: tagRef}
	var resolved *credentials
	creds := func() (credentials, error) {
		if resolved == nil {
			c, err := r.credentialsFor(ctx, named)
			if err != nil {
				return c, err
			}
			resolved = &c
		}
		return *resolved, nil
	}

	pullRef := tagRef
	if wantDigest != "" {
		if _, err := digest.Parse(wantDigest); err != nil {
			return Image{}, domain.Errorf(domain.InvalidInput, "image digest %q is not valid: %v", wantDigest, err)
		}
		pullRef = reference.FamiliarName(named) + "@" + wantDigest
		if o.verifyTag {
			c, err := creds()
			if err != nil {
				return Image{}, err
			}
			if err := r.verifyTag(ctx, tagRef, wantDigest, c); err != nil {
				return Image{}, err
			}
		}
	}

	served := ""
	if _, err := r.cli.ImageInspect(ctx, pullRef); wantDigest == "" || err != nil {
		c, err := creds()
		if err != nil {
			return Image{}, err
		}
		served, err = r.pull(ctx, pullRef, o.interval, progress, c)
		if err != nil {
			if wantDigest != "" && domain.TypeOf(err) == domain.NotFound {
				return Image{}, r.mismatch(ctx, tagRef, wantDigest, "", c)
			}
			return Image{}, err
		}
	} else if progress != nil {
		progress(Progress{Ref: pullRef, Status: "Image is up to date (cached)"})
	}

	ii, err := r.cli.ImageInspect(ctx, pullRef)
	if err != nil {
		return Image{}, fmt.Errorf("inspect pulled image %s: %w", pullRef, err)
	}
	img.ID = ii.ID
	switch {
	case wantDigest != "":
		img.Digest = wantDigest
	case served != "":
		img.Digest = served
	default:
		img.Digest = repoDigest(ii.RepoDigests, tagged.Name())
	}
	if ii.Config != nil {
		img.Labels = ii.Config.Labels
		if err := r.readVersions(&img, ii.Config.Labels); err != nil {
			return Image{}, err
		}
	}
	return img, nil
}

// versionLabel reads a version label of an image: empty when the image has
// none, InvalidInput when it is not a
// strict version.
func versionLabel(labels map[string]string, key, ref string) (string, error) {
	v, ok := labels[key]
	if !ok || v == "" {
		return "", nil
	}
	if !domain.IsVersion(v) {
		return "", domain.Errorf(domain.InvalidInput, "image %s: label %s=%q is not a version such as 9.1.0", ref, key, clip(v, 60))
	}
	if _, err := semver.NewVersion(v); err != nil {
		return "", domain.Errorf(domain.InvalidInput, "image %s: label %s=%q is not a version such as 9.1.0", ref, key, clip(v, 60))
	}
	return v, nil
}

// ResolveDigest asks the registry (through the daemon, so the daemon's
// registry configuration applies, with the credentials of auth.go) which
// manifest digest ref's tag serves now, without pulling.
func (r *Runtime) ResolveDigest(ctx context.Context, ref string) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", domain.Errorf(domain.InvalidInput, "image reference %q is not valid: %v", ref, err)
	}
	c, err := r.credentialsFor(ctx, named)
	if err != nil {
		return "", err
	}
	return r.resolveDigest(ctx, ref, c)
}

func (r *Runtime) resolveDigest(ctx context.Context, ref string, c credentials) (string, error) {
	di, err := r.cli.DistributionInspect(ctx, ref, c.header)
	if err != nil {
		return "", classify("resolve "+ref, err, c)
	}
	return di.Descriptor.Digest.String(), nil
}

func (r *Runtime) verifyTag(ctx context.Context, tagRef, want string, c credentials) error {
	now, err := r.resolveDigest(ctx, tagRef, c)
	if err != nil {
		if domain.TypeOf(err) == domain.NotFound {
			return r.mismatch(ctx, tagRef, want, "", c)
		}
		return err
	}
	if now != want {
		return r.mismatch(ctx, tagRef, want, now, c)
	}
	return nil
}

// mismatch builds the refusal a deploy or rollback shows as is: which digest
// the revision recorded, and what the registry serves for the tag now.
func (r *Runtime) mismatch(ctx context.Context, tagRef, want, now string, c credentials) error {
	if now == "" {
		if d, err := r.resolveDigest(ctx, tagRef, c); err == nil {
			now = d
		}
	}
	if now == "" {
		return domain.Errorf(domain.DigestMismatch, "this revision was recorded with digest %s for %s; the registry no longer serves that content and has nothing for the tag", want, tagRef)
	}
	if now == want {
		return domain.Errorf(domain.DigestMismatch, "this revision was recorded with digest %s for %s; the registry still lists the tag with it but does not serve that manifest", want, tagRef)
	}
	return domain.Errorf(domain.DigestMismatch, "this revision was recorded with digest %s, the registry now serves %s for %s", want, now, tagRef)
}

// pull runs ImagePull and reads its JSON message stream to the end (the pull
// is only complete when the stream is), reporting progress and returning the
// digest from the final "Digest: sha256:…" status.
func (r *Runtime) pull(ctx context.Context, ref string, every time.Duration, progress func(Progress), c credentials) (string, error) {
	rc, err := r.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: c.header})
	if err != nil {
		return "", classify("pull "+ref, err, c)
	}
	defer rc.Close()
	type layer struct {
		current, total int64
		done           bool
	}
	layers := map[string]*layer{}
	var order []string
	snap := Progress{Ref: ref}
	var last time.Time
	report := func(force bool) {
		if progress == nil || (!force && time.Since(last) < every) {
			return
		}
		last = time.Now()
		snap.Layers, snap.LayersDone, snap.BytesDone, snap.BytesTotal = len(order), 0, 0, 0
		for _, id := range order {
			l := layers[id]
			if l.done {
				snap.LayersDone++
			}
			snap.BytesTotal += l.total
			if l.done {
				snap.BytesDone += l.total
			} else {
				snap.BytesDone += l.current
			}
		}
		progress(snap)
	}
	served := ""
	dec := json.NewDecoder(rc)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", fmt.Errorf("pull %s: reading progress: %w", ref, err)
		}
		if m.Error != nil {
			return "", classify("pull "+ref, errors.New(m.Error.Message), c)
		}
		snap.Messages++
		if strings.HasPrefix(m.Status, "Digest: ") {
			served = strings.TrimSpace(strings.TrimPrefix(m.Status, "Digest: "))
		}
		snap.Status = m.Status
		if isLayerStatus(m.Status) && m.ID != "" {
			l, ok := layers[m.ID]
			if !ok {
				l = &layer{}
				layers[m.ID] = l
				order = append(order, m.ID)
			}
			switch m.Status {
			case "Downloading":
				if m.Progress != nil {
					l.current, l.total = m.Progress.Current, m.Progress.Total
				}
			case "Download complete", "Verifying Checksum":
				l.current = l.total
			case "Pull complete", "Already exists":
				l.current, l.done = l.total, true
			}
		}
		report(false)
	}
	report(true)
	return served, nil
}

func isLayerStatus(s string) bool {
	switch s {
	case "Pulling fs layer", "Waiting", "Downloading", "Verifying Checksum", "Download complete",
		"Extracting", "Pull complete", "Already exists", "Retrying":
		return true
	}
	return strings.HasPrefix(s, "Retrying")
}

func repoDigest(repoDigests []string, name string) string {
	for _, rd := range repoDigests {
		n, err := reference.ParseNormalizedNamed(rd)
		if err != nil {
			continue
		}
		if d, ok := n.(reference.Digested); ok && n.Name() == name {
			return d.Digest().String()
		}
	}
	return ""
}

// classify separates "the registry refuses these credentials, or wants
// some" (RegistryAuth) and "the registry has no such thing" (NotFound) —
// retrying cannot help either, fail fast — from everything else (ordinary
// errors: the registry or the daemon may come back). Auth comes first: the
// daemon reports a registry's "denied" as not found ("pull access denied
// …, repository does not exist or may require 'docker login'"), which with
// credentials sent means they were refused. Without credentials it stays
// NotFound: that is how an open registry (Docker Hub) answers for a
// repository that does not exist.
func classify(what string, err error, c credentials) error {
	if err == nil {
		return nil
	}
	if refusal := authRefusal(what, err, c); refusal != nil {
		return refusal
	}
	msg := c.scrub(err.Error())
	if cerrdefs.IsNotFound(err) || isNotFoundText(msg) {
		hint := ""
		if !c.sent() && strings.Contains(strings.ToLower(msg), "denied") {
			hint = fmt.Sprintf(" (no credentials for %s were found in %s)", c.registry, c.config)
		}
		return domain.Errorf(domain.NotFound, "%s: image not found in the registry: %s%s", what, msg, hint)
	}
	if msg != err.Error() {
		return fmt.Errorf("%s: %s", what, msg)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isNotFoundText(s string) bool {
	s = strings.ToLower(s)
	for _, t := range []string{"manifest unknown", "not found", "repository does not exist", "name unknown", "pull access denied", "no such image"} {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}
