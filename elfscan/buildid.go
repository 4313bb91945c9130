package elfscan

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/klpack/klpack/pkg/klp"
)

// ErrNoBuildID: an ELF file or note stream without an NT_GNU_BUILD_ID note
// (a kernel linked without --build-id).
var ErrNoBuildID = errors.New("no GNU build-id note")

// maxNotes bounds a note section or stream: a kernel's notes (build-id,
// Xen and Linux notes) take a few hundred bytes.
const maxNotes = 64 << 10

// maxBuildID bounds the build-id itself: ld writes 20 bytes (sha1) or 16
// (md5/uuid); a longer one is not ld's.
const maxBuildID = 64

// ParseBuildID returns the hex build-id of the first NT_GNU_BUILD_ID note
// in b, a stream of ELF notes in the host's little-endian layout (a note
// section, or /sys/kernel/notes, which holds the running kernel's).
func ParseBuildID(b []byte) (string, error) {
	for off := 0; off < len(b); {
		if len(b)-off < 12 {
			return "", &FormatError{Section: ".notes", Off: uint64(off), Msg: "truncated note header"}
		}
		namesz := uint64(binary.LittleEndian.Uint32(b[off:]))
		descsz := uint64(binary.LittleEndian.Uint32(b[off+4:]))
		typ := binary.LittleEndian.Uint32(b[off+8:])
		name := uint64(off) + 12
		desc := name + align4(namesz)
		end := desc + align4(descsz)
		// Sizes are 32-bit, so these sums cannot overflow a uint64.
		if end > uint64(len(b)) {
			return "", &FormatError{Section: ".notes", Off: uint64(off), Msg: fmt.Sprintf("note of %d+%d bytes runs past the %d-byte stream", namesz, descsz, len(b))}
		}
		if typ == ntGNUBuildID && namesz == 4 && string(b[name:name+4]) == "GNU\x00" {
			if descsz == 0 || descsz > maxBuildID {
				return "", &FormatError{Section: ".notes", Off: uint64(off), Msg: fmt.Sprintf("build-id of %d bytes", descsz)}
			}
			return hex.EncodeToString(b[desc : desc+descsz]), nil
		}
		off = int(end)
	}
	return "", ErrNoBuildID
}

// ntGNUBuildID is NT_GNU_BUILD_ID (elf.h); debug/elf does not name it.
const ntGNUBuildID = 3

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// BuildID returns the GNU build-id of the ELF file r (a vmlinux or a
// module): it reads the note sections only, never the whole file.
func BuildID(r io.ReaderAt) (id string, err error) {
	// debug/elf is not hardened against hostile input: a panic is bad input.
	defer func() {
		if p := recover(); p != nil {
			id, err = "", &FormatError{Msg: fmt.Sprintf("malformed ELF: %v", p)}
		}
	}()
	f, err := elf.NewFile(r)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return "", &FormatError{Msg: err.Error(), Err: ErrNotELF}
		}
		return "", err
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE || s.Size == 0 {
			continue
		}
		if s.Size > maxNotes {
			return "", &FormatError{Section: s.Name, Msg: fmt.Sprintf("note section of %d bytes over the %d-byte limit", s.Size, maxNotes)}
		}
		b := make([]byte, s.Size)
		if _, err := s.ReadAt(b, 0); err != nil {
			return "", &FormatError{Section: s.Name, Msg: "cannot read: " + err.Error()}
		}
		id, err := ParseBuildID(b)
		if errors.Is(err, ErrNoBuildID) {
			continue
		}
		if fe, ok := errors.AsType[*FormatError](err); ok {
			fe.Section = s.Name
		}
		return id, err
	}
	return "", ErrNoBuildID
}

// OpenBuildID is BuildID of the file at path.
func OpenBuildID(path string) (string, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return "", fmt.Errorf("file %s: %w", path, err)
	}
	defer f.Close()
	id, err := BuildID(f)
	if err != nil {
		return "", nameFile(path, err)
	}
	return id, nil
}

// Build reads the build identity of the kernel whose files the target
// holds: the build-id of its vmlinux, and the srcversion and build-id of
// each module of objects (module names as livepatch objects name them,
// vmlinux skipped) it holds. A module it does not hold is left out: its
// identity is unknown, not wrong. Nil, and no error, when the target has
// no vmlinux: there is no build to pin.
func (t *Target) Build(ctx context.Context, objects []string) (*klp.Target, error) {
	vmlinux, err := t.Path(klp.VmlinuxName)
	if err != nil || vmlinux == "" {
		return nil, err
	}
	id, err := OpenBuildID(vmlinux)
	if err != nil {
		return nil, fmt.Errorf("target directory %s: %w", t.Dir, err)
	}
	out := &klp.Target{BuildID: id}
	seen := map[string]bool{}
	for _, o := range objects {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		obj := klp.ModuleKey(o)
		if obj == klp.VmlinuxName || seen[obj] {
			continue
		}
		seen[obj] = true
		p, err := t.Path(obj)
		if err != nil {
			return nil, err
		}
		if p == "" {
			continue
		}
		m, err := Open(p, nil)
		if err != nil {
			return nil, err
		}
		if klp.ModuleKey(m.Name) != obj {
			return nil, fmt.Errorf("file %s: module %s, where its file name says %s", p, m.Name, obj)
		}
		tm := klp.TargetModule{Name: m.Name, Srcversion: first(m.Modinfo, "srcversion")}
		if m.Compression == "" {
			if tm.BuildID, err = OpenBuildID(p); err != nil && !errors.Is(err, ErrNoBuildID) {
				return nil, err
			}
		}
		out.Modules = append(out.Modules, tm)
	}
	klp.SortTargetModules(out.Modules)
	// A srcversion is the module's own text: one that is not a digest
	// would reach messages and package files.
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("target directory %s: %w", t.Dir, err)
	}
	return out, nil
}

// ReadTarget is Build of the target files under dir, which must hold a
// vmlinux: a release asked to pin a build that is not there.
func ReadTarget(ctx context.Context, dir string, objects []string) (*klp.Target, error) {
	t, err := FindTarget(ctx, dir)
	if err != nil {
		return nil, err
	}
	b, err := t.Build(ctx, objects)
	if err == nil && b == nil {
		err = fmt.Errorf("target directory %s: no vmlinux: no kernel build to pin", dir)
	}
	return b, err
}
