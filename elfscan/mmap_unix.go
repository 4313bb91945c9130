//go:build unix

package elfscan

import (
	"io"
	"os"
	"sync"

	"github.com/klpack/klpack/pkg/klp"
)

var bufPool = sync.Pool{New: func() any { return new([]byte) }}

func withMapped(f *os.File, size int64, scan func([]byte) (*klp.Module, error)) (m *klp.Module, err error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	if int64(cap(*bp)) < size {
		*bp = make([]byte, size)
	}
	b := (*bp)[:size]
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), b); err != nil {
		return nil, err
	}
	return scan(b)
}
