package action

import (
	"context"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
)

// Host is one Docker host: named by deployments, and whether a worker
// polls its queue now.
type Host struct {
	Host        string    `json:"host"`
	Queue       string    `json:"queue"`
	Deployments int       `json:"deployments"`
	Pollers     int       `json:"pollers"`
	LastPoll    time.Time `json:"lastPoll,omitempty"`
	// Error is why the pollers could not be read ("" when they were).
	Error string `json:"error,omitempty"`
}

// PollerFresh is how recently a worker must have polled to count: a live
// worker polls again at least every minute (a long poll ends after 60s),
// while Temporal lists a gone worker for minutes after its last poll.
const PollerFresh = 75 * time.Second

// Hosts lists the hosts deployments name, with the workers polling each
// host queue (DescribeTaskQueue, activity pollers that polled within
// PollerFresh), so a stopped worker shows as none within about a minute.
func Hosts(ctx context.Context, st *store.Store, tc client.Client, namespace, queue string) ([]Host, error) {
	counts, err := st.Hosts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Host, 0, len(counts))
	for _, hc := range counts {
		h := Host{Host: hc.Host, Queue: domain.HostQueue(queue, hc.Host), Deployments: hc.Deployments}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := tc.WorkflowService().DescribeTaskQueue(dctx, &workflowservice.DescribeTaskQueueRequest{Namespace: namespace,
			TaskQueue: &taskqueuepb.TaskQueue{Name: h.Queue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL}, TaskQueueType: enumspb.TASK_QUEUE_TYPE_ACTIVITY})
		cancel()
		if err != nil {
			h.Error = err.Error()
		}
		for _, p := range resp.GetPollers() {
			t := p.GetLastAccessTime().AsTime()
			if time.Since(t) <= PollerFresh {
				h.Pollers++
			}
			if t.After(h.LastPoll) {
				h.LastPoll = t.UTC()
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// ListHosts is `rewind host list` and GET /api/v1/hosts: the Docker hosts
// deployments name and whether a worker polls each host's queue. Which
// machines run what is administration.
type ListHosts struct{}

func (ListHosts) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "list hosts")
}

func (ListHosts) Run(ctx context.Context, env Env, who Actor) ([]Host, error) {
	tc, err := env.temporal()
	if err != nil {
		return nil, err
	}
	return Hosts(ctx, env.Store, tc, env.Config.Namespace, env.Config.TaskQueue)
}
