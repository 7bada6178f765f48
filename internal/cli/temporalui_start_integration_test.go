package cli

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// Issue 28: a rollback started from the Temporal UI's own Start Workflow
// form, with plain JSON input as SPEC §3 gives it, runs to completion and
// records the right revision, as claimed by its requester (R18).
func TestTemporalUIStartsARollback(t *testing.T) {
	browserPath := itest.Chromium(t)
	s := itest.StartServerWithUI(t)
	itest.StartWorker(t)
	dep := itest.UniqueID("uistart")
	itest.RemoveContainers(t, dep)
	mustRewind(t, "deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
	mustRewind(t, "grant", "alice", "--deployment", dep, "--role", "editor")
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait", "--as", "alice")
	mustRewind(t, "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait", "--as", "alice")

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browserPath), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1400, 1500), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 8*time.Minute)
	defer cancel()
	// The browser starts on the test's own context: the first chromedp call
	// allocates it, and cancelling that call's context would close it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	// On a loaded machine (the compose smoke test runs beside it) the UI's
	// first load can take minutes: the list page is loaded again once if its
	// Start Workflow button has not shown.
	start := `//button[contains(., 'Start Workflow')] | //a[contains(., 'Start Workflow')]`
	for attempt := 1; ; attempt++ {
		lctx, lcancel := context.WithTimeout(ctx, 150*time.Second)
		err := chromedp.Do(lctx, chromedp.Navigate(s.UI+"/namespaces/default/workflows"))
		if err == nil {
			err = chromedp.Do(lctx, chromedp.WaitVisible(start))
		}
		lcancel()
		if err == nil {
			break
		}
		if attempt == 2 {
			shot(t, bctx, "temporal-ui-start-failed.png")
			t.Fatalf("the Temporal UI's workflow list: %v", err)
		}
	}

	id := workflows.ChangeWorkflowID(dep)
	input := fmt.Sprintf(`{"deploymentId":%q,"revision":1,"description":"started from the Temporal UI","requestedBy":"alice","scope":"all"}`, dep)
	for _, step := range []chromedp.Action[chromedp.Void]{
		chromedp.Click(start), chromedp.WaitVisible("#workflowId"),
		chromedp.SendKeys("#workflowId", id), chromedp.SendKeys("#taskQueue", s.TaskQueue),
		chromedp.SendKeys("#workflowType", workflows.RollbackWorkflowName),
	} {
		if err := chromedp.Do(ctx, step); err != nil {
			shot(t, bctx, "temporal-ui-start-failed.png")
			t.Fatal(err)
		}
	}
	// The input editor is CodeMirror: text goes in as typed text does.
	if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
		`document.querySelector(".cm-content").focus(), document.execCommand("insertText", false, %q)`, input))); err != nil || !ok {
		t.Fatalf("typing the input: %v %v", ok, err)
	}
	// Leaving the editor reformats the JSON and moves the button: blur first.
	chromedp.Run(ctx, chromedp.Evaluate[bool](`document.activeElement.blur(), true`))
	time.Sleep(time.Second)
	shot(t, ctx, "temporal-ui-start-rollback.png")
	if err := chromedp.Do(ctx, chromedp.Click(`//button[@data-testid="start-workflow-button"]`)); err != nil {
		t.Fatal(err)
	}
	// The UI started the run: wait for it to end as a worker runs it.
	var run string
	for deadline := time.Now().Add(time.Minute); run == ""; time.Sleep(500 * time.Millisecond) {
		if d, err := s.Client.DescribeWorkflowExecution(context.Background(), id, ""); err == nil &&
			d.GetWorkflowExecutionInfo().GetType().GetName() == workflows.RollbackWorkflowName {
			run = d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
		}
		if time.Now().After(deadline) {
			shot(t, ctx, "temporal-ui-start-not-started.png")
			t.Fatal("the Start Workflow form started no rollback")
		}
	}
	var res workflows.RollbackResult
	if err := s.Client.GetWorkflow(context.Background(), id, run).Get(context.Background(), &res); err != nil {
		t.Fatalf("the rollback started from the UI: %v", err)
	}
	top := historyJSON(t, dep)[0]
	if top.Number != 3 || top.RollbackOf != 1 || top.Status != "DEPLOYED" || top.CreatedBy != "alice" || top.RequestedByVerified ||
		top.Description != "started from the Temporal UI" || res.Revision.Number != 3 {
		t.Fatalf("the revision the UI's rollback recorded: %+v", top)
	}
}
