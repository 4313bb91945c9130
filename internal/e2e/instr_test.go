//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klpack/klpack/elfscan"
)

// instrScript turns on e2e_dbg's pr_debug, pokes e2e_dbg_poke (a write
// to its module parameter) before and after e2e_nodbg replaces it, then
// with e2e_keepdbg's copy, and prints the kernel's klpe lines after each
// poke.
const instrScript = `mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
P=/sys/module/e2e_dbg/parameters/poke
CTL=/proc/dynamic_debug/control
[ -e $CTL ] || CTL=/sys/kernel/debug/dynamic_debug/control
settle() {
	while grep -qs 1 $LP/*/transition; do usleep 10000; done
}
# poke TAG N: run e2e_dbg_poke(N), then show the kernel's lines of it
poke() {
	dmesg -c >/dev/null
	echo $2 >$P
	run $1 sh -c "dmesg | grep -o 'klpe.*'"
}
say "begin $(uname -r)"
run load insmod $M/e2e_dbg.ko
run enable sh -c "echo 'module e2e_dbg +p' >$CTL"
run sites sh -c "grep -o 'e2e_dbg.*' $CTL"
poke original 1
run patch insmod $M/e2e_nodbg.ko
settle
poke nodbg 2
run unpatch sh -c "echo 0 >$LP/e2e_nodbg/enabled"
settle
run rmmod rmmod e2e_nodbg
run keep insmod $M/e2e_keepdbg.ko
settle
run enable2 sh -c "echo 'module e2e_keepdbg +p' >$CTL"
poke keepdbg 3
`

// TestInstrumentationGuest proves KLP019 on Debian's kernels (built with
// CONFIG_DYNAMIC_DEBUG; the test kernel is not): klpack check --target on
// the modules directory warns that e2e_nodbg loses e2e_dbg_poke's dyndbg
// site and is quiet for e2e_keepdbg; in the guest the enabled pr_debug
// prints before e2e_nodbg is loaded and not after, and e2e_keepdbg's copy
// prints it again once its own site is enabled.
func TestInstrumentationGuest(t *testing.T) {
	g := setupGuests(t, "6.1", "7.2")
	bin := g.staticKlpack(t)
	g.eachKernel(t, func(t *testing.T, k kernelInfo) { instrGuest(t, g, k, bin) })
}

func instrGuest(t *testing.T, g *guests, k kernelInfo, bin string) {
	// What the host predicts, from the built klpack, as a user runs it.
	checkOut := func(patch string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bin, "check", "--target", k.Modules, filepath.Join(k.Modules, patch))
		cmd.Env = append(os.Environ(), "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("klpack check --target %s %s: %v\n%s", k.Modules, patch, err, out)
		}
		return string(out)
	}
	target, err := elfscan.OpenSites(filepath.Join(k.Modules, "e2e_dbg.ko"))
	if err != nil {
		t.Fatal(err)
	}
	nodbg, keepdbg := checkOut("e2e_nodbg.ko"), checkOut("e2e_keepdbg.ko")
	if len(target.Funcs["e2e_dbg_poke"]) == 0 {
		// A kernel without CONFIG_DYNAMIC_DEBUG compiles pr_debug out:
		// nothing to lose, nothing to say.
		if strings.Contains(nodbg, "KLP019") {
			t.Fatalf("%s has no dyndbg site in e2e_dbg_poke, yet check says:\n%s", k.Name, nodbg)
		}
		t.Logf("%s: e2e_dbg_poke holds no pr_debug site (no CONFIG_DYNAMIC_DEBUG): check quiet, no guest", k.Name)
		return
	}
	want := `warning KLP019 instrumentation-lost: e2e_nodbg: e2e_dbg_poke of e2e_dbg loses dyndbg "klpe-dbg poke %d\n" (e2e_dbg.c:19) while livepatch_e2e_dbg_poke runs instead`
	if !strings.Contains(nodbg, want+"\n") || !strings.Contains(nodbg, "  functions: e2e_dbg/e2e_dbg_poke,1\n") {
		t.Errorf("check e2e_nodbg.ko: want\n%s\nhave\n%s", want, nodbg)
	}
	if strings.Contains(keepdbg, "KLP019") {
		t.Errorf("check e2e_keepdbg.ko: want no KLP019, have\n%s", keepdbg)
	}

	r := g.runScript(t, k, "instr", bin, instrScript, 180*time.Second)
	// lines: the klpe lines a poke printed must be exactly these.
	lines := func(tag string, want ...string) {
		t.Helper()
		if got := r.out[tag]; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: the kernel printed\n  %s\nwant\n  %s", tag, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		t.Logf("%s: %s", tag, strings.Join(r.out[tag], " | "))
	}
	for _, tag := range []string{"load", "enable", "sites", "patch", "unpatch", "rmmod", "keep", "enable2"} {
		r.wantRC(t, tag, 0)
	}
	// The site as the kernel lists it: e2e_dbg.c:19, enabled (=p).
	if site := regexp.MustCompile(`e2e_dbg\.c:19 \[e2e_dbg\]e2e_dbg_poke =p "klpe-dbg poke %d\\(n|012)"`); !site.MatchString(strings.Join(r.out["sites"], "\n")) {
		t.Errorf("dynamic_debug/control lists %q, want e2e_dbg.c:19's site enabled", r.out["sites"])
	}
	lines("original", "klpe-dbg poke 1", "klpe e2e_dbg original e2e_dbg_poke 1")
	lines("nodbg", "klpe e2e_nodbg e2e_dbg_poke 2")
	lines("keepdbg", "klpe-dbg poke 3", "klpe e2e_keepdbg e2e_dbg_poke 3")
}
