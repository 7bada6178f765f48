package api

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
)

// The operator's path in a real headless Chromium: sign in with a token,
// open Deploy History, roll back with a description, see the plan, type the
// deployment id, watch the progress reach done, and find the rollback as
// the new top row.
func TestBrowserRollback(t *testing.T) {
	browserPath := itest.Chromium(t)
	e := startEnv(t, true)
	d := itest.UniqueID("ui")
	itest.RemoveContainers(t, d)
	e.createDeployment(t, domain.Deployment{ID: d, Name: "Nightly ETL", RollbackEnabled: true})
	e.grant(t, "alice", d, "editor")
	alice := e.token(t, "alice")
	for _, tag := range []string{"9.1.0", "8.0.0"} {
		var st started
		r := e.call(t, "POST", "/api/v1/deployments/"+d+"/deploys", alice, map[string]any{"imageRef": itest.Image(t, tag), "description": "release " + tag})
		r.json(t, &st)
		if r.status != 202 {
			t.Fatalf("deploy %s: %d %s", tag, r.status, r.body)
		}
		if p := e.waitDone(t, st.ProgressURL, alice, 2*time.Minute); p.Status != "COMPLETED" {
			t.Fatalf("deploy %s: %s %+v", tag, p.Status, p.Error)
		}
	}

	ctx := chromium(t, browserPath, 4*time.Minute)
	do, text, shot := browserActions(t, ctx)
	const description = `8.0.0 breaks the nightly ETL <b>"quoted"</b>`

	do(chromedp.Navigate(e.http.URL+"/deployments/"+d),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), alice),
		chromedp.Click(chromedp.ID("signin")),
		chromedp.WaitVisible(chromedp.ID("history")))
	signedIn, current, row1 := text("#signed-in-user"), text("#rev-2"), text("#rev-1")
	shot("history-before.png")
	if signedIn != "alice" || !strings.Contains(current, "current deploy") || !strings.Contains(row1, "Roll back to") {
		t.Fatalf("history before: user %q, current row %q, row 1 %q", signedIn, current, row1)
	}

	do(chromedp.Click(chromedp.ID("rollback-1")),
		chromedp.WaitVisible(chromedp.ID("description")),
		chromedp.SendKeys(chromedp.ID("description"), description),
		chromedp.Click(chromedp.ID("show-plan")),
		chromedp.WaitVisible(chromedp.ID("plan")))
	planText := text("#plan")
	shot("plan.png")
	if !strings.Contains(planText, "9.1.0") || !strings.Contains(planText, "8.0.0") {
		t.Fatalf("plan: %q", planText)
	}

	do(chromedp.SendKeys(chromedp.ID("confirm"), d),
		chromedp.Click(chromedp.ID("confirm-rollback")),
		chromedp.WaitVisible(chromedp.ID("steps")),
		chromedp.WaitVisible(chromedp.ID("back"))) // shown when the workflow ends
	status, steps := text("#status"), text("#steps")
	shot("progress.png")
	if status != "COMPLETED" {
		t.Fatalf("rollback ended %q", status)
	}
	if strings.Count(steps, "done") < 5 || strings.Contains(steps, "failed") {
		t.Fatalf("steps: %q", steps)
	}

	do(chromedp.Click(chromedp.ID("back")),
		chromedp.WaitVisible(chromedp.ID("rev-3")))
	top := text("#history tbody tr:first-child")
	shot("history-after.png")
	if !strings.HasPrefix(strings.TrimSpace(top), "3") || !strings.Contains(top, "Rollback to #1") || !strings.Contains(top, description) ||
		!strings.Contains(top, "DEPLOYED") || !strings.Contains(top, "alice") || !strings.Contains(top, itest.Image(t, "9.1.0")) {
		t.Fatalf("new top row: %q", top)
	}
	revs, _ := e.st.ListRevisions(context.Background(), d, 10, 0)
	if len(revs) != 3 || revs[0].RollbackOf != 1 || revs[0].Description != description {
		t.Fatalf("store after the browser rollback: %+v", revs)
	}
}

// chromium starts a headless Chromium for one test, closed when it ends.
func chromium(t *testing.T, browserPath string, within time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browserPath),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1440, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	ctx, cancel := context.WithTimeout(ctx, within)
	t.Cleanup(func() { cancel(); cancelBrowser(); cancelAlloc() })
	return ctx
}

// browserActions are the browser tests' steps that fail the test: do runs
// actions, text reads an element's text, shot keeps a screenshot.
func browserActions(t *testing.T, ctx context.Context) (do func(...chromedp.Action[chromedp.Void]), text func(string) string, shot func(string)) {
	out := itest.Artifacts(t)
	do = func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	text = func(css string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
		if err != nil {
			t.Fatalf("text of %s: %v", css, err)
		}
		return s
	}
	shot = func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(out, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
	return do, text, shot
}
