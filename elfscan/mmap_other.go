//go:build !unix

package elfscan

import (
	"io"
	"os"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/klp"
)

// withMapped reads f whole where mapping is not available.
func withMapped(f *os.File, size int64, scan func([]byte) (*klp.Module, error)) (*klp.Module, error) {
	raw, err := safeio.ReadAll(io.NewSectionReader(f, 0, size), size)
	if err != nil {
		return nil, err
	}
	return scan(raw)
}
