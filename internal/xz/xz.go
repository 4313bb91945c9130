// Package xz decodes .xz files held in memory, fast.
//
// It implements the .xz container (streams, blocks, index, stream padding,
// None/CRC32/CRC64/SHA-256 checks) with the LZMA2 filter alone, which is
// what kernel modules and most .xz files use; other filters (BCJ, delta)
// are rejected as unsupported. The whole output is decoded into one slice,
// which doubles as the LZMA dictionary.
//
// Every size in the input is treated as hostile: the output never grows
// past the caller's limit, and no allocation follows a header's claim.
package xz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/crc64"
	"io"
	"math"
)

var (
	// ErrLimit means the decompressed data would exceed the caller's limit.
	ErrLimit = errors.New("xz: decompressed data exceeds limit")
	// ErrFormat means the input is not valid .xz data. Truncated input also
	// matches io.ErrUnexpectedEOF.
	ErrFormat = errors.New("xz: invalid data")
	// ErrUnsupported means valid .xz data uses a feature this package does
	// not implement: a filter other than LZMA2, or an unknown check type.
	ErrUnsupported = errors.New("xz: unsupported")
)

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFormat, fmt.Sprintf(format, args...))
}

func truncated(what string) error {
	return fmt.Errorf("%w: truncated %s (%w)", ErrFormat, what, io.ErrUnexpectedEOF)
}

var (
	headerMagic = []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}
	footerMagic = []byte{'Y', 'Z'}
	crc64Table  = crc64.MakeTable(crc64.ECMA)
)

const (
	checkNone   = 0x00
	checkCRC32  = 0x01
	checkCRC64  = 0x04
	checkSHA256 = 0x0A

	filterLZMA2 = 0x21
)

// checkSizes are the sizes of the check fields by check ID.
var checkSizes = [16]int{0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64}

// record is an index record: what a block took and gave.
type record struct {
	unpadded, uncompressed uint64
}

// Decoder decodes .xz data. Its zero value is ready to use; reusing one
// across calls saves setting up its ~50 KiB of state. A Decoder is not safe
// for concurrent use.
type Decoder struct {
	z       lzma
	records []record
}

// Decode decodes the whole .xz file src, which may hold several streams
// with stream padding, appends the result to dst and returns the extended
// slice. If the decompressed data would exceed limit bytes it fails with an
// error matching ErrLimit, having allocated at most about limit bytes. On
// any error it returns dst unchanged in length.
func Decode(dst, src []byte, limit int) ([]byte, error) {
	return new(Decoder).Decode(dst, src, limit)
}

// Decode is like the package's Decode, reusing d's state.
func (d *Decoder) Decode(dst, src []byte, limit int) ([]byte, error) {
	base := len(dst)
	if limit < 0 {
		limit = 0
	}
	if limit > math.MaxInt-base {
		limit = math.MaxInt - base
	}
	out := dst
	if n := sizeHint(src, limit); cap(out)-len(out) < n {
		out = make([]byte, len(dst), len(dst)+n)
		copy(out, dst)
	}
	in := src
	if len(in) == 0 {
		return dst, truncated("stream header")
	}
	for {
		var n int
		var err error
		out, n, err = d.stream(out, in, base, limit)
		if err != nil {
			return dst[:base], err
		}
		in = in[n:]
		// Stream padding: zeros in groups of four, then another stream or
		// the end.
		for len(in) >= 4 && binary.LittleEndian.Uint32(in) == 0 {
			in = in[4:]
		}
		if len(in) == 0 {
			return out, nil
		}
		if in[0] == 0 {
			return dst[:base], corrupt("stream padding is not a multiple of four bytes")
		}
	}
}

// maxRatio bounds the decompressed size sizeHint believes: LZMA2 reaches
// about 7000:1 on zeros.
const maxRatio = 8192

