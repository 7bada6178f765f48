package cli

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// cliMode is how a test's CLI reaches rewind: store-direct, or remote
// through a real `rewind serve` (started by this package's Run, on the
// same store and Temporal) with a token per user. The same test body runs
// in both, so the two paths give the same answers and refusals.
type cliMode struct {
	t      *testing.T
	remote bool
	url    string
	admin  string            // the administrator's token (remote)
	tokens map[string]string // user → token (remote)
}

// eachMode runs f once store-direct and once remote. Call it after the
// dev server and worker are up: remote mode starts rewind serve on them.
// REWIND_TEST_REMOTE=off runs store-direct only, =only remote only.
func eachMode(t *testing.T, f func(t *testing.T, m *cliMode)) { modes(t, false, f) }

// eachHeavyMode is eachMode for the long tests: `make test` runs them
// store-direct, and remote too only when REWIND_TEST_REMOTE is all or only
// (`make test-remote`), to keep `make test`'s time.
func eachHeavyMode(t *testing.T, f func(t *testing.T, m *cliMode)) { modes(t, true, f) }

func modes(t *testing.T, heavy bool, f func(t *testing.T, m *cliMode)) {
	for _, name := range []string{"direct", "remote"} {
		switch os.Getenv("REWIND_TEST_REMOTE") {
		case "", "on":
			if heavy && name == "remote" {
				continue
			}
		case "off":
			if name == "remote" {
				continue
			}
		case "only":
			if name == "direct" {
				continue
			}
		}
		runMode(t, name, f)
	}
}

// directOnly runs f store-direct only, whatever REWIND_TEST_REMOTE says:
// for tests that read or change the store themselves mid-way, which have
// no remote form.
func directOnly(t *testing.T, f func(t *testing.T, m *cliMode)) { runMode(t, "direct", f) }

func runMode(t *testing.T, name string, f func(t *testing.T, m *cliMode)) {
	t.Run(name, func(t *testing.T) {
		// No login file of the machine's user leaks in.
		t.Setenv("XDG_CONFIG_HOME", t.TempDir())
		t.Setenv("REWIND_API_URL", "")
		t.Setenv("REWIND_TOKEN", "")
		m := &cliMode{t: t, remote: name == "remote", tokens: map[string]string{}}
		if m.remote {
			m.startServe()
		}
		f(t, m)
	})
}

// startServe runs `rewind serve` until the test ends and makes an
// administrator the store-direct way, as an installation bootstraps one.
func (m *cliMode) startServe() {
	t := m.t
	m.url = startServe(t)
	mustRewind(t, "grant", "root", "--system", "--permission", "system.admin")
	m.admin = m.issue("root")
	t.Setenv("REWIND_API_URL", m.url)
}

// issue makes a token store-direct (administration), outside remote mode.
func (m *cliMode) issue(user string) string {
	m.t.Helper()
	var tok string
	m.direct(func() {
		out := mustRewind(m.t, "token", "create", "--user", user, "--output", "json")
		i := strings.Index(out, `"token": "`)
		if i < 0 {
			m.t.Fatalf("token create: %s", out)
		}
		tok = strings.SplitN(out[i+len(`"token": "`):], `"`, 2)[0]
	})
	return tok
}

// direct runs f store-direct, whatever the mode.
func (m *cliMode) direct(f func()) {
	url := os.Getenv("REWIND_API_URL")
	os.Setenv("REWIND_API_URL", "")
	defer os.Setenv("REWIND_API_URL", url)
	f()
}

// withToken runs f with REWIND_TOKEN set to tok.
func withToken(tok string, f func() result) result {
	old := os.Getenv("REWIND_TOKEN")
	os.Setenv("REWIND_TOKEN", tok)
	defer os.Setenv("REWIND_TOKEN", old)
	return f()
}

// rewind runs an administrator's command: store-direct as is, remote with
// the system.admin token.
func (m *cliMode) rewind(args ...string) result {
	if !m.remote {
		return rewind(args...)
	}
	return withToken(m.admin, func() result { return rewind(args...) })
}

// as runs a command as user: --as store-direct, the user's token remote.
func (m *cliMode) as(user string, args ...string) result {
	return m.asWithInput(user, "", args...)
}

func (m *cliMode) asWithInput(user, stdin string, args ...string) result {
	args, done := m.argsAs(user, args...)
	defer done()
	return rewindWithInput(stdin, args...)
}

// read runs a command that takes no --as (watch) as user: store-direct
// as is, remote with the user's token.
func (m *cliMode) read(user string, args ...string) result {
	if !m.remote {
		return rewind(args...)
	}
	return m.as(user, args...)
}

// argsAs makes a command line act as user, for tests that call Run
// themselves: --as store-direct; remote, the user's token in REWIND_TOKEN
// until done is called.
func (m *cliMode) argsAs(user string, args ...string) (full []string, done func()) {
	if !m.remote {
		return append(args, "--as", user), func() {}
	}
	tok, ok := m.tokens[user]
	if !ok {
		tok = m.issue(user)
		m.tokens[user] = tok
	}
	old := os.Getenv("REWIND_TOKEN")
	os.Setenv("REWIND_TOKEN", tok)
	return args, func() { os.Setenv("REWIND_TOKEN", old) }
}

func (m *cliMode) mustRewind(args ...string) string {
	m.t.Helper()
	return m.check(m.rewind(args...), args)
}

func (m *cliMode) mustAs(user string, args ...string) string {
	m.t.Helper()
	return m.check(m.as(user, args...), args)
}

func (m *cliMode) check(r result, args []string) string {
	m.t.Helper()
	if r.code != 0 {
		m.t.Fatalf("rewind %s (%s): exit %d: %s", strings.Join(args, " "), m.name(), r.code, r.stderr)
	}
	return r.out
}

func (m *cliMode) historyJSON(dep string) []domain.Revision {
	m.t.Helper()
	var revs []domain.Revision
	if err := json.Unmarshal([]byte(m.mustRewind("history", dep, "--output", "json")), &revs); err != nil {
		m.t.Fatal(err)
	}
	return revs
}

// in is the mode for a subtest t of the mode's test: same server and
// tokens, failures reported on t.
func (m *cliMode) in(t *testing.T) *cliMode {
	c := *m
	c.t = t
	return &c
}

func (m *cliMode) name() string {
	if m.remote {
		return "remote"
	}
	return "direct"
}

// recordHistory records a workflow history for the replay tests, from the
// store-direct run only (the remote run would overwrite it with the same).
func (m *cliMode) recordHistory(s *stack, workflowID, name string) {
	if !m.remote {
		recordHistory(m.t, s, workflowID, name)
	}
}

// waitRevision is the package's waitRevision, reading the history in the
// test's mode (bare CLI calls have no token through rewind serve).
func (m *cliMode) waitRevision(dep string, number int, within time.Duration) domain.Revision {
	m.t.Helper()
	deadline := time.Now().Add(within)
	for {
		revs := m.historyJSON(dep)
		if len(revs) > 0 && revs[0].Number == number && revs[0].Status != domain.StatusInitialized {
			return revs[0]
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("revision %d of %s not finished within %s (%s): %+v", number, dep, within, m.name(), revs)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// deploymentJSON is `deployment show -o json` in the test's mode.
func (m *cliMode) deploymentJSON(dep string) domain.Deployment {
	m.t.Helper()
	var d domain.Deployment
	if err := json.Unmarshal([]byte(m.mustRewind("deployment", "show", dep, "--output", "json")), &d); err != nil {
		m.t.Fatal(err)
	}
	return d
}
