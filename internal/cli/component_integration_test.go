package cli

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/itest"
)

// Issue 28: a component's command can be quoted, as shell words or a JSON
// array, and its container runs exactly that argument list.
func TestQuotedComponentCommandsRunAsArgumentLists(t *testing.T) {
	startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("quote")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "image",
			"--component", `scheduler=airflow scheduler --pid "/tmp/two words.pid"`,
			"--component", `worker=["airflow", "celery", "worker", "--queues", "a,b c"]`)
		if out := m.mustRewind("deployment", "show", dep); !strings.Contains(out, `airflow scheduler --pid '/tmp/two words.pid'`) {
			t.Fatalf("show displays the quoted command:\n%s", out)
		}
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait")
		for comp, want := range map[string][]string{
			"scheduler": {"airflow", "scheduler", "--pid", "/tmp/two words.pid"},
			"worker":    {"airflow", "celery", "worker", "--queues", "a,b c"},
		} {
			id, err := exec.Command("docker", "ps", "-q", "--filter", "label=rewind.deployment="+dep, "--filter", "label=rewind.component="+comp).Output()
			if err != nil || len(strings.Fields(string(id))) != 1 {
				t.Fatalf("%s container: %v %q", comp, err, id)
			}
			out, err := exec.Command("docker", "inspect", "--format", "{{json .Config.Cmd}}", strings.TrimSpace(string(id))).Output()
			var got []string
			if err != nil || json.Unmarshal(out, &got) != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s runs %s (%v), want %q", comp, out, err, want)
			}
		}
		if r := m.rewind("deployment", "create", dep+"-bad", "--component", `scheduler=bash -c "unclosed`); r.code == 0 || !strings.Contains(r.stderr, "InvalidInput") {
			t.Fatalf("an unclosed quote: %d %s", r.code, r.stderr)
		}
	})
}