// sizeHint reads the uncompressed size of the last stream in src from its
// index, to size the output once. It is only a hint: the index is checked
// when it is decoded, and a claim past limit, or past what LZMA2 could
// expand src to, gives 0.
func sizeHint(src []byte, limit int) int {
	if len(src) < 24 || !bytes.Equal(src[len(src)-2:], footerMagic) {
		return 0
	}
	foot := src[len(src)-12:]
	size := (int64(binary.LittleEndian.Uint32(foot[4:])) + 1) * 4
	if size > int64(len(src)-24) {
		return 0
	}
	index := src[len(src)-12-int(size) : len(src)-12]
	if index[0] != 0 {
		return 0
	}
	count, p, err := vli(index[1:], "index")
	if err != nil || count > uint64(len(index)) {
		return 0
	}
	p++
	var total uint64
	for range count {
		_, n, err := vli(index[p:], "index")
		if err != nil {
			return 0
		}
		p += n
		unc, n, err := vli(index[p:], "index")
		if err != nil {
			return 0
		}
		p += n
		total += unc
		if total > uint64(limit) || total > uint64(len(src))*maxRatio {
			return 0
		}
	}
	return int(total)
}

// stream decodes one stream at the start of in into out, returning the
// extended out and the stream's length.
func (d *Decoder) stream(out, in []byte, base, limit int) ([]byte, int, error) {
	if len(in) < 12 {
		if !bytes.HasPrefix(headerMagic, in[:min(len(in), len(headerMagic))]) {
			return out, 0, corrupt("not an xz stream")
		}
		return out, 0, truncated("stream header")
	}
	if !bytes.Equal(in[:6], headerMagic) {
		return out, 0, corrupt("not an xz stream")
	}
	flags := in[6:8]
	if crc32.ChecksumIEEE(flags) != binary.LittleEndian.Uint32(in[8:]) {
		return out, 0, corrupt("stream header CRC mismatch")
	}
	if flags[0] != 0 || flags[1]&0xF0 != 0 {
		return out, 0, fmt.Errorf("%w stream flags %#04x", ErrUnsupported, binary.BigEndian.Uint16(flags))
	}
	check := flags[1]
	switch check {
	case checkNone, checkCRC32, checkCRC64, checkSHA256:
	default:
		return out, 0, fmt.Errorf("%w check type %#x", ErrUnsupported, check)
	}

	p := 12
	d.records = d.records[:0]
	for {
		if p >= len(in) {
			return out, 0, truncated("stream")
		}
		if in[p] == 0 {
			break // the index
		}
		var n int
		var rec record
		var err error
		out, n, rec, err = d.block(out, in[p:], check, base, limit)
		if err != nil {
			return out, 0, err
		}
		d.records = append(d.records, rec)
		p += n
	}

	n, err := d.index(in[p:])
	if err != nil {
		return out, 0, err
	}
	index := in[p : p+n]
	p += n

	if len(in)-p < 12 {
		return out, 0, truncated("stream footer")
	}
	foot := in[p : p+12]
	if crc32.ChecksumIEEE(foot[4:10]) != binary.LittleEndian.Uint32(foot) {
		return out, 0, corrupt("stream footer CRC mismatch")
	}
	if !bytes.Equal(foot[10:], footerMagic) {
		return out, 0, corrupt("bad stream footer magic")
	}
	if !bytes.Equal(foot[8:10], flags) {
		return out, 0, corrupt("stream footer flags differ from the header's")
	}
	if (uint64(binary.LittleEndian.Uint32(foot[4:]))+1)*4 != uint64(len(index)) {
		return out, 0, corrupt("stream footer backward size does not match the index")
	}
	return out, p + 12, nil
}

// vli reads a variable-length integer from the start of b.
func vli(b []byte, what string) (uint64, int, error) {
	var v uint64
	for i := 0; i < 9; i++ {
		if i >= len(b) {
			return 0, 0, truncated(what)
		}
		c := b[i]
		v |= uint64(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, 0, corrupt("non-minimal integer in %s", what)
			}
			return v, i + 1, nil
		}
	}
	return 0, 0, corrupt("integer too large in %s", what)
}

// filterNames names the filters of the .xz format for error messages.
var filterNames = map[uint64]string{
	0x03: "delta", 0x04: "BCJ x86", 0x05: "BCJ PowerPC", 0x06: "BCJ IA-64",
	0x07: "BCJ ARM", 0x08: "BCJ ARM-Thumb", 0x09: "BCJ SPARC", 0x0A: "BCJ ARM64",
	0x0B: "BCJ RISC-V", 0x21: "LZMA2",
}

func unsupportedFilter(id uint64) error {
	if name, ok := filterNames[id]; ok {
		return fmt.Errorf("%w filter %#x (%s)", ErrUnsupported, id, name)
	}
	return fmt.Errorf("%w filter %#x", ErrUnsupported, id)
}

