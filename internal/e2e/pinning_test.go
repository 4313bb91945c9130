//go:build e2e

package e2e

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// TestPinnedBuildGuest proves the loader's pin on a real kernel: one
// release, made for the test kernel and pinned to its vmlinux build-id,
// is installed on the test kernel and on test-rebuild, the same sources
// built again under the same release string (scripts/e2e/testkernel.sh
// rebuild), whose build-id differs. On the test kernel the loader loads
// the release; on the rebuild it refuses, says which builds differ,
// exits 1 and leaves /sys/kernel/livepatch empty. The packages are the
// test kernel's on both, as a fleet's hosts get them.
//
// It boots test and test-rebuild (KLPACK_E2E_KERNELS may name both).
func TestPinnedBuildGuest(t *testing.T) {
	g := setupGuests(t, "test", "test-rebuild")
	byName := map[string]kernelInfo{}
	for _, k := range g.kernels {
		byName[k.Name] = k
	}
	base, ok := byName["test"]
	if !ok {
		t.Fatalf("the pin is the test kernel's: KLPACK_E2E_KERNELS must name test (it names %v)", slices.Collect(maps.Keys(byName)))
	}
	release := []relModule{
		{file: "e2e_r.ko", layer: klp.LayerCumulative},
		{file: "e2e_c.ko", layer: klp.LayerOffBand},
	}
	pin, err := elfscan.ReadTarget(t.Context(), treeOf(base), nil)
	if err != nil {
		t.Fatal(err)
	}
	klpackBin := g.staticKlpack(t)
	// After the install, deploy capture records the running kernel's
	// build from the real /sys/kernel/notes.
	c := loaderCase{name: "pinned", release: release, target: pin,
		// The state on stdout, the report dropped: the guest's rootfs
		// has no atomic file replacement for -o.
		steps: "run captured sh -c 'klpack deploy capture --sysfs /sys/kernel/livepatch --kernel-release $(uname -r) 2>/dev/null'\n"}
	initrd, _ := loaderInitramfs(t, g.busybox, klpackBin, base, c)
	for _, k := range g.kernels {
		if k.Name != "test" && k.Name != "test-rebuild" {
			continue
		}
		t.Run(k.Name, func(t *testing.T) {
			running, err := elfscan.OpenBuildID(filepath.Join(treeOf(k), "vmlinux"))
			if err != nil {
				t.Fatal(err)
			}
			if k.Release != base.Release {
				t.Fatalf("%s is release %s, the test kernel %s: not a rebuild of the same release", k.Name, k.Release, base.Release)
			}
			if (running == pin.BuildID) != (k.Name == "test") {
				t.Fatalf("%s has build-id %s, the pin %s: the rebuild must differ, the test kernel not", k.Name, running, pin.BuildID)
			}
			var console bytes.Buffer
			boot := &Boot{Qemu: g.qemu, Kernel: k.Vmlinuz, Initrd: initrd, Timeout: 180 * time.Second, Log: &console}
			t0 := time.Now()
			err = boot.Run(t.Context())
			run := parseLoaderRun(console.Bytes())
			logPath := filepath.Join(g.outDir, "pinned@"+k.Name+".log")
			if err != nil || !run.ended {
				os.WriteFile(logPath, console.Bytes(), 0o644)
				t.Fatalf("boot %s: %v (ended %v); console kept in %s\n%s", k.Name, err, run.ended, logPath, tail(console.String(), 40))
			}
			if run.release != k.Release {
				t.Fatalf("guest runs %q, want %s", run.release, k.Release)
			}
			run.nothingOf(t, "pre", release)
			if k.Name == "test" {
				// The build the release pins: loaded as unpinned.
				run.ran(t, "install", 0)
				run.inOrder(t, "install",
					"klpack-load: loading e2e_r (cumulative, order 1)",
					"klpack-load: loading e2e_c (off-band, order 2)",
					"klpack-load: 2 patches for "+k.Release+" in place (2 loaded now)")
				run.settledPatches(t, "post", "e2e_r", "e2e_c")
				run.funcIs(t, "post", map[string]string{"cmdline": "e2e_r", "version": "e2e_c", "uptime": "e2e_c", "meminfo": "e2e_r"})
			} else {
				// Another build of the same release: nothing loaded.
				run.ran(t, "install", 1)
				want := "klpack-load: running kernel " + k.Release + " is build " + running +
					", the installed patches are pinned to build " + pin.BuildID + ": another build of the same release; nothing loaded"
				if !slices.Contains(run.out["install"], want) {
					t.Errorf("install said:\n%s\nwant the line %q", strings.Join(run.out["install"], "\n"), want)
				}
				if run.printed("install", "loading e2e_") {
					t.Errorf("install loaded a module:\n%s", strings.Join(run.out["install"], "\n"))
				}
				run.nothingOf(t, "post", release)
				if len(run.patches["post"]) != 0 {
					t.Errorf("post: /sys/kernel/livepatch holds %v, want it empty", run.patches["post"])
				}
				run.funcIs(t, "post", map[string]string{"cmdline": "original", "version": "original", "uptime": "original", "meminfo": "original"})
			}
			run.ran(t, "captured", 0)
			st, err := deploy.ParseState(strings.NewReader(strings.Join(run.out["captured"], "\n")), "state.json")
			if err != nil {
				t.Errorf("deploy capture wrote %v:\n%s", err, strings.Join(run.out["captured"], "\n"))
			} else if st.Kernel.BuildID != running {
				t.Errorf("deploy capture recorded kernel.build_id %q, want %s, the build-id of %s's vmlinux", st.Kernel.BuildID, running, k.Name)
			}
			t.Logf("%s (build %s, pin %s): boot %s", k.Name, running, pin.BuildID, time.Since(t0).Round(100*time.Millisecond))
			if t.Failed() || os.Getenv("KLPACK_E2E_KEEP") == "1" {
				os.WriteFile(logPath, console.Bytes(), 0o644)
				t.Logf("console kept in %s", logPath)
			}
		})
	}
}

// treeOf is the build tree of one of the test kernels, whose image is
// <tree>/arch/x86/boot/bzImage.
func treeOf(k kernelInfo) string {
	return filepath.Clean(filepath.Join(filepath.Dir(k.Vmlinuz), "..", "..", ".."))
}
