package elfscan

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/klauspost/compress/zstd"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/xz"
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

// Window cap. Kernel modules are compressed with small zstd windows; 64
// MiB is what `zstd -19` uses, the most a sane file asks for. The decoder
// allocates this much up front when a header asks for it, so it also
// bounds the memory a hostile header costs beyond the output limit. (The
// xz decoder needs no window: its output is its dictionary.)
const zstdWindowMax = 64 << 20

// decompress decompresses src, compressed as kind, into the scanner's
// reused output buffer. Past limit bytes of output it stops and fails with
// an error matching safeio.ErrTooLarge; memory use is bounded by the limit
// plus the decoder's window (at most 64 MiB). Truncated or corrupt streams
// fail; integrity checks in the stream (xz CRC, gzip CRC, zstd checksum)
// are verified. The result is valid until the next call.
func (s *scanner) decompress(kind string, src []byte, limit int64) ([]byte, error) {
	var (
		out []byte
		err error
	)
	switch kind {
	case compressionXZ:
		out, err = s.decompressXZ(src, limit)
	case compressionZstd:
		out, err = s.decompressZstd(src, limit)
	case compressionGzip:
		out, err = s.decompressGzip(src, limit)
	default:
		return nil, fmt.Errorf("unknown compression %q", kind)
	}
	if err != nil {
		return nil, err
	}
	s.out = out
	return out, nil
}

func (s *scanner) decompressXZ(src []byte, limit int64) ([]byte, error) {
	if s.xz == nil {
		s.xz = new(xz.Decoder)
	}
	b, err := s.xz.Decode(s.out[:0], src, int(min(limit, math.MaxInt)))
	if err != nil {
		if errors.Is(err, xz.ErrLimit) {
			return nil, fmt.Errorf("xz: decompressed %w of %d bytes", safeio.ErrTooLarge, limit)
		}
		// The package's errors start with "xz: "; truncated input
		// matches io.ErrUnexpectedEOF.
		return nil, err
	}
	return b, nil
}

func (s *scanner) decompressZstd(src []byte, limit int64) ([]byte, error) {
	if s.zstd == nil {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1), // synchronous: no goroutines to leak
			zstd.WithDecoderMaxWindow(zstdWindowMax))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		s.zstd = d
	}
	// A plain io.Reader: given a *bytes.Reader the decoder would decode the
	// whole frame at once, past our limit.
	if err := s.zstd.Reset(struct{ io.Reader }{bytes.NewReader(src)}); err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	b, err := safeio.ReadAllInto(s.out, s.zstd, limit)
	// Drop the reference to src.
	_ = s.zstd.Reset(nil)
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

func (s *scanner) decompressGzip(src []byte, limit int64) ([]byte, error) {
	var err error
	if s.gz == nil {
		s.gz, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = s.gz.Reset(bytes.NewReader(src))
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("gzip: %w", err)
	}
	b, err := safeio.ReadAllInto(s.out, s.gz, limit)
	if err != nil {
		if errors.Is(err, safeio.ErrTooLarge) {
			return nil, fmt.Errorf("gzip: decompressed %w", err)
		}
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return b, nil
}
