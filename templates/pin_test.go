package templates

import (
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

// notes is a /sys/kernel/notes stream: the two Linux notes the test
// kernel has, then the GNU build-id note holding id (hex).
func notes(t *testing.T, id string) []byte {
	t.Helper()
	desc, err := hex.DecodeString(id)
	if err != nil {
		t.Fatal(err)
	}
	note := testutil.ELFNote
	return slices.Concat(note("Linux\x00", 0x100, []byte{0, 0, 0, 0}), note("Linux\x00", 0x101, []byte{0}), note("GNU\x00", 3, desc))
}

// TestLoaderPinnedBuild: packages that pin a kernel build load on that
// build only; on another build of the same release the loader loads
// nothing, says which builds differ and exits 1.
func TestLoaderPinnedBuild(t *testing.T) {
	const (
		built   = "46f129f6d4168327b666a02d6287bcd5ece77f9b"
		rebuilt = "dc9e5df3c94a0a844ce50eb9ef87b7d7efbf3d22"
	)
	pin := func(id string) string { return "klpack-target 1\nbuild-id " + id + "\n" }
	tests := []struct {
		name string
		// targets are the target files of lp_a's and lp_b's packages
		// ("" for none); notes the kernel's notes file (nil: absent).
		targets  [2]string
		notes    []byte
		wantCode int
		wantLog  []string
		wantErr  string
		// wantStatus is the line status prints of the pin ("" for none).
		wantStatus string
	}{{
		name:       "pinned to the running build",
		targets:    [2]string{pin(built), pin(built)},
		notes:      notes(t, built),
		wantLog:    []string{"insmod lp_a", "insmod lp_b"},
		wantStatus: "klpack-load: pinned to kernel build " + built + "; running build " + built + "\n",
	}, {
		// A type-3 note of another owner comes first: not the build-id.
		name:       "pinned to the running build, after a foreign type-3 note",
		targets:    [2]string{pin(built), ""},
		notes:      slices.Concat([]byte{4, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 'X', 'e', 'n', 0, 0xde, 0xad, 0xbe, 0xef}, notes(t, built)),
		wantLog:    []string{"insmod lp_a", "insmod lp_b"},
		wantStatus: "klpack-load: pinned to kernel build " + built + "; running build " + built + "\n",
	}, {
		name:    "no pin: any build",
		notes:   notes(t, rebuilt),
		wantLog: []string{"insmod lp_a", "insmod lp_b"},
	}, {
		name:    "no pin, no notes",
		wantLog: []string{"insmod lp_a", "insmod lp_b"},
	}, {
		name:       "another build of the same release",
		targets:    [2]string{pin(built), pin(built)},
		notes:      notes(t, rebuilt),
		wantCode:   1,
		wantErr:    "klpack-load: running kernel 6.1.0-56-amd64 is build " + rebuilt + ", the installed patches are pinned to build " + built + ": another build of the same release; nothing loaded\n",
		wantStatus: "klpack-load: pinned to kernel build " + built + "; running build " + rebuilt + "\n",
	}, {
		name:       "one package pinned to another build",
		targets:    [2]string{pin(built), pin(rebuilt)},
		notes:      notes(t, built),
		wantCode:   1,
		wantErr:    "pinned to build " + built + " " + rebuilt + ": another build",
		wantStatus: "klpack-load: pinned to kernel build " + built + " " + rebuilt + "; running build " + built + "\n",
	}, {
		name:       "pinned, notes unreadable",
		targets:    [2]string{pin(built), ""},
		wantCode:   1,
		wantErr:    "cannot read the running kernel's build-id from ",
		wantStatus: "klpack-load: pinned to kernel build " + built + "; running build unknown\n",
	}, {
		name:       "pinned, notes truncated",
		targets:    [2]string{pin(built), ""},
		notes:      notes(t, built)[:40],
		wantCode:   1,
		wantErr:    "cannot read the running kernel's build-id",
		wantStatus: "klpack-load: pinned to kernel build " + built + "; running build unknown\n",
	}, {
		name:       "pinned, notes claim 4 GiB",
		targets:    [2]string{pin(built), ""},
		notes:      append(binary.LittleEndian.AppendUint32([]byte{4, 0, 0, 0}, 0xfffffffc), 3, 0, 0, 0, 'G', 'N', 'U', 0),
		wantCode:   1,
		wantErr:    "cannot read the running kernel's build-id",
		wantStatus: "klpack-load: pinned to kernel build " + built + "; running build unknown\n",
	}, {
		name:     "a target file this loader does not read",
		targets:  [2]string{"klpack-target 1\nbuild-id $(touch pwned)\n", ""},
		notes:    notes(t, built),
		wantCode: 1,
		wantErr:  "an installed target file of 6.1.0-56-amd64 is not one this loader reads: nothing loaded",
	}, {
		name:     "a target file of a later version",
		targets:  [2]string{"klpack-target 2\nbuild-id " + built + "\n", ""},
		notes:    notes(t, built),
		wantCode: 1,
		wantErr:  "is not one this loader reads",
	}}
	for _, sh := range []string{"busybox", "dash"} {
		for _, tt := range tests {
			t.Run(sh+"/"+tt.name, func(t *testing.T) {
				h := newFakeHost(t, "lp_a", "lp_b")
				for i, m := range []string{"lp_a", "lp_b"} {
					if tt.targets[i] != "" {
						write(t, filepath.Join(h.lib, fakeKernel, "klp-patch-"+m, "target"), tt.targets[i], 0o644)
					}
				}
				if tt.notes != nil {
					if err := os.WriteFile(filepath.Join(h.sys, "kernel", "notes"), tt.notes, 0o444); err != nil {
						t.Fatal(err)
					}
				}
				_, stderr, code := h.run(sh, "start")
				if code != tt.wantCode {
					t.Errorf("klpack-load start = exit %d, want %d\nstderr:\n%s", code, tt.wantCode, stderr)
				}
				if got := h.log(); !slices.Equal(got, tt.wantLog) {
					t.Errorf("klpack-load start ran %q, want %q", got, tt.wantLog)
				}
				if !strings.Contains(stderr, tt.wantErr) {
					t.Errorf("stderr:\n%s\nwant it to contain %q", stderr, tt.wantErr)
				}
				if _, err := os.Stat(filepath.Join(h.dir, "pwned")); err == nil {
					t.Errorf("a target file's content ran")
				}
				// status names the pin and the running build.
				stdout, _, _ := h.run(sh, "status")
				if tt.wantStatus != "" && !strings.Contains(stdout, tt.wantStatus) || tt.wantStatus == "" && strings.Contains(stdout, "pinned") {
					t.Errorf("klpack-load status:\n%s\nwant it to say %q", stdout, tt.wantStatus)
				}
			})
		}
	}
}
