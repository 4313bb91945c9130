package capture

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// withoutDWARF is the klp-build module klpb_kobject with its debug
// sections renamed (klp-build also drops .BTF) and its vermagic moved to
// a kernel the built-in layout table does not know (7.9): its scan
// cannot read replace, so the record says unknown.
func withoutDWARF(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "gen", "klp-build", "ko", "klpb_kobject.ko"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	shoff := binary.LittleEndian.Uint64(b[40:])
	names := f.Sections[binary.LittleEndian.Uint16(b[62:])]
	for i, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") {
			at := names.Offset + uint64(binary.LittleEndian.Uint32(b[shoff+uint64(i)*64:]))
			copy(b[at:], ".hidden")
		}
	}
	vm := []byte("vermagic=7.2.13 ")
	if bytes.Count(b, vm) != 1 {
		t.Fatalf("klpb_kobject.ko: want one %q", vm)
	}
	copy(b[bytes.Index(b, vm):], "vermagic=7.9.13 ")
	return b
}

// TestCaptureUnknownReplace: the kernel's replace fills in a replace the
// module's scan could not read, without a mismatch.
func TestCaptureUnknownReplace(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "klpb_kobject.ko"), withoutDWARF(t), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, replace := range []string{"0", "1"} {
		t.Run("replace="+replace, func(t *testing.T) {
			sysfs := tree(fake{"klpb_kobject", map[string]string{"enabled": "1", "transition": "0", "replace": replace, "stack_order": "1"},
				map[string]fakeObject{"kobject_example": {patched: "1", funcs: []string{"b_show,1", "foo_show,1"}}}})
			st, rep, err := Capture(context.Background(), sysfs, []string{dir}, &CaptureOptions{KernelRelease: "7.9.13"})
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Patches) != 1 || len(st.Patches[0].Patches) != 1 {
				t.Fatalf("captured %d patches, want 1 with its module", len(st.Patches))
			}
			kp := st.Patches[0].Patches[0]
			if kp.Replace != (replace == "1") || kp.ReplaceSource != klp.ReplaceSysfs || kp.ReplaceHint != "" {
				t.Errorf("replace = %t (%s, hint %q), want %s from sysfs", kp.Replace, kp.ReplaceSource, kp.ReplaceHint, replace)
			}
			for _, e := range rep.Entries {
				if e.Kind == EntryMismatch {
					t.Errorf("mismatch reported: %s", e.Msg)
				}
			}
		})
	}
}
