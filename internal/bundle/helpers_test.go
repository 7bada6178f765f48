package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

const (
	dep = "d1"
	v1  = "2023-11-16T14:00:00.0000000Z"
	v2  = "2023-11-17T09:30:00.1234567Z"
)

// writeTree creates files (slash paths -> content) under dir.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// ent is one hand-crafted tar entry.
type ent struct {
	name, link string
	typ        byte
	body       []byte
	size       int64 // header size; -1 means len(body)
}

func file(name, body string) ent {
	return ent{name: name, typ: tar.TypeReg, body: []byte(body), size: -1}
}

// tarGz builds an archive exactly as given, with none of Pack's checks, so
// tests can feed Unpack what an attacker would.
func tarGz(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range ents {
		size := e.size
		if size < 0 {
			size = int64(len(e.body))
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Size: size, Mode: 0o644, ModTime: time.Unix(0, 0)}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func put(t testing.TB, s Store, data []byte) string {
	t.Helper()
	d, n, err := s.Put(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(data)) {
		t.Fatalf("Put size %d, want %d", n, len(data))
	}
	sum := sha256.Sum256(data)
	if want := "sha256:" + hex.EncodeToString(sum[:]); d != want {
		t.Fatalf("Put digest %s, want %s", d, want)
	}
	return d
}

// snapshot lists every path under root with its type, size and link target,
// for "nothing left behind" comparisons.
func snapshot(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %s %d", rel, fi.Mode().Type(), fi.Size())
		if d.Type()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		if d.IsDir() {
			line = fmt.Sprintf("%s %s", rel, fi.Mode().Type())
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func wantType(t testing.TB, err error, want domain.ErrorType) {
	t.Helper()
	if got := domain.TypeOf(err); got != want {
		t.Fatalf("error type %q (%v), want %q", got, err, want)
	}
}

// readTree returns slash path -> content (or "-> target" for symlinks) of
// everything under dir except the marker.
func readTree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir || d.Name() == MarkerName {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			out[rel+"/"] = ""
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "-> " + l
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
