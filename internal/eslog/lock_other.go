//go:build !unix

package eslog

import "sync"

var dirLocks sync.Map // dir -> *sync.Mutex

// lockDir serializes exports to one directory within this process only;
// rewind's workers run on Linux, where lock_unix.go applies.
func lockDir(dir string) (unlock func(), err error) {
	m, _ := dirLocks.LoadOrStore(dir, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock, nil
}
