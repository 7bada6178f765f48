package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// stack is the dev server the CLI tests talk to.
type stack = itest.Server

func startServer(t *testing.T) *stack { return itest.StartServer(t) }

// startStack is a dev server and an in-process worker.
func startStack(t *testing.T) *stack {
	s := itest.StartServer(t)
	itest.StartWorker(t)
	return s
}

func startWorker(cfg *config.Config) (*app.Running, error) {
	return app.StartWorker(context.Background(), cfg, itest.QuietSlog())
}

type result struct {
	code        int
	out, stderr string
}

func rewind(args ...string) result { return rewindWithInput("", args...) }

// rewindWithInput runs the CLI with stdin, for the rollback confirmation.
func rewindWithInput(stdin string, args ...string) result {
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func mustRewind(t *testing.T, args ...string) string {
	t.Helper()
	r := rewind(args...)
	if r.code != 0 {
		t.Fatalf("rewind %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.out
}

func historyJSON(t *testing.T, dep string) []domain.Revision {
	t.Helper()
	var revs []domain.Revision
	if err := json.Unmarshal([]byte(mustRewind(t, "history", dep, "--output", "json")), &revs); err != nil {
		t.Fatal(err)
	}
	return revs
}

func TestDeployTwiceThroughTheDevServerAndReadHistoryBack(t *testing.T) {
	t.Setenv("REWIND_METRICS_ADDRESS", "127.0.0.1:0")
	s := startServer(t)
	w, err := startWorker(itest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	deploys := 0
	eachMode(t, func(t *testing.T, m *cliMode) {
		deploys += 2
		d1 := itest.UniqueID("hist")
		itest.RemoveContainers(t, d1)
		m.mustRewind("deployment", "create", d1, "--dag-source", "image", "--env", "AIRFLOW__CORE__PARALLELISM=8",
			"--component", "scheduler=airflow scheduler", "--component", "worker=airflow celery worker")
		m.mustRewind("grant", "alice", "--deployment", d1, "--role", "editor")
		m.mustRewind("grant", "bob", "--deployment", d1, "--role", "viewer")

		out := m.mustAs("alice", "deploy", d1, "--image", itest.Image(t, "8.0.0"), "--description", "first deploy", "--wait")
		if !strings.Contains(out, "revision 1") {
			t.Fatalf("deploy output: %s", out)
		}
		// --wait shows the steps as they happen (plain lines, not a terminal).
		for _, step := range []string{workflows.StepPull, workflows.StepSwap} {
			if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  ` + step + ` +done`).MatchString(out) {
				t.Fatalf("deploy --wait must show %q done:\n%s", step, out)
			}
		}
		if m.remote {
			m.mustAs("alice", "deploy", d1, "--image", itest.Image(t, "9.1.0"), "--description", "second deploy", "--wait")
		} else {
			t.Setenv("REWIND_USER", "alice") // the requester without --as
			mustRewind(t, "deploy", d1, "--image", itest.Image(t, "9.1.0"), "--description", "second deploy", "--wait")
		}

		revs := m.historyJSON(d1)
		if len(revs) != 2 || revs[0].Number != 2 || revs[1].Number != 1 {
			t.Fatalf("history must list 2 then 1: %+v", revs)
		}
		for _, r := range revs {
			if r.Status != domain.StatusDeployed || r.CreatedBy != "alice" || !r.RequestedByVerified || r.WorkflowID != "change/"+d1 || r.RunID == "" ||
				!strings.HasPrefix(r.ImageDigest, "sha256:") || r.RuntimeVersion == "" {
				t.Fatalf("revision %d: %+v", r.Number, r)
			}
		}
		if revs[0].ImageRef != itest.Image(t, "9.1.0") || revs[0].RuntimeVersion != "9.1.0" || revs[0].AirflowVersion != "3.0.2" || revs[0].Description != "second deploy" {
			t.Fatalf("newest revision: %+v", revs[0])
		}
		// The containers run the new image, with their configuration kept (R5).
		envOut, err := exec.Command("docker", "inspect", "--format", "{{.Config.Image}} {{range .Config.Env}}{{.}} {{end}}", "rewind-"+d1+"-scheduler").Output()
		if err != nil || !strings.Contains(string(envOut), revs[0].ImageDigest) || !strings.Contains(string(envOut), "AIRFLOW__CORE__PARALLELISM=8") {
			t.Fatalf("scheduler container: %s %v", envOut, err)
		}
		// The JSON carries SPEC §1's field names.
		raw := m.mustRewind("history", d1, "--output", "json", "--limit", "1")
		for _, field := range []string{"deploymentId", "number", "createdAt", "createdBy", "description", "type", "imageRef", "imageDigest",
			"runtimeVersion", "airflowVersion", "dagBundleVersion", "dagBundleDigest", "dagDeployEnabled", "status", "workflowId", "runId", "rollbackTarget"} {
			if !strings.Contains(raw, `"`+field+`"`) {
				t.Errorf("history JSON lacks %q", field)
			}
		}
		if !m.remote {
			recordHistory(t, s, "change/"+d1, "deploy-image")
			// Each activity carries a summary the Temporal UI shows.
			if sum := activitySummary(t, s, "change/"+d1, "PullImage"); !strings.HasPrefix(sum, "pull "+itest.Image(t, "9.1.0")) {
				t.Errorf("the pull's summary: %q", sum)
			}
			if sum := activitySummary(t, s, "change/"+d1, "SwapComponents"); !strings.Contains(sum, "(Runtime 9.1.0)") {
				t.Errorf("the swap's summary: %q", sum)
			}
			exportID := workflows.ExportWorkflowID(revs[0].WorkflowID, revs[0].RunID)
			if err := s.Client.GetWorkflow(context.Background(), exportID, "").Get(context.Background(), nil); err != nil {
				t.Fatalf("%s: %v", exportID, err)
			}
			recordHistory(t, s, exportID, "export-events")
		}
		table := m.mustRewind("history", d1)
		lines := strings.Split(strings.TrimSpace(table), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "REVISION") || !strings.HasPrefix(lines[1], "2 ") || !strings.Contains(lines[1], "second deploy") {
			t.Fatalf("history table:\n%s", table)
		}

		// A viewer is refused before anything starts, and nothing is recorded.
		r := m.as("bob", "deploy", d1, "--image", itest.Image(t, "9.1.0"), "--wait")
		if r.code != ExitRefused || !strings.HasPrefix(r.stderr, "rewind: PermissionDenied: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("viewer deploy: exit %d, %q", r.code, r.stderr)
		}
		// Through rewind serve, alice holds no grant on it: the same answer
		// as a deployment that exists (issue 26). Store-direct is
		// administration and is told it does not exist.
		unknown := map[bool]string{true: "PermissionDenied", false: "NotFound"}[m.remote]
		if r := m.as("alice", "deploy", "nope", "--image", itest.Image(t, "9.1.0")); r.code != ExitRefused || !strings.Contains(r.stderr, unknown) {
			t.Fatalf("unknown deployment: exit %d, %q", r.code, r.stderr)
		}
		if r := m.as("alice", "deploy", "D1!", "--image", "r:1"); r.code != ExitRefused || !strings.Contains(r.stderr, "InvalidInput") {
			t.Fatalf("malformed id: exit %d, %q", r.code, r.stderr)
		}
		// The deployment reads back the same way; through rewind serve its
		// environment values stay on the server.
		var d domain.Deployment
		if err := json.Unmarshal([]byte(m.mustRewind("deployment", "show", d1, "--output", "json")), &d); err != nil || d.CurrentRevision != 2 || len(d.Components) != 2 {
			t.Fatalf("deployment show: %+v %v", d, err)
		}
		if want := map[bool]string{false: "8", true: domain.RedactedValue}[m.remote]; d.Env["AIRFLOW__CORE__PARALLELISM"] != want {
			t.Fatalf("deployment show env (%s): %v", m.name(), d.Env)
		}
		if out := m.mustAs("alice", "whoami"); !strings.HasPrefix(out, "alice (") || !strings.Contains(out, d1) || !strings.Contains(out, "editor") {
			t.Fatalf("whoami: %s", out)
		}
		if m.remote {
			// Through rewind serve --as is refused, not believed, and a
			// token that is not an administrator's cannot administer.
			r := m.as("alice", "deploy", d1, "--image", itest.Image(t, "8.0.0"), "--as", "bob", "--wait")
			if r.code != ExitRefused || !strings.HasPrefix(r.stderr, "rewind: InvalidInput: --as is refused") {
				t.Fatalf("--as through rewind serve: exit %d, %q", r.code, r.stderr)
			}
			if r := m.as("alice", "grant", "alice", "--system", "--permission", "system.admin"); r.code != ExitRefused || !strings.Contains(r.stderr, "PermissionDenied") {
				t.Fatalf("non-admin grant: exit %d, %q", r.code, r.stderr)
			}
		}
		if n := len(m.historyJSON(d1)); n != 2 {
			t.Fatalf("refusals recorded revisions: %d", n)
		}

		// The search attributes of SPEC §3 find the deploys.
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
				Query: `RewindDeployment = "` + d1 + `" AND RewindKind = "deploy" AND RewindRequestedBy = "alice" AND RewindRevision = 2`})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Executions) == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("search attributes: found %d executions", len(resp.Executions))
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	// The worker's /metrics has the SDK's metrics and rewind's own.
	resp, err := http.Get("http://" + w.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	counted := false
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "rewind_changes{") && strings.Contains(l, `kind="deploy"`) && strings.Contains(l, `outcome="done"`) && strings.HasSuffix(l, " "+strconv.Itoa(deploys)) {
			counted = true
		}
	}
	if !counted {
		t.Errorf("/metrics must count the %d deploys:\n%s", deploys, grepLines(string(body), "rewind_changes"))
	}
	// Buckets in seconds (a ~2 s deploy lands between 1 and 5, not in the
	// first millisecond-sized bucket), and no label that means nothing.
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "rewind_change") && strings.Contains(l, "activity_type") {
			t.Errorf("a change metric carries activity_type: %s", l)
		}
	}
	for _, want := range []string{`rewind_change_duration_seconds_bucket{`, `le="0.5"`, `le="3600"`} {
		if !strings.Contains(grepLines(string(body), "rewind_change_duration_seconds_bucket"), want) {
			t.Errorf("/metrics: change duration buckets lack %s\n%s", want, grepLines(string(body), "rewind_change_duration"))
		}
	}
	for _, want := range []string{"rewind_change_duration_seconds_bucket", "rewind_pull_bytes", "temporal_workflow_completed"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s\n%s", want, grepLines(string(body), "rewind_"))
		}
	}
}

// The Temporal CLI is a first-class client: plain JSON input works, and bad
// JSON fails the workflow with a typed error and records nothing.
func TestTemporalCLIStartsDeploys(t *testing.T) {
	s := startStack(t)
	// The deploys from the Temporal CLI are the same in both halves (that
	// is the point); the rewind CLI around them, and the verified deploy
	// compared with them, run in the half's mode.
	eachMode(t, func(t *testing.T, m *cliMode) {
		d2 := itest.UniqueID("tcli")
		itest.RemoveContainers(t, d2)
		m.mustRewind("deployment", "create", d2, "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "carol", "--system", "--permission", "system.deployments.images.push")

		temporalRun := func(id, input string) (string, error) {
			cmd := exec.Command(itest.TemporalCLI(t), "workflow", "execute", "--address", s.Addr, "--type", "DeployWorkflow",
				"--task-queue", s.TaskQueue, "--workflow-id", id, "--input", input, "--output", "json")
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := temporalRun("change/"+d2, `{"deploymentId":"`+d2+`","imageRef":"`+itest.Image(t, "9.1.0")+`","description":"from the Temporal CLI","requestedBy":"carol","type":"IMAGE_AND_DAG"}`); err != nil {
			t.Fatalf("temporal workflow execute: %v\n%s", err, out)
		}
		revs := m.historyJSON(d2)
		if len(revs) != 1 || revs[0].Status != domain.StatusDeployed || revs[0].CreatedBy != "carol" || revs[0].Description != "from the Temporal CLI" {
			t.Fatalf("history after the Temporal CLI deploy: %+v", revs)
		}
		// R18: anyone with access to the namespace can claim to be carol; the
		// revision says it was claimed, and so do history and the search
		// attributes. The same deploy through rewind is verified.
		m.mustAs("carol", "deploy", d2, "--image", itest.Image(t, "8.0.0"), "--wait")
		revs = m.historyJSON(d2)
		if revs[1].RequestedByVerified || !revs[0].RequestedByVerified {
			t.Fatalf("the Temporal CLI's requester must be claimed, rewind's verified: %+v", revs)
		}
		if out := m.mustRewind("history", d2); !strings.Contains(out, "carol (claimed)") || strings.Count(out, "(claimed)") != 1 {
			t.Fatalf("history must mark the claimed requester:\n%s", out)
		}
		for q, want := range map[string]int{`RewindDeployment="` + d2 + `" AND RewindRequestedByVerified=false`: 1, `RewindDeployment="` + d2 + `" AND RewindRequestedByVerified=true`: 1} {
			var n int
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
				resp, err := s.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: q})
				if err == nil {
					if n = len(resp.GetExecutions()); n == want {
						break
					}
				}
			}
			if n != want {
				t.Fatalf("%s: %d workflows, want %d", q, n, want)
			}
		}

		bad := map[string]string{
			"misspelt field":      `{"deploymentId":"` + d2 + `","imageRef":"r:1","requestedBy":"carol","descripton":"typo"}`,
			"number for a string": `{"deploymentId":"` + d2 + `","imageRef":42,"requestedBy":"carol"}`,
			"unknown deployment":  `{"deploymentId":"d9","imageRef":"r:1","requestedBy":"carol"}`,
		}
		want := map[string]string{"misspelt field": "InvalidInput", "number for a string": "InvalidInput", "unknown deployment": "NotFound"}
		for name, input := range bad {
			id := "bad-" + strings.ReplaceAll(name, " ", "-") + "-" + d2
			if out, err := temporalRun(id, input); err == nil {
				t.Fatalf("%s: the workflow should fail:\n%s", name, out)
			}
			err := s.Client.GetWorkflow(context.Background(), id, "").Get(context.Background(), nil)
			var ae *temporal.ApplicationError
			if !errors.As(err, &ae) || ae.Type() != want[name] || !ae.NonRetryable() {
				t.Fatalf("%s: want non-retryable %s, got %v", name, want[name], err)
			}
		}
		if n := len(m.historyJSON(d2)); n != 2 {
			t.Fatalf("bad input recorded revisions: %d", n)
		}
	})
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// activitySummary is the summary on a workflow's first scheduled activity of
// the type, as the Temporal UI reads it.
func activitySummary(t *testing.T, s *stack, workflowID, activityType string) string {
	t.Helper()
	it := s.Client.GetWorkflowHistory(context.Background(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		a := e.GetActivityTaskScheduledEventAttributes()
		if a == nil || a.GetActivityType().GetName() != activityType {
			continue
		}
		var sum string
		if p := e.GetUserMetadata().GetSummary(); p != nil {
			if err := converter.GetDefaultDataConverter().FromPayload(p, &sum); err != nil {
				t.Fatal(err)
			}
		}
		return sum
	}
	t.Fatalf("%s scheduled no %s", workflowID, activityType)
	return ""
}
