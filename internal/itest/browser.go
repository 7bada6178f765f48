package itest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// Chromium finds the browser: $REWIND_TEST_CHROMIUM, else Debian's
// chromium on the PATH. Without one the test fails rather than skips, so
// CI cannot pass without running it (.ci/run installs chromium).
func Chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("REWIND_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium: install Debian's chromium (apt-get install -y chromium) or set REWIND_TEST_CHROMIUM")
	return ""
}

// Artifacts is where screenshots go: $REWIND_TEST_ARTIFACTS (kept after
// the run), else the test's temporary directory.
func Artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("REWIND_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir, _ = filepath.Abs(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// FreePort is a loopback port nothing listens on right now.
func FreePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
