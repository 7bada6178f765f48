package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/termsafe"
	"github.com/rewindhq/rewind/workflows"
)

func TestLiveViewRedrawsOnATerminalAndPrintsChangesOtherwise(t *testing.T) {
	first := []progressLine{{"step/pull", "pull image  running"}}
	second := []progressLine{{"step/pull", "pull image  done"}, {"step/swap", "swap components  running"}}

	var tty bytes.Buffer
	v := &liveView{out: &tty, tty: true, seen: map[string]string{}}
	v.show(first)
	v.show(second)
	if want := "pull image  running\n\x1b[1A\x1b[Jpull image  done\nswap components  running\n"; tty.String() != want {
		t.Fatalf("terminal: %q, want %q", tty.String(), want)
	}

	var plain bytes.Buffer
	at := time.Date(2026, 11, 30, 3, 4, 5, 0, time.UTC)
	v = &liveView{out: &plain, seen: map[string]string{}, now: func() time.Time { return at }}
	v.show(first)
	v.show(first)
	v.show(second)
	got := strings.Split(strings.TrimSpace(plain.String()), "\n")
	if len(got) != 3 || got[0] != "03:04:05  pull image  running" || got[1] != "03:04:05  pull image  done" || got[2] != "03:04:05  swap components  running" {
		t.Fatalf("plain: each changed line once:\n%s", plain.String())
	}
}

// A change that ends between two ticks is read as ended at once when the
// caller knows it ended, not a tick later: with an hour between ticks, the
// follow returns as soon as ended closes and the source says so.
func TestFollowReadsTheEndWhenTheRunEnds(t *testing.T) {
	var running atomic.Bool
	running.Store(true)
	reads := 0
	src := func(id, runID string) (snapshot, error) {
		reads++
		if running.Load() {
			return snapshot{runID: "r1", status: "Running", running: true}, nil
		}
		return snapshot{runID: "r1", status: "Completed"}, nil
	}
	ended := make(chan *snapshot)
	go func() {
		time.Sleep(50 * time.Millisecond)
		running.Store(false)
		close(ended)
	}()
	done := make(chan string, 1)
	go func() {
		_, status, err := follow(context.Background(), io.Discard, src, "change/d1", "", time.Hour, ended)
		if err != nil {
			status = err.Error()
		}
		done <- status
	}()
	select {
	case status := <-done:
		if status != "Completed" || reads != 2 {
			t.Fatalf("follow ended with %q after %d reads", status, reads)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow waited for its next tick instead of reading the end when the run ended")
	}
}

// A run that completed hands follow its last snapshot (its result's steps):
// follow shows it and returns without reading the source again, which for
// a closed run would make a worker replay the whole run to answer a query.
func TestFollowShowsTheResultsStepsWithoutAnotherRead(t *testing.T) {
	reads := 0
	src := func(id, runID string) (snapshot, error) {
		reads++
		return snapshot{runID: "r1", status: "Running", running: true, lines: []progressLine{{"step/swap", "swap components  running"}}}, nil
	}
	ended := make(chan *snapshot, 1)
	ended <- &snapshot{runID: "r1", status: "Completed", lines: []progressLine{{"step/swap", "swap components  done"}}}
	close(ended)
	var out bytes.Buffer
	runID, status, err := follow(context.Background(), &out, src, "change/d1", "", time.Hour, ended)
	if err != nil || runID != "r1" || status != "Completed" || reads != 1 {
		t.Fatalf("follow: run %q, status %q, %d reads, err %v; want r1, Completed, 1 read", runID, status, reads, err)
	}
	if !strings.Contains(out.String(), "swap components  done") {
		t.Fatalf("the result's steps were not shown:\n%s", out.String())
	}
}

// What `watch` and `--wait` show comes from users and containers (a step's
// error quotes a container's output): on a terminal and off it, every
// control character in it is escaped, byte for byte; the view's own
// redraw is the only escape sequence written (issue 26).
func TestLiveViewEscapesWhatItShows(t *testing.T) {
	hostile := "scheduler said: \x1b[1A\x1b[2Kgone\x1b]52;c;cm0gLXJm\x07\u009b2J\u202etxt\nforged line"
	p := &workflows.Progress{Steps: []workflows.Step{{Name: "verify", State: workflows.StepFailed, Error: hostile}}}
	lines := stepLines(p)

	var tty bytes.Buffer
	v := &liveView{out: &tty, tty: true, seen: map[string]string{}}
	v.show(lines)
	v.show(lines)
	want := `verify               failed  scheduler said: \x1b[1A\x1b[2Kgone\x1b]52;c;cm0gLXJm\x07\u009b2J\u202etxt forged line` + "\n"
	if got := tty.String(); got != want+"\x1b[1A\x1b[J"+want {
		t.Fatalf("terminal:\n%q\nwant\n%q", got, want+"\x1b[1A\x1b[J"+want)
	}

	// Through the session's writer (a pipe, a CI log): one line, escaped.
	var plain bytes.Buffer
	w := termsafe.NewWriter(&plain)
	pv := newLiveView(w)
	pv.now = func() time.Time { return time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC) }
	pv.show(lines)
	if got := plain.String(); got != "12:00:00  "+want {
		t.Fatalf("plain:\n%q\nwant\n%q", got, "12:00:00  "+want)
	}
}
