// Command deploy times deploys of a cached image to a 4-container
// deployment through internal/runtime (Pull by recorded digest + Swap),
// alternating two images so every deploy replaces every container. It prints
// one line per deploy, "rewind <seconds>", for bench/deploy.sh to compare
// with the same Docker operations done by the docker CLI.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/runtime"
)

func main() {
	n := flag.Int("n", 10, "deploys to time")
	a := flag.String("a", "127.0.0.1:5000/rewind-test/airflow:9.1.0", "image A")
	b := flag.String("b", "127.0.0.1:5000/rewind-test/airflow:9.1.0-healthcheck", "image B")
	bundles := flag.String("bundles", os.TempDir()+"/rewind-bench-bundles", "bundle root")
	id := flag.String("id", "bench-rewind", "deployment id")
	flag.Parse()
	ctx := context.Background()
	rt, err := runtime.New(runtime.Config{BundleRoot: *bundles})
	must(err)
	defer rt.Close()
	dep := domain.Deployment{ID: *id, Env: map[string]string{"BENCH": "1"}, Components: []domain.Component{
		{Name: "scheduler", Command: "airflow scheduler"},
		{Name: "api-server", Command: "airflow api-server"},
		{Name: "triggerer", Command: "airflow triggerer"},
		{Name: "dag-processor", Command: "airflow dag-processor"},
	}}
	var imgs [2]runtime.Image
	for i, ref := range []string{*a, *b} {
		imgs[i], err = rt.Pull(ctx, ref, "", nil)
		must(err)
	}
	cleanup := func() {
		cs, _ := rt.Client().ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", runtime.LabelDeployment+"="+*id))})
		for _, c := range cs {
			_ = rt.Client().ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
	}
	cleanup()
	defer cleanup()
	_, err = rt.Swap(ctx, dep, imgs[0], runtime.SwapOptions{Revision: 1})
	must(err)
	for i := 1; i <= *n; i++ {
		want := imgs[i%2]
		start := time.Now()
		img, err := rt.Pull(ctx, want.Ref, want.Digest, nil)
		must(err)
		_, err = rt.Swap(ctx, dep, img, runtime.SwapOptions{Revision: i + 1})
		must(err)
		fmt.Printf("rewind %.4f\n", time.Since(start).Seconds())
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
