package runtime

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/mount"

	"github.com/rewindhq/rewind/internal/domain"
)

// PgClient runs PostgreSQL's client tools (pg_dump, pg_restore) for a
// deployment's metadata snapshots (R16, R21) where they are sure to exist
// and reach the database the way Airflow does: in one-off containers of a
// PostgreSQL client image, in the scheduler's network namespace like the
// start checks (on its networks, without its identity, while it is
// stopped). The worker needs no PostgreSQL client of its own.
//
// Each snapshot is a named volume of the deployment's Docker Engine, so
// every worker of that host can restore what another took, and cleanup
// removes it through the Engine: snapshot <deployment>/r<N>.dump is the
// file dump in volume <prefix>-<deployment>-r<N>.
type PgClient struct {
	Image  string // repo[:tag]@sha256:…, pulled by its digest
	Volume string // the prefix of the snapshot volumes' names
}

// SnapshotMount is where the volume appears in the tool's container.
const SnapshotMount = "/snapshots"

// Pinned checks the client image names its digest.
func (p PgClient) pinned() (ref, digest string, err error) {
	ref, digest, ok := strings.Cut(p.Image, "@")
	if !ok || !strings.HasPrefix(digest, "sha256:") {
		return "", "", domain.Errorf(domain.InvalidInput, "PostgreSQL client image %q must be pinned by digest (repo:tag@sha256:…)", p.Image)
	}
	return ref, digest, nil
}

// SnapshotVolume is the volume holding snapshot rel (<deployment>/r<N>.dump).
func SnapshotVolume(prefix, rel string) string {
	return prefix + "-" + strings.ReplaceAll(strings.TrimSuffix(rel, ".dump"), "/", "-")
}

// snapshotFile is where the dump is in its volume's mount.
const snapshotFile = SnapshotMount + "/dump"

// RemoveSnapshotVolume deletes a snapshot's volume (cleanup, R12); one
// already gone is no error.
func (r *Runtime) RemoveSnapshotVolume(ctx context.Context, prefix, rel string) error {
	err := r.cli.VolumeRemove(ctx, SnapshotVolume(prefix, rel), false)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// PgDump writes a custom-format dump of dbURL into the volume as rel. A
// retried call dumps again over what an earlier attempt left: only a dump
// that exited 0 is recorded on the revision, by the caller.
func (r *Runtime) PgDump(ctx context.Context, dep domain.Deployment, p PgClient, dbURL, rel string, revision int) (OneOffResult, error) {
	return r.pgTool(ctx, dep, p, dbURL, rel, "pg-dump", revision, "pg_dump", "--format=custom", "--no-owner", "--file="+snapshotFile)
}

// PgRestore puts a dump from the volume back: every object it holds is
// dropped and recreated with its data, in one transaction.
func (r *Runtime) PgRestore(ctx context.Context, dep domain.Deployment, p PgClient, dbURL, rel string) (OneOffResult, error) {
	return r.pgTool(ctx, dep, p, dbURL, rel, "pg-restore", 0, "pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
		"--exit-on-error", snapshotFile)
}

func (r *Runtime) pgTool(ctx context.Context, dep domain.Deployment, p PgClient, dbURL, rel, name string, revision int, tool string, args ...string) (OneOffResult, error) {
	ref, digest, err := p.pinned()
	if err != nil {
		return OneOffResult{}, err
	}
	img, err := r.Pull(ctx, ref, digest, func(Progress) {})
	if err != nil {
		return OneOffResult{}, err
	}
	u, err := url.Parse(dbURL)
	if err != nil || u.Host == "" {
		return OneOffResult{}, domain.Errorf(domain.InvalidInput, "metadata database URL is not valid")
	}
	// The password travels in PGPASSWORD, never on a command line.
	env := []string{"PGCONNECT_TIMEOUT=30"}
	if pw, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+pw)
		u.User = url.User(u.User.Username())
	}
	cmd := append([]string{tool}, append(args, "--dbname="+u.String())...)
	res, err := r.RunOneOff(ctx, dep, img.Pinned(), cmd, OneOffOptions{Name: name, Revision: revision, JoinNetwork: true, Env: env,
		Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: SnapshotVolume(p.Volume, rel), Target: SnapshotMount}}})
	if err != nil {
		return res, fmt.Errorf("%s (%s) on %s: %w", tool, p.Image, u.Redacted(), err)
	}
	return res, nil
}
