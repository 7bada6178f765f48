package activities

import (
	"context"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	f, err := ParseFaults("PullImage=after:4s, Verify=fail;SwapComponents=before:10ms")
	if err != nil {
		t.Fatal(err)
	}
	if f["PullImage"] != (Fault{"after", 4 * time.Second}) || f["Verify"].Kind != "fail" || f.String() != "PullImage=after,SwapComponents=before,Verify=fail" {
		t.Fatalf("%+v", f)
	}
	for _, bad := range []string{"PullImage", "PullImage=later:1s", "PullImage=after", "=fail", "X=before:-1s"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("%q must be refused", bad)
		}
	}
	if f, _ := ParseFaults(""); len(f) != 0 {
		t.Fatal("empty means no faults")
	}
	start := time.Now()
	if err := f.inject(context.Background(), "SwapComponents", "before"); err != nil || time.Since(start) < 10*time.Millisecond {
		t.Fatalf("pause: %v", err)
	}
	if err := f.inject(context.Background(), "Verify", "before"); err == nil {
		t.Fatal("fail must fail")
	}
	if err := Faults(nil).inject(context.Background(), "Verify", "before"); err != nil {
		t.Fatal("no faults must be inert")
	}
}
