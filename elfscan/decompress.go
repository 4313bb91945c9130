package elfscan

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/therootcompany/xz"

	"github.com/klpack/klpack/internal/safeio"
)

// Compression kinds, as klp.Module.Compression names them.
const (
	compressionXZ   = "xz"
	compressionZstd = "zstd"
	compressionGzip = "gzip"
)

var (
	magicXZ   = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicGzip = []byte{0x1f, 0x8b}
)

// compressionOf names the compression of a file from its first bytes: "xz",
// "zstd", "gzip", or "" for anything else (a plain module, or not a module
// at all: that is for the ELF reader to say).
func compressionOf(head []byte) string {
	switch {
	case bytes.HasPrefix(head, magicXZ):
		return compressionXZ
	case bytes.HasPrefix(head, magicZstd):
		return compressionZstd
	case bytes.HasPrefix(head, magicGzip):
		return compressionGzip
	}
	return ""
}

// Dictionary and window caps. Kernel modules are compressed with a 1 MiB
// xz dictionary (scripts/Makefile.modinst) and small zstd windows; 64 MiB
// is what `xz -9` and `zstd -19` use, the most a sane file asks for. The
// decoders allocate this much up front when a header asks for it, so it
// also bounds the memory a hostile header costs beyond the output limit.
const (
	xzDictMax     = 64 << 20
	zstdWindowMax = 64 << 20
)

// Decoders are expensive to set up (the xz dictionary alone is 1 MiB for a
// module) and hold no state between streams once reset, so they are
// pooled. Each pool holds decoders that are not in use; what a pooled
// decoder still references is freed with the pool at the next GCs.
var (
	xzPool   sync.Pool // *xz.Reader
	zstdPool sync.Pool // *zstd.Decoder
	gzipPool sync.Pool // *gzip.Reader
)

// decompress reads the whole stream r, compressed as kind ("" for none),
// and returns the decompressed bytes. Past limit bytes of output it stops
// and fails with an error matching safeio.ErrTooLarge; memory use is
// bounded by the limit plus the decoder's window (at most 64 MiB).
// Truncated or corrupt streams fail; integrity checks in the stream (xz
// CRC, gzip CRC, zstd checksum) are verified.
func decompress(kind string, r io.Reader, limit int64) ([]byte, error) {
	switch kind {
	case "":
		return safeio.ReadAll(r, limit)
	case compressionXZ:
		return decompressXZ(r, limit)
	case compressionZstd:
		return decompressZstd(r, limit)
	case compressionGzip:
		return decompressGzip(r, limit)
	}
	return nil, fmt.Errorf("unknown compression %q", kind)
}

func decompressXZ(r io.Reader, limit int64) ([]byte, error) {
	d, _ := xzPool.Get().(*xz.Reader)
	if d == nil {
		// A nil reader makes a decoder that reads nothing until Reset.
		var err error
		if d, err = xz.NewReader(nil, xzDictMax); err != nil {
			return nil, fmt.Errorf("xz: %w", err)
		}
	}
	defer xzPool.Put(d)
	if err := d.Reset(r); err != nil {
		return nil, xzError(err)
	}
	b, err := safeio.ReadAll(d, limit)
	if err != nil {
		return nil, xzError(err)
	}
	return b, nil
}

// xzError words the decoder's errors: the package's own already start with
// "xz: ", and a stream that ends early reports io.EOF or a buffer error.
func xzError(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("xz: truncated stream: %w", io.ErrUnexpectedEOF)
	case errors.Is(err, xz.ErrBuf):
		return fmt.Errorf("%w (%w)", err, io.ErrUnexpectedEOF)
	case errors.Is(err, safeio.ErrTooLarge):
		return fmt.Errorf("xz: decompressed %w", err)
	}
	return err
}

func decompressZstd(r io.Reader, limit int64) ([]byte, error) {
	d, _ := zstdPool.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		d, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1), // synchronous: no goroutines to leak from the pool
			zstd.WithDecoderMaxWindow(zstdWindowMax))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
	}
	defer zstdPool.Put(d)
	// Hide any Bytes method of r: given a *bytes.Buffer the decoder would
	// decode the whole frame at once, past our limit.
	if err := d.Reset(struct{ io.Reader }{r}); err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	b, err := safeio.ReadAll(d, limit)
	// Drop the reference to r before pooling.
	_ = d.Reset(nil)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if errors.Is(err, safeio.ErrTooLarge) {
			return nil, fmt.Errorf("zstd: decompressed %w", err)
		}
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return b, nil
}

func decompressGzip(r io.Reader, limit int64) ([]byte, error) {
	var err error
	d, _ := gzipPool.Get().(*gzip.Reader)
	if d == nil {
		d, err = gzip.NewReader(r)
	} else {
		err = d.Reset(r)
	}
	if err != nil {
		// A failed Reset leaves the reader reusable; a failed NewReader
		// returns none.
		if d != nil {
			gzipPool.Put(d)
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("gzip: %w", err)
	}
	defer gzipPool.Put(d)
	b, err := safeio.ReadAll(d, limit)
	if err != nil {
		if errors.Is(err, safeio.ErrTooLarge) {
			return nil, fmt.Errorf("gzip: decompressed %w", err)
		}
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return b, nil
}
