package bundle

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"golang.org/x/sys/unix"
)

// unpackVersion unpacks a bundle of n files named "<tag>-<i>.py" plus a
// VERSION file holding tag, so a reader can tell which tree it is in.
func unpackVersion(t testing.TB, root, version, tag string, n int) {
	t.Helper()
	ents := []ent{file("VERSION", tag)}
	for i := range n {
		ents = append(ents, file(fmt.Sprintf("%s-%d.py", tag, i), tag))
	}
	s := NewFSStore(root)
	d := put(t, s, tarGz(t, ents...))
	if _, err := Unpack(context.Background(), s, d, root, dep, version, Limits{}); err != nil {
		t.Fatal(err)
	}
}

func TestSwapAndCurrent(t *testing.T) {
	root := t.TempDir()
	if v, err := Current(root, dep); v != "" || err != nil {
		t.Fatalf("Current before any swap: %q %v", v, err)
	}
	unpackVersion(t, root, v1, "a", 2)
	unpackVersion(t, root, v2, "b", 2)
	for _, v := range []string{v1, v2, v1} {
		must(t, Swap(root, dep, v))
		if got, err := Current(root, dep); got != v || err != nil {
			t.Fatalf("Current after Swap(%s): %q %v", v, got, err)
		}
	}
	link, err := os.Readlink(filepath.Join(root, dep, "current"))
	if err != nil || link != "bundles/"+v1 {
		t.Fatalf("current -> %q %v, want a relative link", link, err)
	}

	// A version that is not (completely) unpacked is never swapped in.
	v3 := "2024-01-01T00:00:00.0000000Z"
	writeTree(t, VersionDir(root, dep, v3), map[string]string{"VERSION": "partial"})
	wantType(t, Swap(root, dep, v3), domain.NotFound)
	wantType(t, Swap(root, dep, "2025-01-01T00:00:00.0000000Z"), domain.NotFound)
	wantType(t, Swap(root, "../x", v1), domain.InvalidInput)
	wantType(t, Swap(root, dep, "../../etc"), domain.InvalidInput)
	if got, _ := Current(root, dep); got != v1 {
		t.Fatalf("failed swaps moved current to %q", got)
	}

	// A stale temp link from a crash between symlink and rename is swept.
	stale := filepath.Join(root, dep, ".tmp-current-crash")
	must(t, os.Symlink("bundles/"+v2, stale))
	old := time.Now().Add(-time.Hour)
	tv := unix.NsecToTimeval(old.UnixNano())
	must(t, unix.Lutimes(stale, []unix.Timeval{tv, tv})) // the link, not its target
	must(t, Swap(root, dep, v2))
	ents, _ := os.ReadDir(filepath.Join(root, dep))
	if len(ents) != 2 {
		t.Fatalf("deployment dir holds %v, want bundles and current", ents)
	}

	must(t, os.Mkdir(filepath.Join(root, "d2"), 0o755))
	must(t, os.Symlink("/etc", filepath.Join(root, "d2", "current")))
	_, err = Current(root, "d2")
	if err == nil {
		t.Fatal("Current of a deployment dir that is not rewind's succeeded")
	}
}

// The heart of the issue: readers of current/ see the old tree or the new
// one, whole, at every instant of 1,000 swaps.
func TestSwapAtomicUnderReaders(t *testing.T) {
	const n = 20
	root := t.TempDir()
	unpackVersion(t, root, v1, "a", n)
	unpackVersion(t, root, v2, "b", n)
	must(t, Swap(root, dep, v1))
	current := filepath.Join(root, dep, "current")

	var (
		stop  atomic.Bool
		reads atomic.Int64
		seen  sync.Map
		errs  = make(chan error, 1)
		wg    sync.WaitGroup
	)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for range 2 { // one reader by path, one holding a directory handle
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				// Through the path, as Airflow reads a DAG file.
				b, err := os.ReadFile(filepath.Join(current, "VERSION"))
				if err != nil {
					fail(fmt.Errorf("read current/VERSION: %w", err))
					return
				}
				if v := string(b); v != "a" && v != "b" {
					fail(fmt.Errorf("current/VERSION = %q", v))
					return
				}
				// Through one handle on the directory current resolved to,
				// so the listing and the file come from the same tree.
				r, err := os.OpenRoot(current)
				if err != nil {
					fail(fmt.Errorf("open current/: %w", err))
					return
				}
				tag, err := fs.ReadFile(r.FS(), "VERSION")
				if err == nil {
					var ents []fs.DirEntry
					ents, err = fs.ReadDir(r.FS(), ".")
					if err == nil && len(ents) != n+2 {
						err = fmt.Errorf("current/ lists %d entries, want %d", len(ents), n+2)
					}
					for _, e := range ents {
						if e.Name() != "VERSION" && e.Name() != MarkerName && !strings.HasPrefix(e.Name(), string(tag)+"-") {
							err = fmt.Errorf("mixed tree: %s in the tree of version %s", e.Name(), tag)
						}
					}
				}
				r.Close()
				if err != nil {
					fail(err)
					return
				}
				seen.Store(string(tag), true)
				reads.Add(1)
			}
		}()
	}
	for i := range 1000 {
		v := v2
		if i%2 == 1 {
			v = v1
		}
		if err := Swap(root, dep, v); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			time.Sleep(time.Millisecond) // let the readers interleave on a busy machine
		}
	}
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	_, a := seen.Load("a")
	_, b := seen.Load("b")
	if reads.Load() < 100 || !a || !b {
		t.Fatalf("readers did not overlap the swaps: %d reads, saw a=%v b=%v", reads.Load(), a, b)
	}
	t.Logf("%d consistent reads during 1000 swaps", reads.Load())
}

func TestRemoveVersion(t *testing.T) {
	root := t.TempDir()
	unpackVersion(t, root, v1, "a", 1)
	unpackVersion(t, root, v2, "b", 1)
	must(t, Swap(root, dep, v2))
	wantType(t, RemoveVersion(root, dep, v2), domain.InvalidInput)
	// Debris of an interrupted removal goes with the next attempt.
	writeTree(t, filepath.Join(root, dep, "bundles", ".tmp-"+v1+"-rm-crashed"), map[string]string{"x": "x"})
	must(t, RemoveVersion(root, dep, v1))
	must(t, RemoveVersion(root, dep, v1))
	ents, _ := os.ReadDir(filepath.Join(root, dep, "bundles"))
	if len(ents) != 1 || ents[0].Name() != v2 {
		t.Fatalf("bundles/ holds %v, want only %s", ents, v2)
	}
}
