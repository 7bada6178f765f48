package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/api/enums/v1"

	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// The Temporal UI is a view of a change: a rollback started from the
// Temporal CLI (no rewind client involved) shows, in the dev server's own
// UI in headless Chromium, what it is and its live step table (current
// details), and its steps in the event history, while it runs.
func TestTemporalUIShowsACLIRollbackLive(t *testing.T) {
	browserPath := itest.Chromium(t)
	s := itest.StartServerWithUI(t)
	// The rollback itself is the Temporal CLI's in both halves (that is
	// the point); the rewind CLI sets the deployment up in the half's
	// mode. Long (Chromium, slowed steps): remote only under make
	// test-remote.
	eachHeavyMode(t, func(t *testing.T, m *cliMode) {
		w, err := startWorker(itest.Config(t))
		if err != nil {
			t.Fatal(err)
		}
		dep := itest.UniqueID("tui")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait")
		w.Stop()
		// Three steps wait a while (each under its heartbeat timeout), so the
		// page is usually read while the change runs.
		fw := startFaultWorker(t, "Preflight=before:15s,SwapComponents=before:15s,Verify=before:15s")
		t.Cleanup(fw.Stop)

		id := workflows.ChangeWorkflowID(dep)
		input := fmt.Sprintf(`{"deploymentId":%q,"revision":1,"description":"started from the Temporal CLI","requestedBy":"alice","scope":"all"}`, dep)
		if out, err := exec.Command(itest.TemporalCLI(t), "workflow", "start", "--address", s.Addr, "--task-queue", s.TaskQueue,
			"--type", workflows.RollbackWorkflowName, "--workflow-id", id, "--input", input).CombinedOutput(); err != nil {
			t.Fatalf("temporal workflow start: %v\n%s", err, out)
		}
		desc, err := s.Client.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()

		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(browserPath),
			chromedp.NoSandbox, // root in CI containers
			chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.WindowSize(1440, 1600),
			chromedp.UserDataDir(t.TempDir()),
		)
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		defer cancelAlloc()
		ctx, cancelBrowser := chromedp.NewContext(actx)
		defer cancelBrowser()
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()

		page := s.UI + "/namespaces/default/workflows/" + url.PathEscape(id) + "/" + runID + "/history"
		if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
			t.Fatal(err)
		}
		// The event history: each activity with its summary; the short
		// store steps, local activities since store-local (issue 31), by
		// their names (a local activity carries no summary).
		waitText(t, ctx, "ValidateRollback", "pull "+itest.Image(t, "9.1.0")+"@sha256:", "preflight "+itest.Image(t, "9.1.0")+"@sha256:")
		shot(t, ctx, "temporal-ui-rollback-history-"+m.name()+".png")
		// User Metadata: the current details, the live step table headed by
		// what the change is (a run from the Temporal CLI has no summary).
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.Search(`//a[normalize-space(.)='User Metadata'] | //button[normalize-space(.)='User Metadata']`))); err != nil {
			t.Fatal(err)
		}
		waitText(t, ctx, "rewind rollback of "+dep, workflows.StepPull, workflows.StepSwap)
		if d, _ := s.Client.DescribeWorkflowExecution(context.Background(), id, runID); d.GetWorkflowExecutionInfo().GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Log("the details were read while the rollback ran")
		}
		shot(t, ctx, "temporal-ui-rollback-"+m.name()+".png")
		if err := s.Client.GetWorkflow(context.Background(), id, runID).Get(context.Background(), nil); err != nil {
			t.Fatalf("the rollback from the Temporal CLI: %v", err)
		}
	})
}

// waitText waits until the page shows every text, for a minute.
func waitText(t *testing.T, ctx context.Context, want ...string) {
	t.Helper()
	blankFor := 0
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
		// Current details are markdown the UI server renders into an iframe
		// (same origin, sandboxed by CSP): its document is read through it.
		body, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText + "\n" +
			Array.from(document.querySelectorAll("iframe")).map(f => {
				try { return f.contentDocument.body.innerText } catch (e) { return "" }
			}).join("\n")`))
		if err != nil {
			t.Fatal(err)
		}
		// The UI server timed out on a busy machine, or the page has stayed
		// blank (its scripts failed to load) for 10 s: load it again.
		if strings.TrimSpace(body) == "" {
			blankFor++
		} else {
			blankFor = 0
		}
		if strings.Contains(body, "There's an error") || blankFor >= 10 {
			blankFor = 0
			if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
				t.Fatal(err)
			}
		}
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			shot(t, ctx, "temporal-ui-missing.png")
			t.Fatalf("the Temporal UI never showed %q; it shows:\n%s", missing, clipText(body, 4000))
		}
	}
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(itest.Artifacts(t), name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}
