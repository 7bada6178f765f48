package itest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DockerEvent is one line of `docker events --format '{{json .}}'`.
type DockerEvent struct {
	Status   string `json:"status"`
	ID       string `json:"id"`
	TimeNano int64  `json:"timeNano"`
	Actor    struct {
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
}

func (e DockerEvent) Name() string { return e.Actor.Attributes["name"] }

// RecordEvents subscribes to the deployment's container events from now
// on and returns a function that ends the subscription and hands back what
// it saw, oldest first. A live subscription, because the Engine keeps only
// its last 256 events for `docker events --since`, and other tests sharing
// the Engine roll them over within a minute.
func RecordEvents(t *testing.T, dep string) func() []DockerEvent {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command("docker", "events", "--filter", "type=container", "--filter", "label=rewind.deployment="+dep, "--format", "{{json .}}")
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	time.Sleep(time.Second) // the subscription is open before anything happens
	return func() []DockerEvent {
		time.Sleep(time.Second) // the last events are delivered
		stop()
		var evs []DockerEvent
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if line == "" {
				continue
			}
			var e DockerEvent
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("docker event %q: %v", line, err)
			}
			evs = append(evs, e)
		}
		return evs
	}
}

func CountEvents(evs []DockerEvent, status, nameContains string) int {
	n := 0
	for _, e := range evs {
		if e.Status == status && strings.Contains(e.Name(), nameContains) {
			n++
		}
	}
	return n
}
