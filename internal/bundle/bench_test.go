package bundle

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchTree writes n DAG-like files (1-3 KiB of Python-ish text) into 100
// directories, the shape of a large Airflow repository.
func benchTree(b *testing.B, dir string, n int) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("from airflow import DAG PythonOperator BashOperator task def return with as schedule datetime timedelta retries default_args owner start_date catchup False True")
	for i := range n {
		var sb strings.Builder
		fmt.Fprintf(&sb, "# dag %d\n", i)
		for sb.Len() < 1024+rng.IntN(2048) {
			for range 8 {
				sb.WriteString(words[rng.IntN(len(words))])
				sb.WriteByte(' ')
			}
			fmt.Fprintf(&sb, "%d\n", rng.IntN(1_000_000))
		}
		p := filepath.Join(dir, fmt.Sprintf("pkg%02d", i%100), fmt.Sprintf("dag_%05d.py", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// packBench packs an n-file tree into root's store and returns its digest
// and the archive's path, for tar to read the very same bytes.
func packBench(b *testing.B, root string, n int) (string, string) {
	b.Helper()
	src := b.TempDir()
	benchTree(b, src, n)
	d, _, err := PackTo(context.Background(), NewFSStore(root), src)
	if err != nil {
		b.Fatal(err)
	}
	return d, filepath.Join(root, ".store", "sha256", strings.TrimPrefix(d, "sha256:")+".tar.gz")
}

// BenchmarkUnpack10k unpacks a 10,000-file bundle with Unpack and with
// `tar -xzf` of the same archive, alternating in one loop so both see the
// same machine load, and reports each time and their ratio (target <= 1.2).
// Unpack's time includes what tar does not do: digest verification, the
// syncfs(2) that makes the tree durable, the marker and the rename; the
// "tar+sync" variant adds `sync -f` to tar for a like-for-like figure.
func BenchmarkUnpack10k(b *testing.B) {
	tarPath, err := exec.LookPath("tar")
	if err != nil {
		b.Fatal("tar is needed for the comparison: ", err)
	}
	root := b.TempDir()
	digest, archive := packBench(b, root, 10_000)
	scratch := b.TempDir()

	var ours, theirs, theirsSync time.Duration
	runs := 0
	for b.Loop() {
		runs++
		version := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(runs) * time.Second).Format("2006-01-02T15:04:05.0000000Z")
		dst := filepath.Join(scratch, fmt.Sprint("tar", runs))
		dst2 := dst + "s"
		must(b, os.Mkdir(dst, 0o755))
		must(b, os.Mkdir(dst2, 0o755))

		start := time.Now()
		dir, err := Unpack(context.Background(), NewFSStore(root), digest, root, dep, version, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)

		start = time.Now()
		if out, err := exec.Command(tarPath, "-xzf", archive, "-C", dst).CombinedOutput(); err != nil {
			b.Fatalf("tar: %v: %s", err, out)
		}
		theirs += time.Since(start)

		start = time.Now()
		if out, err := exec.Command("sh", "-c", `tar -xzf "$1" -C "$2" && sync -f "$2"`, "sh", archive, dst2).CombinedOutput(); err != nil {
			b.Fatalf("tar+sync: %v: %s", err, out)
		}
		theirsSync += time.Since(start)

		b.StopTimer()
		must(b, os.RemoveAll(dir))
		must(b, os.RemoveAll(dst))
		must(b, os.RemoveAll(dst2))
		b.StartTimer()
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(runs) }
	b.ReportMetric(ms(ours), "unpack-ms/op")
	b.ReportMetric(ms(theirs), "tar-ms/op")
	b.ReportMetric(ms(theirsSync), "tar+sync-ms/op")
	b.ReportMetric(float64(ours)/float64(theirs), "ratio-vs-tar")
	b.ReportMetric(float64(ours)/float64(theirsSync), "ratio-vs-tar+sync")
}

// BenchmarkSwap flips current between two unpacked versions. The cost must
// not grow with the bundle: only one symlink is created and renamed.
func BenchmarkSwap(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			root := b.TempDir()
			digest, _ := packBench(b, root, n)
			s := NewFSStore(root)
			for _, v := range []string{v1, v2} {
				if _, err := Unpack(context.Background(), s, digest, root, dep, v, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			for b.Loop() {
				v := v1
				if i%2 == 1 {
					v = v2
				}
				i++
				if err := Swap(root, dep, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
