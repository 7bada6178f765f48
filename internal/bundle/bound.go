package bundle

import (
	"io"

	"github.com/rewindhq/rewind/internal/domain"
)

// streamBound is how long a decompressed bundle may be: its files' limit,
// plus room for every entry's headers (PAX records for long names
// included) and padding, plus the end marker.
func streamBound(lim Limits) int64 {
	return lim.MaxBytes + int64(lim.MaxFiles)*4096 + 1<<20
}

// boundedReader fails with UnsafeBundle once more than left bytes are read.
type boundedReader struct {
	r    io.Reader
	left int64
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, domain.Errorf(domain.UnsafeBundle, "bundle decompresses to more than its limits allow (files, their headers and anything after the archive's end)")
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, domain.Errorf(domain.UnsafeBundle, "bundle decompresses to more than its limits allow (files, their headers and anything after the archive's end)")
	}
	return n, err
}
