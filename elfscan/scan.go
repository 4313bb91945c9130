package elfscan

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cilium/ebpf/btf"
	"github.com/klauspost/compress/zstd"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/internal/xz"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/modsign"
)

// Options tune a scan. The zero value is ready to use.
type Options struct {
	// VmlinuxBTF is the BTF of the kernel the modules were built for. With
	// it, modules without DWARF take their struct layouts from their own
	// split BTF instead of the built-in table.
	VmlinuxBTF *btf.Spec
	// Hooks are the hook points a release declares for the module
	// (klpack.yaml's or the manifest's hook_points): function names,
	// reported with source manifest and checked against the module's
	// error-injection entries.
	Hooks []string
	// NoHash leaves Module.SHA256 empty: hashing every byte of every
	// file is most of the time a scan of a module tree takes, and an
	// inventory of modinfo and livepatch metadata does not need it
	// (klpack scan --no-hash, the klpack.scan/v2 document).
	NoHash bool
}

// maxModule bounds the size of a module file, and of a compressed module
// once decompressed: the largest modules distributions ship are tens of MiB.
const maxModule = 1 << 30

// scanner holds what one goroutine reuses from module to module: the
// buffers files are read and decompressed into, and the decoders. A
// module record never points into them.
type scanner struct {
	opts *Options
	// sparseMin: from this size, a scan without hashing reads a plain
	// module sparsely (sparse.go); tests lower it.
	sparseMin int64
	// sparseTail is how much of the end a sparse read takes.
	sparseTail int64
	// sparse is the buffer of sparse reads, zero but for the parts dirty
	// lists.
	sparse []byte
	dirty  [][2]uint64
	raw    []byte
	out    []byte
	xz     *xz.Decoder
	zstd   *zstd.Decoder
	gz     *gzip.Reader
}

func newScanner(opts *Options) *scanner {
	if opts == nil {
		opts = &Options{}
	}
	return &scanner{opts: opts, sparseMin: sparseMin, sparseTail: sparseTail}
}

// Open scans the module file at path.
func Open(path string, opts *Options) (*klp.Module, error) {
	return newScanner(opts).open(path)
}

func (s *scanner) open(path string) (*klp.Module, error) {
	if s.opts.NoHash {
		return s.openSparse(path)
	}
	return s.openWhole(path)
}

// openWhole reads the whole file at path and scans it.
func (s *scanner) openWhole(path string) (*klp.Module, error) {
	raw, err := s.read(path)
	if err != nil {
		return nil, nameFile(path, err)
	}
	return s.scanFile(path, raw)
}

// scanFile scans raw, read from the file at path.
func (s *scanner) scanFile(path string, raw []byte) (*klp.Module, error) {
	m, err := s.scan(raw)
	if err != nil {
		return nil, nameFile(path, err)
	}
	m.Path = path
	return m, nil
}

// nameFile makes err, from reading or scanning the file at path, start
// by naming it. A *FormatError on top takes the path. One deeper cannot:
// the messages wrapped around it were formatted when they were made, so
// the path set there would not show; a new *FormatError on top carries
// it, and is the one errors.As finds.
func nameFile(path string, err error) error {
	if fe, ok := err.(*FormatError); ok && fe.Path == "" {
		fe.Path = path
		return fe
	}
	if _, ok := errors.AsType[*FormatError](err); ok {
		return &FormatError{Path: path, Err: err}
	}
	return fmt.Errorf("file %s: %w", path, err)
}

// read reads the regular file at path into the reused buffer.
func (s *scanner) read(path string) ([]byte, error) {
	f, st, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := st.Size()
	if size > maxModule {
		return nil, &FormatError{Msg: fmt.Sprintf("size %d over the %d-byte limit", size, maxModule)}
	}
	// Read into the reused buffer: most of a module is only hashed, and a
	// fresh buffer per file costs more than the read.
	if int64(cap(s.raw)) < size {
		s.raw = make([]byte, size)
	}
	raw := s.raw[:size]
	if _, err := io.ReadFull(f, raw); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, &FormatError{Msg: "file shrank while being read"}
		}
		return nil, err
	}
	return raw, nil
}

