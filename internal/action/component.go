package action

import (
	"encoding/json"
	"strings"

	"github.com/google/shlex"

	"github.com/rewindhq/rewind/internal/domain"
)

// Limits on a component's command: Docker takes far more, but a command
// line longer than this is a mistake or an attack on the store.
const (
	maxComponentArgs    = 256
	maxComponentCmdline = 16 << 10
)

// ParseCommand reads a component's command the way an operator writes it:
// a JSON array of strings (["bash", "-c", "airflow db migrate && airflow
// scheduler"]) or shell-quoted words (bash -c "airflow db migrate && airflow
// scheduler"), quotes and backslashes as a POSIX shell reads them, nothing
// expanded. The result is the argument list the container runs.
func ParseCommand(s string) ([]string, error) {
	if len(s) > maxComponentCmdline {
		return nil, domain.Errorf(domain.InvalidInput, "a component command is longer than %d bytes", maxComponentCmdline)
	}
	var args []string
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "[") {
		if err := json.Unmarshal([]byte(t), &args); err != nil {
			return nil, domain.Errorf(domain.InvalidInput, "component command %q: a JSON array of strings, or shell-quoted words", clipName(s))
		}
	} else {
		var err error
		if args, err = shlex.Split(s); err != nil {
			return nil, domain.Errorf(domain.InvalidInput, "component command %q: %v", clipName(s), err)
		}
	}
	if len(args) == 0 || len(args) > maxComponentArgs {
		return nil, domain.Errorf(domain.InvalidInput, "component command %q: want 1 to %d arguments", clipName(s), maxComponentArgs)
	}
	for _, a := range args {
		if strings.ContainsRune(a, 0) {
			return nil, domain.Errorf(domain.InvalidInput, "component command %q holds a NUL byte", clipName(s))
		}
	}
	return args, nil
}

// NormalizeComponent gives a component both forms: Args (parsed from
// Command when only that was given) and Command as their display.
func NormalizeComponent(c domain.Component) (domain.Component, error) {
	if len(c.Args) == 0 {
		args, err := ParseCommand(c.Command)
		if err != nil {
			return c, err
		}
		c.Args = args
	} else if _, err := ParseCommand(quoteArgs(c.Args)); err != nil {
		return c, err
	}
	c.Command = quoteArgs(c.Args)
	return c, nil
}

// quoteArgs is an argument list as shell-quoted words: plain words as they
// are, anything else in single quotes (a single quote inside closes,
// escapes and reopens them), so that
// ParseCommand gives the list back.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
