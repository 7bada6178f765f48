package action

import (
	"strings"
	"testing"
	"time"
)

// A plan that waited for a host's worker (its Docker checks run on the
// deployment's host queue) names that host, not the shared queue.
func TestNoWorkerErrorNamesTheHost(t *testing.T) {
	e := &NoWorkerError{What: "the rollback plan", Within: time.Minute, TaskQueue: "rewind", Host: "b"}
	if got := e.Error(); !strings.Contains(got, "host b") || !strings.Contains(got, "REWIND_HOST=b") || strings.Contains(got, "task queue rewind") {
		t.Fatalf("got %q", got)
	}
	e.Host = ""
	if got := e.Error(); !strings.Contains(got, "task queue rewind") {
		t.Fatalf("got %q", got)
	}
}
