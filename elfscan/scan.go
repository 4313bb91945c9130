package elfscan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/pkg/klp"
)

// Options tune a scan. The zero value is ready to use.
type Options struct {
	// VmlinuxBTF is the BTF of the kernel the modules were built for. With
	// it, modules without DWARF take their struct layouts from their own
	// split BTF instead of the built-in table.
	VmlinuxBTF *btf.Spec
}

// maxModule bounds the size of a module file, and of a compressed module
// once decompressed: the largest modules distributions ship are tens of MiB.
const maxModule = 1 << 30

// Open scans the module file at path.
func Open(path string, opts *Options) (m *klp.Module, err error) {
	defer func() {
		if err == nil {
			m.Path = path
			return
		}
		if fe, ok := errors.AsType[*FormatError](err); ok && fe.Path == "" {
			fe.Path = path
			return
		}
		err = fmt.Errorf("file %s: %w", path, err)
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, &FormatError{Msg: "not a regular file"}
	}
	if st.Size() > maxModule {
		return nil, &FormatError{Msg: fmt.Sprintf("size %d over the %d-byte limit", st.Size(), maxModule)}
	}
	// Mapping the file spares a copy of every byte; most of a module is
	// only hashed.
	return withMapped(f, st.Size(), func(b []byte) (*klp.Module, error) {
		return scanBytes(b, opts)
	})
}

// NewReader scans the module held in r, size bytes long: plain ELF, or
// compressed with xz, zstd or gzip.
func NewReader(r io.ReaderAt, size int64, opts *Options) (*klp.Module, error) {
	if size < 0 || size > maxModule {
		return nil, &FormatError{Msg: fmt.Sprintf("size %d out of range", size)}
	}
	raw, err := safeio.ReadAll(io.NewSectionReader(r, 0, size), size)
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != size {
		return nil, &FormatError{Msg: fmt.Sprintf("truncated: read %d of %d bytes", len(raw), size)}
	}
	return scanBytes(raw, opts)
}

// scanBytes scans a whole module file. The result holds no reference to
// raw, which may be unmapped afterwards.
func scanBytes(raw []byte, opts *Options) (*klp.Module, error) {
	if opts == nil {
		opts = &Options{}
	}
	sum := sha256.Sum256(raw)
	m := &klp.Module{SHA256: hex.EncodeToString(sum[:]), Patches: []*klp.Patch{}}
	data := raw
	if kind := compressionOf(raw); kind != "" {
		var err error
		m.Compression = kind
		data, err = decompress(kind, bytes.NewReader(raw), maxModule)
		if err != nil {
			return nil, &FormatError{Msg: fmt.Sprintf("%s: %v", kind, err)}
		}
	}
	return scanELF(m, data, opts)
}

func scanELF(m *klp.Module, data []byte, opts *Options) (*klp.Module, error) {
	sig, n, err := parseSignature(data)
	switch {
	case errors.Is(err, ErrNoSignature):
		n = len(data)
	case err != nil:
		return nil, fmt.Errorf("module signature: %w", err)
	default:
		m.Signature = sig
	}
	f, err := parseELF(data[:n])
	if err != nil {
		return nil, err
	}
	m.Arch = archName(f.machine)
	if m.Modinfo, err = modinfo(f); err != nil {
		return nil, err
	}
	m.Vermagic = first(m.Modinfo, "vermagic")
	m.Name = first(m.Modinfo, "name")
	if m.Name == "" {
		m.Name = thisModuleName(f)
	}
	m.Livepatch = first(m.Modinfo, "livepatch") == "Y"
	if !m.Livepatch {
		return m, nil
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
	return m, nil
}

func first(mi map[string][]string, key string) string {
	if v := mi[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// modinfo parses .modinfo: NUL-separated key=value strings.
func modinfo(f *elfFile) (map[string][]string, error) {
	out := make(map[string][]string)
	i := f.section(".modinfo")
	if i < 0 {
		return nil, formatErr(".modinfo", 0, "missing: not a kernel module")
	}
	d := f.sectionData(i)
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
func thisModuleName(f *elfFile) string {
	i := f.section(".gnu.linkonce.this_module")
	if i < 0 {
		return ""
	}
	const nameOff, nameLen = 24, 56
	b, err := f.read(i, nameOff, nameLen)
	if err != nil {
		return ""
	}
	s, _ := cstring(b, 0)
	return s
}
