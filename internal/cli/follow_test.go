package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLiveViewRedrawsOnATerminalAndPrintsChangesOtherwise(t *testing.T) {
	first := []progressLine{{"step/pull", "pull image  running"}}
	second := []progressLine{{"step/pull", "pull image  done"}, {"step/swap", "swap components  running"}}

	var tty bytes.Buffer
	v := &liveView{out: &tty, tty: true, seen: map[string]string{}}
	v.show(first)
	v.show(second)
	if want := "pull image  running\n\x1b[1A\x1b[Jpull image  done\nswap components  running\n"; tty.String() != want {
		t.Fatalf("terminal: %q, want %q", tty.String(), want)
	}

	var plain bytes.Buffer
	at := time.Date(2026, 11, 30, 3, 4, 5, 0, time.UTC)
	v = &liveView{out: &plain, seen: map[string]string{}, now: func() time.Time { return at }}
	v.show(first)
	v.show(first)
	v.show(second)
	got := strings.Split(strings.TrimSpace(plain.String()), "\n")
	if len(got) != 3 || got[0] != "03:04:05  pull image  running" || got[1] != "03:04:05  pull image  done" || got[2] != "03:04:05  swap components  running" {
		t.Fatalf("plain: each changed line once:\n%s", plain.String())
	}
}
