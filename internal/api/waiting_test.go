package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
)

// A deploy to a host no worker polls waits at its first host step, and the
// progress page says so: the running step in the step table and the
// activity in the list name the host, as served and as progress.js redraws
// them.
func TestPageWaitingForHost(t *testing.T) {
	e := startEnv(t, true)
	d := itest.UniqueID("ghost")
	e.createDeployment(t, domain.Deployment{ID: d, Host: "ghost"})
	e.grant(t, "alice", d, "editor")
	alice := e.token(t, "alice")
	var st started
	r := e.call(t, "POST", "/api/v1/deployments/"+d+"/deploys", alice, map[string]any{"imageRef": itest.Image(t, "9.1.0"), "description": "to a host without a worker"})
	r.json(t, &st)
	if r.status != http.StatusAccepted {
		t.Fatalf("deploy: %d %s", r.status, r.body)
	}
	// Nothing polls rewind@ghost: the change would wait forever. Cleanups
	// run last-in first-out, so this ends it before the dev server stops.
	t.Cleanup(func() { e.tc.TerminateWorkflow(context.Background(), st.WorkflowID, st.RunID, "test over") })

	deadline := time.Now().Add(time.Minute)
	for {
		var p Progress
		e.call(t, "GET", st.ProgressURL, alice, nil).json(t, &p)
		if p.Done {
			t.Fatalf("the deploy ended without a worker on its host: %s %+v", p.Status, p.Error)
		}
		if p.WaitingHost() == "ghost" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not waiting for host ghost within a minute: %+v", p)
		}
		time.Sleep(300 * time.Millisecond)
	}

	const waiting = "waiting for a worker on host ghost"
	const activity = waiting + " (start rewind-worker with REWIND_HOST=ghost)"
	page := "/deployments/" + d + "/changes/" + st.RunID
	c := browser(t)
	signIn(t, c, e.http.URL, alice)
	code, body, _ := get(t, c, e.http.URL+page)
	steps, activities := between(body, `<table class="grid" id="steps">`, "</table>"), between(body, `<ul id="activities"`, "</ul>")
	if code != http.StatusOK || !strings.Contains(steps, `<tr class="step running waiting">`) || !strings.Contains(steps, waiting) || !strings.Contains(activities, activity) {
		t.Fatalf("served page: %d\nsteps: %s\nactivities: %s", code, steps, activities)
	}

	t.Run("redrawn", func(t *testing.T) {
		ctx := chromium(t, itest.Chromium(t), 2*time.Minute)
		do, text, shot := browserActions(t, ctx)
		do(chromedp.Navigate(e.http.URL+page),
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), alice),
			chromedp.Click(chromedp.ID("signin")),
			chromedp.WaitVisible(chromedp.ID("steps")))
		// Empty what the server rendered, so what shows next is progress.js's.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#steps tbody").replaceChildren(); document.getElementById("activities").replaceChildren(); true`)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#steps tr.step.running.waiting .waiting-host") !== null && document.querySelector("#activities li.waiting") !== null`)); err != nil {
			t.Fatalf("progress.js did not redraw a waiting step and activity: %v", err)
		}
		steps, activities := text("#steps tbody"), text("#activities")
		shot("progress-waiting.png")
		if !strings.Contains(steps, waiting) || !strings.Contains(activities, activity) {
			t.Fatalf("redrawn page:\nsteps: %q\nactivities: %q", steps, activities)
		}
	})
}

// between is s from the first start to the end after it ("" without start).
func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i:]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j+len(end)]
	}
	return s
}
