package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/runtime"
)

// Heartbeat is the one details type every rewind activity heartbeats with,
// so the Temporal UI, `rewind watch` and the API read the same thing, and a
// retried pull finds the progress its predecessor made.
type Heartbeat struct {
	Message  string            `json:"message"`
	Progress *runtime.Progress `json:"progress,omitempty"`
	// MovedAt is when the work last made progress (bytes, layers, a Docker
	// step), not merely when the worker was alive.
	MovedAt time.Time `json:"movedAt"`
	// Since is when a bounded step's first attempt started (bound.go).
	Since time.Time `json:"since,omitzero"`
}

// heartbeatEvery is how often a heartbeat is recorded while work runs; the
// worker sends them at most every 2 s (its throttle), which is also how
// soon a running step learns its change was cancelled.
const heartbeatEvery = time.Second

// watchdog heartbeats on behalf of an activity and watches that its work
// moves: progress() reports movement; with no movement for stallAfter it
// cancels the work, and err() turns that into a retryable "stalled" error.
// Heartbeats alone only prove the worker is alive.
type watchdog struct {
	ctx        context.Context
	cancel     context.CancelCauseFunc
	stallAfter time.Duration
	done       chan struct{}

	mu   sync.Mutex
	last Heartbeat
}

// errStalled is the cancel cause of a watchdog that saw no progress.
var errStalled = errors.New("stalled")

// watch starts a watchdog; stallAfter 0 never stalls (heartbeats only).
// The returned context is the one the work must run under.
func watch(ctx context.Context, what string, stallAfter time.Duration) (*watchdog, context.Context) {
	return watchSince(ctx, what, stallAfter, time.Time{})
}

// watchSince is watch for a bounded step whose first attempt started at
// since: every heartbeat carries it, the first one at once.
func watchSince(ctx context.Context, what string, stallAfter time.Duration, since time.Time) (*watchdog, context.Context) {
	wctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{ctx: ctx, cancel: cancel, stallAfter: stallAfter, done: make(chan struct{}),
		last: Heartbeat{Message: what, MovedAt: time.Now(), Since: since}}
	if !since.IsZero() && activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, w.last)
	}
	go w.loop()
	return w, wctx
}

func (w *watchdog) loop() {
	tick := min(heartbeatEvery, max(w.stallAfter/4, 100*time.Millisecond))
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-w.ctx.Done():
			return
		case <-t.C:
			w.mu.Lock()
			hb := w.last
			w.mu.Unlock()
			if w.stallAfter > 0 && time.Since(hb.MovedAt) > w.stallAfter {
				w.cancel(errStalled)
				return
			}
			if activity.IsActivity(w.ctx) {
				activity.RecordHeartbeat(w.ctx, hb)
			}
		}
	}
}

// pull reports a pull's progress: it has moved when the Engine said
// anything new about it (bytes, layers, extraction).
func (w *watchdog) pull(p runtime.Progress) {
	w.mu.Lock()
	prev := w.last.Progress
	if prev == nil || p.Messages != prev.Messages || p.BytesDone != prev.BytesDone || p.LayersDone != prev.LayersDone {
		w.last.MovedAt = time.Now()
	}
	w.last.Progress = &p
	w.last.Message = p.Status
	hb := w.last
	w.mu.Unlock()
	activity.RecordHeartbeat(w.ctx, hb)
}

// moved reports progress without numbers (a Docker step done).
func (w *watchdog) moved(msg string) {
	w.mu.Lock()
	w.last.MovedAt, w.last.Message = time.Now(), msg
	w.mu.Unlock()
}

// stop ends the watchdog; call it when the work returns.
func (w *watchdog) stop() {
	close(w.done)
	w.cancel(nil)
}

// err is the work's error, or a retryable "stalled" error when the
// watchdog cut it off: the attempt ends within the stall window rather than
// at its start-to-close timeout, and the next attempt starts afresh.
func (w *watchdog) err(wctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(wctx), errStalled) {
		w.mu.Lock()
		last := w.last
		w.mu.Unlock()
		detail := last.Message
		if p := last.Progress; p != nil {
			detail = fmt.Sprintf("%d of %d layers, %d of %d bytes", p.LayersDone, p.Layers, p.BytesDone, p.BytesTotal)
		}
		return temporal.NewApplicationError(fmt.Sprintf("stalled: no progress for %s (%s); retrying", w.stallAfter, detail), "Stalled")
	}
	return err
}

// heartbeatWhile heartbeats every few seconds until stopped, for activities
// whose work reports no progress of its own; their own timeouts bound them.
func heartbeatWhile(ctx context.Context, what string) func() {
	w, _ := watch(ctx, what, 0)
	return w.stop
}
