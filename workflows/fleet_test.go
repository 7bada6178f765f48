package workflows

import (
	"reflect"
	"testing"
	"time"
)

func TestFleetWaves(t *testing.T) {
	for _, c := range []struct {
		n    int
		spec []int
		want []int
	}{
		{8, nil, []int{8}},
		{8, []int{1, 5, 0}, []int{1, 5, 2}},
		{3, []int{1, 5, 0}, []int{1, 2}},
		{8, []int{2}, []int{2, 6}},
		{1, []int{1, 0}, []int{1}},
	} {
		if got := fleetWaves(c.n, c.spec); !reflect.DeepEqual(got, c.want) {
			t.Errorf("fleetWaves(%d, %v) = %v, want %v", c.n, c.spec, got, c.want)
		}
	}
}

func TestFleetInputRefusesHostileInput(t *testing.T) {
	ok := func() FleetRollbackInput {
		return FleetRollbackInput{Description: "bad image", RequestedBy: "alice",
			Items: []FleetItem{{DeploymentID: "d1", Revision: 1, ExpectedCurrentRevision: 2, PlanDigest: "sha256:x"}}}
	}
	in := ok()
	if err := in.Validate(); err != nil || in.Parallel != 4 || in.MaxFailureRate != 0.5 {
		t.Fatalf("%v %+v", err, in)
	}
	for name, mut := range map[string]func(*FleetRollbackInput){
		"no description": func(in *FleetRollbackInput) { in.Description = " " },
		"bad deployment": func(in *FleetRollbackInput) { in.Items[0].DeploymentID = "../x" },
		"twice":          func(in *FleetRollbackInput) { in.Items = append(in.Items, in.Items[0]) },
		"unconfirmed":    func(in *FleetRollbackInput) { in.Items[0].PlanDigest = "" },
		"parallel":       func(in *FleetRollbackInput) { in.Parallel = 1000 },
		"rest not last":  func(in *FleetRollbackInput) { in.Waves = []int{0, 1} },
		"negative wave":  func(in *FleetRollbackInput) { in.Waves = []int{-1} },
		"failure rate":   func(in *FleetRollbackInput) { in.MaxFailureRate = 2 },
		"lock wait":      func(in *FleetRollbackInput) { in.LockWait = time.Millisecond },
		"lock wait days": func(in *FleetRollbackInput) { in.LockWait = 48 * time.Hour },
		"too many":       func(in *FleetRollbackInput) { in.Items = make([]FleetItem, MaxFleetSize+1) },
		"empty":          func(in *FleetRollbackInput) { in.Items = nil },
		"no requester":   func(in *FleetRollbackInput) { in.RequestedBy = "" },
	} {
		in := ok()
		mut(&in)
		if err := in.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A fleet signed before LockWait existed keeps its digest: the default is
// not written into the input.
func TestFleetDefaultLockWaitKeepsTheDigest(t *testing.T) {
	in := FleetRollbackInput{Description: "bad image", RequestedBy: "alice",
		Items: []FleetItem{{DeploymentID: "d1", Revision: 1, ExpectedCurrentRevision: 2, PlanDigest: "sha256:x"}}}
	before := in.Digest()
	if err := in.Validate(); err != nil || in.LockWait != 0 || in.Digest() != before || in.lockWait() != FleetLockWait {
		t.Fatalf("%v %+v", err, in)
	}
	in.LockWait = time.Minute
	if in.Digest() == before || in.lockWait() != time.Minute {
		t.Fatal("a lock wait asked for is part of what is signed")
	}
}
