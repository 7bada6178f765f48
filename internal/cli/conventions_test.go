package cli

import (
	"strings"
	"testing"
)

// Issue 28's one convention: a missing or malformed flag exits 2 naming the
// flag, before anything is read or started; a refusal exits 1 with its
// SPEC §3 type; update's help shows no defaults; a setting the runtime would
// ignore is refused, not recorded.
func TestExitCodesAndMessagesNameFlags(t *testing.T) {
	t.Setenv("REWIND_DATA_DIR", t.TempDir())
	t.Setenv("REWIND_DATABASE_URL", "")
	t.Setenv("REWIND_API_URL", "")
	t.Setenv("REWIND_TOKEN", "")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rollback", "d1", "--to", "1"}, ExitUsage, "--description TEXT is required"},
		{[]string{"rollback", "d1", "--description", "x", "--scope", "most"}, ExitUsage, "--scope must be all, image or dags"},
		{[]string{"deploy", "d1", "--image", "r:5000/a:1", "--type", "FOO"}, ExitUsage, "--type must be IMAGE_AND_DAG, IMAGE_ONLY or DAG_ONLY"},
		{[]string{"deploy", "d1"}, ExitUsage, "--image REF, --dags DIR or both"},
		{[]string{"deploy", "d1", "--image", "r:5000/a:1", "--wait", "--timeout", "soon"}, ExitUsage, "--timeout"},
		{[]string{"deployment", "create", "d1", "--workers", "3"}, ExitRefused, "InvalidInput: workers 3: rewind runs one container per component"},
	} {
		r := rewind(c.args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("rewind %s: exit %d %q, want %d and %q on one line", strings.Join(c.args, " "), r.code, r.stderr, c.code, c.want)
		}
	}
	mustRewind(t, "deployment", "create", "d1")
	if r := rewind("deployment", "update", "d1", "--workers", "2"); r.code != ExitRefused || !strings.Contains(r.stderr, "InvalidInput") {
		t.Errorf("update --workers 2: %d %s", r.code, r.stderr)
	}
	if out := mustRewind(t, "deployment", "show", "d1"); !strings.Contains(out, "workers") || !strings.Contains(out, "1") {
		t.Errorf("the refused update changed nothing:\n%s", out)
	}
	help := mustRewind(t, "deployment", "update", "--help")
	for _, bad := range []string{`(default "local")`, `(default "CeleryExecutor")`, "(default 1)", "(default 10m0s)"} {
		if strings.Contains(help, bad) {
			t.Errorf("update --help shows create's default %s", bad)
		}
	}
	if help := mustRewind(t, "deploy", "--help"); strings.Count(help, "default") > 0 && strings.Contains(help, `(default "IMAGE_AND_DAG")`) {
		t.Errorf("deploy --help doubles the --type default:\n%s", help)
	}
}
