package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/rewindhq/rewind/internal/domain"
)

// The start checks run in the network namespace of the running scheduler:
// they reach what it reaches, and a copy of its endpoint never takes its
// place on the network. A scheduler whose operator pinned its address
// (`docker network connect --ip`) is where a copy could not even start:
// the Engine refuses a second container the same address. With the
// scheduler stopped, the checks get endpoints of their own on its
// networks, without its address or aliases; a job alone in its place (the
// metadata downgrade) keeps them.
func TestPreflightJoinsTheSchedulersNetwork(t *testing.T) {
	e := setup(t, domain.Component{Name: "scheduler", Command: "airflow scheduler"}, domain.Component{Name: "triggerer", Command: "airflow triggerer"})
	netName, pinned := userNetwork(t, e)
	e.rt.cfg.Network = netName
	e.swap(e.pull("9.1.0"), 1)
	sched := e.active()["scheduler"]
	if err := e.rt.cli.NetworkDisconnect(e.ctx, netName, sched.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.cli.NetworkConnect(e.ctx, netName, sched.ID, &network.EndpointSettings{
		IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: pinned}, Aliases: []string{"airflow-scheduler"}}); err != nil {
		t.Fatal(err)
	}

	checks := [][]string{{"airflow", "version"}, {"airflow", "dags", "list-import-errors"}}
	check := oneOffName(e.dep.ID, "preflight-1")
	var seen []container.InspectResponse
	testHook = func(step string) error {
		if step == "started oneoff "+check {
			ci, err := e.rt.cli.ContainerInspect(e.ctx, check)
			if err != nil {
				return err
			}
			seen = append(seen, ci)
		}
		return nil
	}
	defer func() { testHook = nil }()

	target := e.pull("8.0.0")
	res, err := e.rt.Preflight(e.ctx, e.dep, target, "", checks, 2)
	if err != nil || len(res) != 2 || res[0].ExitCode != 0 || res[1].ExitCode != 0 {
		t.Fatalf("the checks must pass beside a scheduler with a pinned address: %+v %v", res, err)
	}
	if len(seen) != 1 {
		t.Fatalf("want the check container seen once while it ran, saw %d", len(seen))
	}
	if got := string(seen[0].HostConfig.NetworkMode); got != "container:"+sched.ID {
		t.Fatalf("the check ran in network %q, want the scheduler's namespace container:%s", got, short(sched.ID))
	}
	if n := len(seen[0].NetworkSettings.Networks); n != 0 {
		t.Fatalf("the check had %d endpoints of its own: %v", n, seen[0].NetworkSettings.Networks)
	}
	ci := e.inspect(sched.ID)
	ep := ci.NetworkSettings.Networks[netName]
	if !ci.State.Running || ep == nil || ep.IPAddress != pinned || !slices.Contains(ep.Aliases, "airflow-scheduler") {
		t.Fatalf("the scheduler must keep running with its address and alias: running %v, endpoint %+v", ci.State.Running, ep)
	}

	// Stopped, it has no namespace to join: the checks get their own
	// endpoint on the same network, and its pinned address is free.
	if _, err := e.rt.StopAll(e.ctx, e.dep); err != nil {
		t.Fatal(err)
	}
	seen = nil
	if res, err := e.rt.Preflight(e.ctx, e.dep, target, "", checks, 2); err != nil {
		t.Fatalf("the checks must pass with the scheduler stopped: %+v %v", res, err)
	}
	if len(seen) != 1 || string(seen[0].HostConfig.NetworkMode) != netName || seen[0].NetworkSettings.Networks[netName] == nil {
		t.Fatalf("with the scheduler stopped the check must be on %s itself: %+v", netName, seen)
	}
	// The endpoint's settings, not its address: a check exits at once, and
	// the Engine releases the address then, maybe before the inspection.
	if own := seen[0].NetworkSettings.Networks[netName]; pinnedTo(own) == pinned || slices.Contains(own.Aliases, "airflow-scheduler") {
		t.Fatalf("a check must not take the scheduler's address or alias: %+v", own)
	}
	cs, _ := e.rt.Containers(e.ctx, e.dep.ID)
	for _, c := range cs {
		if c.OneOff != "" {
			t.Fatalf("check container left: %s", c.Name)
		}
	}

	// A job that runs alone with every component stopped (the metadata
	// downgrade) still takes the scheduler's place, pinned address included.
	job := oneOffName(e.dep.ID, "job")
	var jobSeen *network.EndpointSettings
	testHook = func(step string) error {
		if step == "started oneoff "+job {
			ci, err := e.rt.cli.ContainerInspect(e.ctx, job)
			if err != nil {
				return err
			}
			jobSeen = ci.NetworkSettings.Networks[netName]
		}
		return nil
	}
	if _, err := e.rt.RunOneOff(e.ctx, e.dep, target.Pinned(), []string{"airflow", "version"}, OneOffOptions{Revision: 2}); err != nil {
		t.Fatal(err)
	}
	if jobSeen == nil || pinnedTo(jobSeen) != pinned {
		t.Fatalf("the job must run at the stopped scheduler's pinned address %s: %+v", pinned, jobSeen)
	}
}

func pinnedTo(e *network.EndpointSettings) string {
	if e == nil || e.IPAMConfig == nil {
		return ""
	}
	return e.IPAMConfig.IPv4Address
}

// userNetwork creates a user-defined network with a subnet of its own for
// the test, removed after the deployment's containers, and returns its
// name and an address in it to pin.
func userNetwork(t *testing.T, e *env) (name, addr string) {
	t.Helper()
	name = "rewind-test-" + e.dep.ID
	for i := 0; ; i++ {
		b, c := 200+rand.IntN(50), rand.IntN(256)
		subnet := fmt.Sprintf("10.%d.%d.0/24", b, c)
		_, err := e.rt.cli.NetworkCreate(e.ctx, name, network.CreateOptions{Driver: "bridge",
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet}}}})
		if err == nil {
			addr = fmt.Sprintf("10.%d.%d.200", b, c)
			break
		}
		if i == 20 || !strings.Contains(err.Error(), "overlap") {
			t.Fatalf("create network %s (%s): %v", name, subnet, err)
		}
	}
	t.Cleanup(func() {
		ctx := context.Background()
		cs, _ := e.rt.Containers(ctx, e.dep.ID)
		for _, c := range cs {
			_ = e.rt.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		if err := e.rt.cli.NetworkRemove(ctx, name); err != nil {
			t.Errorf("remove network %s: %v", name, err)
		}
	})
	return name, addr
}
