package itest

import (
	"os"
	"path/filepath"
	"runtime"
)

// Tests run inside rewind's own git checkout, and `rewind deploy` records
// the provenance of the work tree it runs in (issue 16): every test deploy
// would claim rewind's HEAD, and the rollback guard would then refuse the
// next deploy of "the same commit". Git is told not to look for a
// repository above the checkout's root, so only work trees a test makes
// itself (under the temp directory) count.
func init() {
	if os.Getenv("GIT_CEILING_DIRECTORIES") != "" {
		return
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(file))) // internal/itest/git.go → the checkout
	os.Setenv("GIT_CEILING_DIRECTORIES", root)
}
