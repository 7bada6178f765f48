//go:build !unix

package bundle

const syscallNoFollow = 0
