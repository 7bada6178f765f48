package runtime

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/redact"
)

// Exec runs cmd in a component's active container, as a health probe does
// (`airflow jobs check`), and returns its exit code and output. A component
// with no running container is NotFound; an Engine that does not answer is
// an ordinary error.
func (r *Runtime) Exec(ctx context.Context, deploymentID, component string, cmd []string, timeout time.Duration) (int, string, error) {
	if err := domain.CheckDeploymentID(deploymentID); err != nil {
		return 0, "", err
	}
	if err := checkComponent(component); err != nil {
		return 0, "", err
	}
	name := ContainerName(deploymentID, component)
	ci, err := r.cli.ContainerInspect(ctx, name)
	if err != nil {
		if isGone(err) {
			return 0, "", domain.Errorf(domain.NotFound, "%s has no %s container", deploymentID, component)
		}
		return 0, "", fmt.Errorf("inspect %s: %w", name, err)
	}
	if ci.Config == nil || ci.Config.Labels[LabelDeployment] != deploymentID || !ci.State.Running {
		return 0, "", domain.Errorf(domain.NotFound, "%s's %s is not running", deploymentID, component)
	}
	return r.execIn(ctx, ci, name, cmd, timeout)
}

// execTimeout: the command did not finish within its timeout while the
// Engine answered (a hung health check, not an unreachable Engine).
type execTimeout struct{ msg string }

func (e *execTimeout) Error() string { return e.msg }

// execIn runs cmd in the inspected container ci. Docker's own refusals
// (the container is restarting or stopped: a conflict; gone: not found)
// are wrapped so callers can tell them from an Engine that does not answer.
func (r *Runtime) execIn(ctx context.Context, ci container.InspectResponse, name string, cmd []string, timeout time.Duration) (int, string, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	timedOut := func() bool { return ctx.Err() != nil && parent.Err() == nil }
	ex, err := r.cli.ContainerExecCreate(ctx, ci.ID, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		if timedOut() {
			return 0, "", &execTimeout{fmt.Sprintf("exec in %s: no answer within %s", name, timeout)}
		}
		return 0, "", fmt.Errorf("exec in %s: %w", name, err)
	}
	att, err := r.cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return 0, "", fmt.Errorf("exec in %s: %w", name, err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil && ctx.Err() != nil {
		if timedOut() {
			return 0, "", &execTimeout{fmt.Sprintf("exec in %s: no answer within %s", name, timeout)}
		}
		return 0, "", fmt.Errorf("exec in %s: %w", name, ctx.Err())
	}
	res, err := r.cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return 0, "", fmt.Errorf("exec in %s: %w", name, err)
	}
	return res.ExitCode, clipTail(redact.Scrub(out.String(), redact.EnvSecrets(ci.Config.Env)), 8000), nil
}