// scan scans a whole module file.
func (s *scanner) scan(raw []byte) (*klp.Module, error) {
	if len(raw) == 0 {
		// Said as such: an empty file is a failed build or copy, not
		// some other format.
		return nil, &FormatError{Msg: "empty file, not a kernel module", Err: ErrNotELF}
	}
	m := &klp.Module{Patches: []*klp.Patch{}}
	if !s.opts.NoHash {
		sum := sha256.Sum256(raw)
		m.SHA256 = hex.EncodeToString(sum[:])
	}
	data := raw
	if kind := compressionOf(raw); kind != "" {
		var err error
		m.Compression = kind
		data, err = s.decompress(kind, raw, decompressLimit(len(raw)))
		if err != nil {
			return nil, &FormatError{Msg: err.Error()}
		}
	}
	return scanELF(m, data, s.opts)
}

// decompressLimit bounds what a compressed module may expand to. Modules
// compress about fourfold (the most of Debian's 4,216 .ko.xz, test_bpf,
// 100-fold), so 8192 times the input, near the most xz reaches on zeros,
// is room for any real one while a bomb stops in proportion to its size.
func decompressLimit(n int) int64 {
	return min(maxModule, 8192*int64(n)+1<<20)
}

func scanELF(m *klp.Module, data []byte, opts *Options) (_ *klp.Module, err error) {
	defer func() { err = asFormatError(err) }()
	var sig *klp.Signature
	var n int
	sig, n, err = parseSignature(data)
	switch {
	case errors.Is(err, modsign.ErrNoSignature):
		n = len(data)
	case err != nil:
		return nil, fmt.Errorf("module signature: %w", err)
	default:
		m.Signature = sig
	}
	f, err := elf64.Parse(data[:n])
	if err != nil {
		return nil, err
	}
	m.Arch = f.Arch()
	if m.Modinfo, err = modinfo(f); err != nil {
		return nil, err
	}
	m.Vermagic = first(m.Modinfo, "vermagic")
	m.Name = first(m.Modinfo, "name")
	nameSection := ".modinfo"
	if m.Name == "" {
		m.Name, nameSection = thisModuleName(f), ".gnu.linkonce.this_module"
	}
	m.Livepatch = first(m.Modinfo, "livepatch") == "Y"
	if !m.Livepatch {
		return named(m, nameSection)
	}
	mod := &module{elf: f, rec: m, opts: opts}
	for _, d := range decoders {
		if !d.match(mod) {
			continue
		}
		format := d.format()
		m.Format = &format
		if m.Patches, err = d.decode(mod); err != nil {
			return nil, err
		}
		break
	}
	if mod.layout != nil {
		m.LayoutSource = &mod.layout.source
	}
	if m.KlpRelas, m.KlpSyms, err = klpRefs(f); err != nil {
		return nil, err
	}
	return named(m, nameSection)
}

// named returns m if its names pass checkNames.
func named(m *klp.Module, nameSection string) (*klp.Module, error) {
	if err := checkNames(m, nameSection); err != nil {
		return nil, err
	}
	return m, nil
}

func first(mi map[string][]string, key string) string {
	if v := mi[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// modinfo parses .modinfo: NUL-separated key=value strings.
func modinfo(f *elf64.File) (map[string][]string, error) {
	out := make(map[string][]string)
	i := f.Section(".modinfo")
	if i < 0 {
		return nil, formatErr(".modinfo", 0, "missing: not a kernel module")
	}
	d := f.SectionData(i)
	if d == nil {
		return nil, formatErr(".modinfo", 0, "has no contents")
	}
	for _, kv := range bytes.Split(d, []byte{0}) {
		if len(kv) == 0 {
			continue
		}
		k, v, _ := strings.Cut(string(kv), "=")
		out[k] = append(out[k], v)
	}
	return out, nil
}

// thisModuleName reads the name of struct module in
// .gnu.linkonce.this_module, for modules built before modpost wrote a
// name= tag. The name sits after the state and list fields on 64-bit.
func thisModuleName(f *elf64.File) string {
	i := f.Section(".gnu.linkonce.this_module")
	if i < 0 {
		return ""
	}
	const nameOff, nameLen = 24, 56
	b, err := f.Read(i, nameOff, nameLen)
	if err != nil {
		return ""
	}
	s, _ := elf64.CString(b, 0)
	return s
}
