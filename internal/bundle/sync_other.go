//go:build !linux

package bundle

import (
	"io/fs"
	"os"
	"path/filepath"
)

// syncTree fsyncs every file and directory under dir: without syncfs(2)
// there is no cheaper portable way to make a whole tree durable.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}
