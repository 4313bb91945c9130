package elfscan

import (
	"bytes"
	"encoding/binary"
	"io"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// sparseMin is the size from which a scan without hashing reads a plain
// module sparsely: below it one read of the whole file costs less than
// the reads of its parts.
const sparseMin = 32 << 10

// sparseTail is how much of a file's end a sparse read takes for the
// appended signature (a PKCS#7 signature is about 700 bytes).
const sparseTail = 4 << 10

// sigTrailer ends a signed module (MODULE_SIG_STRING).
var sigTrailer = []byte("~Module signature appended~\n")

// readSparse reads, of the plain module f of size bytes, only what a scan
// of a module that is no livepatch looks at: the ELF header, the section
// headers, the section names, .modinfo, .gnu.linkonce.this_module and the
// end of the file (the signature), into a buffer that is zero elsewhere.
// Most of a module is code and debug info nobody reads unless it is a
// livepatch, and copying it is most of what a scan without hashing costs.
// ok is false when the file is not laid out as a module is (not ELF, a
// header out of bounds, a signature longer than the tail): the caller
// then reads it whole, and the scan says what is wrong.
func (s *scanner) readSparse(f io.ReaderAt, size int64) (raw []byte, ok bool, err error) {
	// The buffer is zero but where the last sparse read wrote: clearing
	// those parts costs less than clearing it all.
	for _, d := range s.dirty {
		clear(s.sparse[d[0]:d[1]])
	}
	s.dirty = s.dirty[:0]
	if int64(cap(s.sparse)) < size {
		s.sparse = make([]byte, size)
	}
	raw = s.sparse[:size]
	// at reads [off, off+n) into raw, when it lies within the file.
	at := func(off, n uint64) (bool, error) {
		if off > uint64(size) || n > uint64(size)-off {
			return false, nil
		}
		s.dirty = append(s.dirty, [2]uint64{off, off + n})
		if _, err := f.ReadAt(raw[off:off+n], int64(off)); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return false, &FormatError{Msg: "file shrank while being read"}
			}
			return false, err
		}
		return true, nil
	}
	if ok, err := at(0, 64); !ok || err != nil {
		return nil, false, err
	}
	if !bytes.HasPrefix(raw, []byte("\x7fELF")) || raw[4] != 2 {
		return nil, false, nil
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if raw[5] == 2 {
		bo = binary.BigEndian
	}
	shoff := bo.Uint64(raw[40:])
	shnum := uint64(bo.Uint16(raw[60:]))
	shstrndx := uint64(bo.Uint16(raw[62:]))
	if bo.Uint16(raw[58:]) != elf64.ShdrSize || shnum == 0 || shstrndx >= shnum {
		return nil, false, nil
	}
	if ok, err := at(shoff, shnum*elf64.ShdrSize); !ok || err != nil {
		return nil, false, err
	}
	// section returns the offset and size of section i's bytes in the
	// file; NOBITS sections have none.
	section := func(i uint64) (off, n uint64, has bool) {
		h := raw[shoff+i*elf64.ShdrSize:]
		const shtNobits = 8
		if bo.Uint32(h[4:]) == shtNobits {
			return 0, 0, false
		}
		return bo.Uint64(h[24:]), bo.Uint64(h[32:]), true
	}
	off, n, has := section(shstrndx)
	if !has {
		return nil, false, nil
	}
	if ok, err := at(off, n); !ok || err != nil {
		return nil, false, err
	}
	names := raw[off : off+n]
	for i := range shnum {
		nameOff := uint64(bo.Uint32(raw[shoff+i*elf64.ShdrSize:]))
		if nameOff >= uint64(len(names)) {
			continue // Parse refuses it, with the file read whole
		}
		name, _, _ := bytes.Cut(names[nameOff:], []byte{0})
		if string(name) != ".modinfo" && string(name) != ".gnu.linkonce.this_module" {
			continue
		}
		if off, n, has := section(i); has {
			if ok, err := at(off, n); !ok || err != nil {
				return nil, false, err
			}
		}
	}
	tail := min(uint64(size), uint64(s.sparseTail))
	if _, err := at(uint64(size)-tail, tail); err != nil {
		return nil, false, err
	}
	if bytes.HasSuffix(raw, sigTrailer) {
		// struct module_signature ends with the signature's length, big
		// endian, just before the magic.
		end := uint64(size) - uint64(len(sigTrailer))
		if end < 12 {
			return nil, false, nil
		}
		sigLen := uint64(binary.BigEndian.Uint32(raw[end-4:]))
		if sigLen+12+uint64(len(sigTrailer)) > tail {
			return nil, false, nil
		}
	}
	return raw, true, nil
}

// openSparse scans the plain module at path without hashing, reading it
// sparsely (readSparse) unless it is small, not laid out as a module, or
// a livepatch, which is read and scanned whole.
func (s *scanner) openSparse(path string) (*klp.Module, error) {
	f, st, err := openRegular(path)
	if err != nil {
		return nil, nameFile(path, err)
	}
	defer f.Close()
	size := st.Size()
	if size >= s.sparseMin && size <= maxModule {
		raw, ok, err := s.readSparse(f, size)
		if err != nil {
			return nil, nameFile(path, err)
		}
		if ok && compressionOf(raw) == "" {
			m, err := s.scanFile(path, raw)
			if err == nil && !m.Livepatch {
				return m, nil
			}
			// A livepatch, or an error: the whole file decides.
		}
	}
	return s.openWhole(path)
}
