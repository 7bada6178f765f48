//go:build unix

package bundle

import "syscall"

const syscallNoFollow = syscall.O_NOFOLLOW
