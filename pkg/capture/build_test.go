package capture

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/klp"
)

// gnuNote is an NT_GNU_BUILD_ID note as /sys/kernel/notes holds it.
func gnuNote(id []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 4)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(id)))
	b = binary.LittleEndian.AppendUint32(b, 3)
	return append(append(b, "GNU\x00"...), id...)
}

func TestCaptureKernelBuild(t *testing.T) {
	id := []byte{0xdc, 0x9e, 0x5d, 0xf3, 0xc9, 0x4a, 0x0a, 0x84, 0x4c, 0xe5, 0x0e, 0xb9, 0xef, 0x87, 0xb7, 0xd7, 0xef, 0xbf, 0x3d, 0x22}
	linux := []byte{6, 0, 0, 0, 4, 0, 0, 0, 0, 1, 0, 0, 'L', 'i', 'n', 'u', 'x', 0, 0, 0, 0, 0, 0, 0}
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o444} }
	tests := []struct {
		name        string
		sys         fstest.MapFS
		wantID      string
		wantModules []klp.TargetModule
		wantNote    string
	}{{
		name: "notes and the patched module",
		sys: fstest.MapFS{
			"kernel/notes":                                  file(string(append(linux, gnuNote(id)...))),
			"module/klpack_target/srcversion":               file("4E3F2C8B9A6D1E0F7A5B3C2\n"),
			"module/klpack_target/notes/.note.gnu.build-id": file(string(gnuNote([]byte{1, 2, 3, 4}))),
			// Not a module any patch patches: not recorded.
			"module/ext4/srcversion": file("ABC\n"),
		},
		wantID:      "dc9e5df3c94a0a844ce50eb9ef87b7d7efbf3d22",
		wantModules: []klp.TargetModule{{Name: "klpack_target", Srcversion: "4E3F2C8B9A6D1E0F7A5B3C2", BuildID: "01020304"}},
		wantNote:    "kernel build-id dc9e5df3c94a0a844ce50eb9ef87b7d7efbf3d22",
	}, {
		name:     "no notes",
		sys:      fstest.MapFS{"module/klpack_target/srcversion": file("4E3F\n")},
		wantNote: "kernel build-id unknown: kernel/notes:",
		// The module is known without the kernel's build-id.
		wantModules: []klp.TargetModule{{Name: "klpack_target", Srcversion: "4E3F"}},
	}, {
		name:     "notes without a build-id, srcversion not hex",
		sys:      fstest.MapFS{"kernel/notes": file(string(linux)), "module/klpack_target/srcversion": file("x;y\n")},
		wantNote: "kernel build-id unknown: kernel/notes: no GNU build-id note",
	}, {
		// Bounded: a notes file past 64 KiB is not read whole.
		name:     "notes over the bound",
		sys:      fstest.MapFS{"kernel/notes": file(string(make([]byte, 1<<20)) + string(gnuNote(id)))},
		wantNote: "kernel build-id unknown: kernel/notes:",
	}, {
		name:     "notes a directory",
		sys:      fstest.MapFS{"kernel/notes/x": file("")},
		wantNote: "kernel build-id unknown: kernel/notes: not a regular file",
	}, {
		name:     "notes truncated",
		sys:      fstest.MapFS{"kernel/notes": file(string(gnuNote(id)[:20]))},
		wantNote: "kernel build-id unknown: kernel/notes:",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := modules(t, k612, "lp_multiobj.strip-debug.ko")
			sysfs := tree(fake{"lp_multiobj", map[string]string{"enabled": "1", "transition": "0", "replace": "0"}, map[string]fakeObject{
				"vmlinux":       {patched: "1", funcs: []string{"uptime_proc_show,1"}},
				"klpack_target": {patched: "1", funcs: []string{"klpack_target_value,1", "klpack_target_name,1"}},
			}})
			st, rep, err := Capture(context.Background(), sysfs, []string{dir}, &CaptureOptions{Sys: tt.sys})
			if err != nil {
				t.Fatal(err)
			}
			if st.Kernel.BuildID != tt.wantID {
				t.Errorf("kernel.build_id = %q, want %q", st.Kernel.BuildID, tt.wantID)
			}
			if d := cmp.Diff(tt.wantModules, st.Kernel.Modules); d != "" {
				t.Errorf("kernel.modules (-want +got):\n%s", d)
			}
			if lines := strings.Join(rep.Lines(), "\n"); !strings.Contains(lines, tt.wantNote) {
				t.Errorf("report lacks %q:\n%s", tt.wantNote, lines)
			}
		})
	}
}