// block decodes one block at the start of in into out.
func (d *Decoder) block(out, in []byte, check byte, base, limit int) ([]byte, int, record, error) {
	var rec record
	hs := (int(in[0]) + 1) * 4
	if len(in) < hs {
		return out, 0, rec, truncated("block header")
	}
	h := in[:hs-4]
	if crc32.ChecksumIEEE(h) != binary.LittleEndian.Uint32(in[hs-4:]) {
		return out, 0, rec, corrupt("block header CRC mismatch")
	}
	flags := h[1]
	if flags&0x3C != 0 {
		return out, 0, rec, fmt.Errorf("%w block flags %#02x", ErrUnsupported, flags)
	}
	p := 2
	compSize, uncSize := int64(-1), int64(-1)
	if flags&0x40 != 0 {
		v, n, err := vli(h[p:], "block header")
		if err != nil {
			return out, 0, rec, err
		}
		if v == 0 || v > math.MaxInt64/2 {
			return out, 0, rec, corrupt("bad compressed size in block header")
		}
		compSize = int64(v)
		p += n
	}
	if flags&0x80 != 0 {
		v, n, err := vli(h[p:], "block header")
		if err != nil {
			return out, 0, rec, err
		}
		if v > math.MaxInt64/2 {
			return out, 0, rec, corrupt("bad uncompressed size in block header")
		}
		uncSize = int64(v)
		p += n
	}
	nf := int(flags&3) + 1
	var dictSize uint32
	for i := range nf {
		id, n, err := vli(h[p:], "block header")
		if err != nil {
			return out, 0, rec, err
		}
		p += n
		ps, n, err := vli(h[p:], "block header")
		if err != nil {
			return out, 0, rec, err
		}
		p += n
		if ps > uint64(len(h)-p) {
			return out, 0, rec, corrupt("filter properties overrun the block header")
		}
		props := h[p : p+int(ps)]
		p += int(ps)
		if id != filterLZMA2 || i != nf-1 {
			return out, 0, rec, unsupportedFilter(id)
		}
		if len(props) != 1 || props[0] > 40 {
			return out, 0, rec, corrupt("bad LZMA2 properties")
		}
		if props[0] == 40 {
			dictSize = math.MaxUint32
		} else {
			dictSize = (2 | uint32(props[0])&1) << (props[0]/2 + 11)
		}
	}
	for _, c := range h[p:] {
		if c != 0 {
			return out, 0, rec, corrupt("nonzero block header padding")
		}
	}

	start := len(out)
	data := in[hs:]
	if compSize >= 0 && compSize < int64(len(data)) {
		data = data[:compSize]
	}
	out, n, err := d.lzma2(out, data, dictSize, base, limit)
	if err != nil {
		return out, 0, rec, err
	}
	if compSize >= 0 && int64(n) != compSize {
		return out, 0, rec, corrupt("block compressed size differs from its header's")
	}
	if uncSize >= 0 && int64(len(out)-start) != uncSize {
		return out, 0, rec, corrupt("block uncompressed size differs from its header's")
	}
	p = hs + n
	for p%4 != 0 {
		if p >= len(in) {
			return out, 0, rec, truncated("block padding")
		}
		if in[p] != 0 {
			return out, 0, rec, corrupt("nonzero block padding")
		}
		p++
	}
	cs := checkSizes[check&15]
	if len(in)-p < cs {
		return out, 0, rec, truncated("block check")
	}
	sum := in[p : p+cs]
	data = out[start:]
	ok := true
	switch check {
	case checkCRC32:
		ok = crc32.ChecksumIEEE(data) == binary.LittleEndian.Uint32(sum)
	case checkCRC64:
		ok = crc64.Checksum(data, crc64Table) == binary.LittleEndian.Uint64(sum)
	case checkSHA256:
		h := sha256.Sum256(data)
		ok = bytes.Equal(h[:], sum)
	}
	if !ok {
		return out, 0, rec, corrupt("block check mismatch")
	}
	rec.unpadded = uint64(hs + n + cs)
	rec.uncompressed = uint64(len(out) - start)
	return out, p + cs, rec, nil
}

