package runtime

import (
	"bytes"
	"context"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/rewindhq/rewind/internal/redact"
)

// Container is one of a deployment's containers as `rewind` and tests show it.
type Container struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Component string `json:"component,omitempty"`
	OneOff    string `json:"oneOff,omitempty"`
	// Role is where the container is in its life: "active" (holds the
	// stable name), "next" (replacement of an unfinished swap), "draining"
	// (old worker finishing its tasks) or "other".
	Role        string            `json:"role"`
	Revision    int               `json:"revision"`
	Image       string            `json:"image"`
	ImageID     string            `json:"imageId"`
	ImageRef    string            `json:"imageRef,omitempty"`
	ImageDigest string            `json:"imageDigest,omitempty"`
	State       string            `json:"state"`  // running, exited, …
	Status      string            `json:"status"` // Docker's "Up 3 minutes"
	Created     time.Time         `json:"created"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// Containers lists every container of the deployment, in any state, by
// component then name.
func (r *Runtime) Containers(ctx context.Context, deploymentID string) ([]Container, error) {
	cs, err := r.list(ctx, deploymentID)
	if err != nil {
		return nil, err
	}
	out := make([]Container, 0, len(cs))
	for _, c := range cs {
		name := nameOf(c)
		comp := c.Labels[LabelComponent]
		role := "other"
		if comp != "" {
			base := ContainerName(deploymentID, comp)
			switch {
			case name == base:
				role = "active"
			case name == base+nextSuffix:
				role = "next"
			case strings.HasPrefix(name, base+drainingInfix):
				role = "draining"
			}
		}
		rev, _ := strconv.Atoi(c.Labels[LabelRevision])
		out = append(out, Container{
			ID: c.ID, Name: name, Component: comp, OneOff: c.Labels[LabelOneOff], Role: role, Revision: rev,
			Image: c.Image, ImageID: c.ImageID, ImageRef: c.Labels[LabelImageRef], ImageDigest: c.Labels[LabelImageDigest],
			State: string(c.State), Status: c.Status, Created: time.Unix(c.Created, 0).UTC(), Labels: c.Labels,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Component != out[j].Component {
			return out[i].Component < out[j].Component
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// Current describes what the deployment runs now: the image of its active
// containers (the scheduler's when they differ), with the versions read from
// that image's labels. ok is false when the deployment has no container.
// Activities use it to decide a downgrade against what actually runs.
func (r *Runtime) Current(ctx context.Context, deploymentID string) (img Image, ok bool, err error) {
	cs, err := r.Containers(ctx, deploymentID)
	if err != nil {
		return Image{}, false, err
	}
	var pick *Container
	for i := range cs {
		c := &cs[i]
		if c.Role != "active" {
			continue
		}
		if pick == nil || c.Component == "scheduler" {
			pick = c
		}
	}
	if pick == nil {
		return Image{}, false, nil
	}
	img = Image{Ref: pick.ImageRef, Digest: pick.ImageDigest, ID: pick.ImageID}
	if ii, err := r.cli.ImageInspect(ctx, pick.ImageID); err == nil && ii.Config != nil {
		img.Labels = ii.Config.Labels
		_ = r.readVersions(&img, ii.Config.Labels) // a running image's labels were checked at its pull
	}
	return img, true, nil
}

// logs returns a container's stdout and stderr.
func (r *Runtime) logs(ctx context.Context, id string) string {
	rc, err := r.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	_, _ = stdcopy.StdCopy(&buf, &buf, rc)
	return r.scrub(ctx, id, buf.String())
}

// scrub masks the secrets of a container's own environment in what it
// printed (redact.EnvSecrets): log tails travel in errors, and so into
// workflow history, the API and terminals. A container that cannot be
// inspected gives no output at all rather than an unscrubbed one.
func (r *Runtime) scrub(ctx context.Context, id, out string) string {
	if out == "" {
		return ""
	}
	ci, err := r.cli.ContainerInspect(ctx, id)
	if err != nil || ci.Config == nil {
		return "(output withheld: the container could not be inspected for secrets to mask)"
	}
	return redact.Scrub(out, redact.EnvSecrets(ci.Config.Env))
}

// tail is the end of a container's log, for error messages.
func (r *Runtime) tail(ctx context.Context, id string) string {
	return tailOf(r.logs(ctx, id))
}

func tailOf(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	t := strings.TrimSpace(strings.Join(lines, "\n"))
	if t == "" {
		return ""
	}
	return "; last output:\n" + t
}

// isGone: the container or image does not exist (any more).
func isGone(err error) bool {
	return cerrdefs.IsNotFound(err) || strings.Contains(strings.ToLower(err.Error()), "no such")
}

// isNotRunning: a signal sent to a container that already exited.
func isNotRunning(err error) bool {
	return cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "is not running")
}
