package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/eslog"
)

// Cleanup per host (issue 13): images, bundle directories and snapshots
// live on one Docker host, so each host's worker removes its own, on the
// host's queue, after the batches. Cleanups recorded before this ran every
// removal inside the batches on whichever worker took them;
// workflow.GetVersion("cleanup-hosts") keeps them doing so when they replay.
const cleanupHostsChange = "cleanup-hosts"

// defaultHostWait is how long a cleanup waits for a host's worker when
// neither the input nor the worker's configuration says.
const defaultHostWait = 10 * time.Minute

// maxHostWaitSeconds caps a wait given in the input: a day.
const maxHostWaitSeconds = 24 * 60 * 60

// hostWait is the wait for each host's worker. Input from the Temporal CLI
// is hostile: no wait beyond a day, none that overflows into a negative.
func hostWait(seconds int) time.Duration {
	if seconds <= 0 {
		return defaultHostWait
	}
	return time.Duration(min(seconds, maxHostWaitSeconds)) * time.Second
}

// HostCleanup is what one host's worker removed, or why it removed nothing.
type HostCleanup struct {
	Host       string `json:"host"`
	Images     int    `json:"images"`
	BundleDirs int    `json:"bundleDirs"`
	Snapshots  int    `json:"snapshots,omitempty"`
	BytesFreed int64  `json:"bytesFreed"`
	Failed     int    `json:"failed,omitempty"`
	SetAside   int    `json:"setAside,omitempty"`
	// Waiting: no worker of the host took its garbage within the wait; the
	// garbage stays in the outbox for the next run.
	Waiting bool   `json:"waiting,omitempty"`
	Error   string `json:"error,omitempty"`
}

// collectOnHosts has every host with garbage remove its own, all hosts at
// once: a host whose worker is down costs at most the wait and never holds
// up the others.
func collectOnHosts(ctx workflow.Context, t *tracker, wait time.Duration, res *CleanupResult) error {
	var hosts []string
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeOptions), acts.GarbageHosts).Get(ctx, &hosts); err != nil {
		return err
	}
	out := make([]HostCleanup, len(hosts))
	wg := workflow.NewWaitGroup(ctx)
	for i, host := range hosts {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			out[i] = collectOnHost(ctx, t, host, wait)
		})
	}
	wg.Wait(ctx)
	var kept []string
	for _, h := range out {
		res.count(activities.CleanupBatchResult{Images: h.Images, BundleDirs: h.BundleDirs, Snapshots: h.Snapshots,
			BytesFreed: h.BytesFreed, Failed: h.Failed, SetAside: h.SetAside})
		res.Hosts = append(res.Hosts, h)
		if h.Waiting || h.Error != "" {
			kept = append(kept, h.Host)
		}
	}
	if len(kept) > 0 {
		t.emit("result", eslog.LevelWarn, fmt.Sprintf("host(s) %s removed nothing this run; their garbage stays for the next cleanup", strings.Join(kept, ", ")), nil)
	}
	return nil
}

// collectOnHost runs CollectHostGarbage on the host's queue. Waiting for a
// worker is bounded by the schedule-to-start timeout, failures on a worker
// that answers by attempts: a cleanup never waits on a host for good.
func collectOnHost(ctx workflow.Context, t *tracker, host string, wait time.Duration) HostCleanup {
	step := "host " + host
	hc := HostCleanup{Host: host}
	hctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:              domain.HostQueue(workflow.GetInfo(ctx).TaskQueueName, host),
		ScheduleToStartTimeout: wait,
		StartToCloseTimeout:    cleanupOptions.StartToCloseTimeout,
		HeartbeatTimeout:       cleanupOptions.HeartbeatTimeout,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 5},
	})
	var b activities.CleanupBatchResult
	err := t.run(ctx, step, func() error {
		err := workflow.ExecuteActivity(hctx, hostActs.CollectHostGarbage, host).Get(ctx, &b)
		var te *temporal.TimeoutError
		if errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_SCHEDULE_TO_START {
			hc.Waiting = true
			return nil
		}
		if err == nil {
			t.detail(step, fmt.Sprintf("%d images, %d bundle dirs, %d snapshots, %d bytes; %d failed, %d set aside",
				b.Images, b.BundleDirs, b.Snapshots, b.BytesFreed, b.Failed, b.SetAside))
		}
		return err
	})
	switch {
	case hc.Waiting:
		t.skip(step, fmt.Sprintf("no worker of host %s within %s: its garbage waits for the next cleanup (start rewind-worker with REWIND_HOST=%s)", host, wait, host))
	case err != nil:
		hc.Error = err.Error()
	default:
		hc.Images, hc.BundleDirs, hc.Snapshots, hc.BytesFreed, hc.Failed, hc.SetAside = b.Images, b.BundleDirs, b.Snapshots, b.BytesFreed, b.Failed, b.SetAside
	}
	return hc
}
