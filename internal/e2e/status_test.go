//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klpack/klpack/pkg/klp"
)

// TestStatusGuest runs `klpack status` in a guest, one boot per kernel:
// after the loader installed a release (e2e_r cumulative, e2e_c
// off-band), status exits 0 and shows both patches with their packages
// and whose code runs their functions; then e2e_busy_patch, which no
// package installed, is loaded while e2e_busy's thread sleeps in the
// function it replaces: status exits 1 and shows the transition, the
// thread not yet switched and its frame in the original e2e_busy_sleep.
//
// KLPACK_E2E_KERNELS picks the kernels (default: 6.12 and test: before
// and after stack_order).
func TestStatusGuest(t *testing.T) {
	g := setupGuests(t, "6.12", "test")
	// Built here, not in the shared cache: another tree's build there
	// could be what the guest runs.
	bin := filepath.Join(t.TempDir(), "klpack")
	build := exec.CommandContext(t.Context(), "go", "build", "-tags", "klpack_host", "-o", bin, "./cmd/klpack")
	build.Dir = g.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static klpack: %v\n%s", err, out)
	}
	c := loaderCase{
		name:    "status",
		release: []relModule{{file: "e2e_r.ko", layer: klp.LayerCumulative}, {file: "e2e_c.ko", layer: klp.LayerOffBand}},
		// The thread sleeps past the end of the boot.
		before: []string{"e2e_busy.ko sleep_ms=600000"},
		steps: "run settled klpack status\n" +
			"run json klpack status --json\n" +
			"run busy insmod /lib/modules/e2e/e2e_busy_patch.ko\n" +
			// The kernel switches every task it can within a second
			// or so: what is left blocks.
			"sleep 3\n" +
			"run blocked klpack status\n",
	}
	for _, k := range g.kernels {
		t.Run(k.Name, func(t *testing.T) {
			t.Parallel()
			initrd, _ := loaderInitramfs(t, g.busybox, bin, k, c)
			// The kernel unpacks concatenated cpio archives in turn: the
			// second brings the patch the guest loads by hand.
			ko, err := os.ReadFile(filepath.Join(k.Modules, "e2e_busy_patch.ko"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(initrd, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			w := bufio.NewWriter(f)
			if err := WriteCPIO(w, []File{{Path: "lib/modules/e2e/e2e_busy_patch.ko", Mode: 0o644, Data: ko}}); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			var console bytes.Buffer
			boot := &Boot{Qemu: g.qemu, Kernel: k.Vmlinuz, Initrd: initrd, Timeout: 240 * time.Second, Log: &console}
			t0 := time.Now()
			err = boot.Run(t.Context())
			run := parseLoaderRun(console.Bytes())
			logPath := filepath.Join(g.outDir, "status@"+k.Name+".log")
			if err != nil || !run.ended {
				os.WriteFile(logPath, console.Bytes(), 0o644)
				t.Fatalf("boot %s: %v (ended %v); console kept in %s\n%s", k.Name, err, run.ended, logPath, tail(console.String(), 40))
			}
			t.Logf("boot %s", time.Since(t0).Round(100*time.Millisecond))
			checkStatusGuest(t, run, k)
			if t.Failed() || os.Getenv("KLPACK_E2E_KEEP") == "1" {
				os.WriteFile(logPath, console.Bytes(), 0o644)
				t.Logf("console kept in %s", logPath)
			}
		})
	}
}

func checkStatusGuest(t *testing.T, run *loaderRun, k kernelInfo) {
	t.Helper()
	if run.rc["install"] != 0 {
		t.Fatalf("install: rc %d:\n%s", run.rc["install"], strings.Join(run.out["install"], "\n"))
	}
	// 6.13+ shows stack_order; before, the loader's record gives the order.
	order := "loader"
	if slices.ContainsFunc(run.patches["post"], func(p lpPatch) bool { return p.stackOrder != "-" }) {
		order = "stack_order"
	}
	expect := func(tag string, rc int, want ...string) {
		t.Helper()
		out := strings.Join(run.out[tag], "\n")
		if run.rc[tag] != rc {
			t.Errorf("%s: klpack status exited %d, want %d:\n%s", tag, run.rc[tag], rc, out)
		}
		for _, w := range want {
			// "!" asks for no line matching.
			w, none := strings.CutPrefix(w, "!")
			re := regexp.MustCompile("(?m)" + w)
			if got := re.MatchString(out); got == none {
				t.Errorf("%s: a line matching %q: %v, want %v, in:\n%s", tag, w, got, !none, out)
			}
		}
	}
	// The cumulative package is named after the kernel alone.
	pkgR, pkgC := `klp-patch-\S+ 1\.0`, `klp-patch-\S+-e2e-c 1\.0`
	expect("settled", 0,
		"^kernel "+regexp.QuoteMeta(k.Release)+"$",
		"^livepatches, bottom of the stack first \\(order from "+order+"\\):$",
		`^  1 e2e_r: enabled, replace; cumulative `+pkgR,
		`^  2 e2e_c: enabled; off-band `+pkgC,
		`^  vmlinux/cmdline_proc_show,1: e2e_r$`,
		`^  vmlinux/uptime_proc_show,1: e2e_c$`,
		`^ok: the host runs what its packages say$`,
		`!not ok`)
	// The module files the packages installed are matched: RootDir/usr/lib/klpack/<release>.
	expect("json", 0, `"schema": "klpack.status/v1"`, `"ok": true`, `"transition": null`,
		`"module_file": "/usr/lib/klpack/`+regexp.QuoteMeta(k.Release)+`/\S+/e2e_r.ko"`)
	if run.rc["busy"] != 0 {
		t.Fatalf("insmod e2e_busy_patch: rc %d:\n%s", run.rc["busy"], strings.Join(run.out["busy"], "\n"))
	}
	expect("blocked", 1,
		"^livepatches, bottom of the stack first \\(order from "+order+"\\):$",
		`^  3 e2e_busy_patch: enabled, in transition; no package`,
		`^  e2e_busy/e2e_busy_sleep,1: e2e_busy_patch \(tasks not yet switched: original\)$`,
		`^transition: e2e_busy_patch patching, [1-9][0-9]* task\(s\) not yet switched$`,
		`^  pid [0-9]+ e2e_busy: patch_state 0$`,
		`^    \[<[0-9a-f]+>\] e2e_busy_sleep\+0x[0-9a-f]+/0x[0-9a-f]+ \[e2e_busy\]: in original's code of e2e_busy/e2e_busy_sleep,1$`,
		// Only tasks not yet switched (patch_state 0) are listed.
		`!patch_state [^0]`,
		`^not ok: e2e_busy_patch is loaded but no installed package claims it$`,
		`^not ok: e2e_busy_patch is in transition \(patching\): `)
}
