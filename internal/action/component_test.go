package action

import (
	"reflect"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/domain"
)

func TestComponentCommands(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{`airflow scheduler`, []string{"airflow", "scheduler"}},
		{`bash -c "airflow db migrate && airflow scheduler"`, []string{"bash", "-c", "airflow db migrate && airflow scheduler"}},
		{`bash -c 'echo "$HOME" it'\''s'`, []string{"bash", "-c", `echo "$HOME" it's`}},
		{` ["bash", "-c", "airflow db check-migrations && airflow api-server"] `, []string{"bash", "-c", "airflow db check-migrations && airflow api-server"}},
		{`airflow   celery\ worker`, []string{"airflow", "celery worker"}},
	} {
		got, err := ParseCommand(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseCommand(%q) = %q, %v; want %q", c.in, got, err, c.want)
			continue
		}
		// The display parses back to the same list.
		n, err := NormalizeComponent(domain.Component{Name: "x", Command: c.in})
		if err != nil || !reflect.DeepEqual(n.Args, c.want) {
			t.Errorf("NormalizeComponent(%q) = %+v, %v", c.in, n, err)
		}
		if back, err := ParseCommand(n.Command); err != nil || !reflect.DeepEqual(back, c.want) {
			t.Errorf("display %q of %q parses to %q, %v", n.Command, c.in, back, err)
		}
	}
	for _, bad := range []string{``, `   `, `bash -c "unclosed`, `[1, 2]`, `["a", `, "a\x00b", strings.Repeat("a ", maxComponentArgs+1), strings.Repeat("a", maxComponentCmdline+1)} {
		if _, err := ParseCommand(bad); domain.TypeOf(err) != domain.InvalidInput {
			t.Errorf("ParseCommand(%.40q): %v, want InvalidInput", bad, err)
		}
	}
	// A list given as such (the API's args) is kept, its display made.
	n, err := NormalizeComponent(domain.Component{Name: "s", Args: []string{"sh", "-c", "a && b"}})
	if err != nil || n.Command != `sh -c 'a && b'` {
		t.Fatalf("args given: %+v %v", n, err)
	}
	if _, err := NormalizeComponent(domain.Component{Name: "s", Args: []string{"a\x00"}}); domain.TypeOf(err) != domain.InvalidInput {
		t.Fatalf("a NUL in args: %v", err)
	}
}