// grow extends out by n bytes, failing if that passes the limit. It never
// allocates past base+limit.
func grow(out []byte, n, base, limit int) ([]byte, error) {
	if n > limit-(len(out)-base) {
		return out, fmt.Errorf("%w of %d bytes", ErrLimit, limit)
	}
	need := len(out) + n
	if need > cap(out) {
		c := max(2*cap(out), need, 256<<10)
		c = min(c, base+limit)
		nb := make([]byte, len(out), c)
		copy(nb, out)
		out = nb
	}
	return out[:need], nil
}

// lzma2 decodes LZMA2 data at the start of in into out, returning the
// extended out and the length of the LZMA2 data.
func (d *Decoder) lzma2(out, in []byte, dictSize uint32, base, limit int) ([]byte, int, error) {
	z := &d.z
	z.dictSize = dictSize
	z.dictStart = len(out)
	needDict, needProps := true, true
	ip := 0
	for {
		if ip >= len(in) {
			return out, 0, truncated("LZMA2 data")
		}
		c := in[ip]
		if c == 0 {
			return out, ip + 1, nil
		}
		if c >= 0xE0 || c == 1 {
			needProps = true
			needDict = false
			z.dictStart = len(out)
		} else if needDict {
			return out, 0, corrupt("LZMA2 data does not start with a dictionary reset")
		}
		switch {
		case c >= 0x80:
			if len(in)-ip < 5 {
				return out, 0, truncated("LZMA2 chunk header")
			}
			unc := (int(c&0x1F)<<16 | int(in[ip+1])<<8 | int(in[ip+2])) + 1
			comp := (int(in[ip+3])<<8 | int(in[ip+4])) + 1
			ip += 5
			if c >= 0xC0 {
				if ip >= len(in) {
					return out, 0, truncated("LZMA2 chunk header")
				}
				if !z.setProps(in[ip]) {
					return out, 0, corrupt("bad LZMA properties")
				}
				ip++
				needProps = false
			} else if needProps {
				return out, 0, corrupt("LZMA2 chunk without properties")
			}
			if c >= 0xA0 {
				z.resetState()
			}
			if len(in)-ip < comp {
				return out, 0, truncated("LZMA2 chunk")
			}
			pos := len(out)
			var err error
			if out, err = grow(out, unc, base, limit); err != nil {
				return out[:pos], 0, err
			}
			if !z.decodeChunk(out, pos, in[ip:ip+comp]) {
				return out[:pos], 0, corrupt("bad LZMA data")
			}
			ip += comp
		case c <= 2:
			if len(in)-ip < 3 {
				return out, 0, truncated("LZMA2 chunk header")
			}
			n := (int(in[ip+1])<<8 | int(in[ip+2])) + 1
			ip += 3
			if len(in)-ip < n {
				return out, 0, truncated("LZMA2 chunk")
			}
			pos := len(out)
			var err error
			if out, err = grow(out, n, base, limit); err != nil {
				return out[:pos], 0, err
			}
			copy(out[pos:], in[ip:ip+n])
			ip += n
		default:
			return out, 0, corrupt("bad LZMA2 control byte %#02x", c)
		}
	}
}

// index checks the index at the start of in against the blocks decoded,
// returning its length.
func (d *Decoder) index(in []byte) (int, error) {
	p := 1 // the index indicator, checked by the caller
	count, n, err := vli(in[p:], "index")
	if err != nil {
		return 0, err
	}
	p += n
	if count != uint64(len(d.records)) {
		return 0, corrupt("index has %d records for %d blocks", count, len(d.records))
	}
	for _, r := range d.records {
		unpadded, n, err := vli(in[p:], "index")
		if err != nil {
			return 0, err
		}
		p += n
		unc, n, err := vli(in[p:], "index")
		if err != nil {
			return 0, err
		}
		p += n
		if unpadded != r.unpadded || unc != r.uncompressed {
			return 0, corrupt("index record does not match its block")
		}
	}
	for p%4 != 0 {
		if p >= len(in) {
			return 0, truncated("index")
		}
		if in[p] != 0 {
			return 0, corrupt("nonzero index padding")
		}
		p++
	}
	if len(in)-p < 4 {
		return 0, truncated("index")
	}
	if crc32.ChecksumIEEE(in[:p]) != binary.LittleEndian.Uint32(in[p:]) {
		return 0, corrupt("index CRC mismatch")
	}
	return p + 4, nil
}
