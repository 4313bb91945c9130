//go:build e2e

package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// tracingScript is TestTracingGuest's guest (runScript); a step's exit
// status is e2e-insmod's errno for a load.
//
//  1. e2e_kprobe post=1: a kprobe with a post handler on
//     cmdline_proc_show. deploy capture --tracing records the host; check
//     of e2e_a on that state must say KLP022; insmod e2e_a must fail with
//     EBUSY, and dmesg say why.
//  2. e2e_kprobe post=0: no post handler. check is quiet and e2e_a loads:
//     /proc/cmdline runs e2e_a's code, and the kprobe still fires.
//  3. e2e_a enabled beside that kprobe: the record has two ftrace users
//     and names neither; capture with e2e_a's module, check of e2e_n (also
//     cmdline_proc_show) must be quiet: the I is e2e_a's, which e2e_n
//     stacks on.
//  4. the other way round: with e2e_a enabled, a kprobe with a post
//     handler is refused (EBUSY) on 6.x; 7.2's __register_kprobe returns
//     0 when arm_kprobe fails, so the module loads and its kprobe never
//     fires.
const tracingScript = `mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
T=/sys/kernel/tracing
[ -r $T/enabled_functions ] || T=/sys/kernel/debug/tracing
R=$(uname -r)
mkdir -p /tmp/a
cp $M/e2e_a.ko /tmp/a/
snap() {
	out $1.ef <$T/enabled_functions
	[ -r /sys/kernel/debug/kprobes/list ] && out $1.kp </sys/kernel/debug/kprobes/list
}
capture() {
	tag=$1; mods=$2
	# To stdout: the test kernel's tmpfs has no O_TMPFILE for -o.
	klpack deploy capture --sysfs /sys/kernel/livepatch --modules $mods --kernel-release $R --tracing >/tmp/$tag.json 2>/tmp/o </dev/null
	rc=$?
	out $tag </tmp/o
	say "$tag rc $rc"
	out $tag.state </tmp/$tag.json
}

run kp1 e2e-insmod $M/e2e_kprobe.ko post=1
snap post
capture st1 /tmp/none
run check1 klpack check --deployed /tmp/st1.json $M/e2e_a.ko
# The same from the live files, through check's own flags.
KP=
[ -r /sys/kernel/debug/kprobes/list ] && KP="--kprobes /sys/kernel/debug/kprobes/list"
run check1f klpack check --enabled-functions $T/enabled_functions $KP $M/e2e_a.ko
dmesg -c >/dev/null
run load1 e2e-insmod $M/e2e_a.ko
dmesg | out dmesg1
out cmd1 </proc/cmdline
run rm1 rmmod e2e_kprobe

run kp2 e2e-insmod $M/e2e_kprobe.ko post=0
snap nopost
capture st2 /tmp/none
run check2 klpack check --deployed /tmp/st2.json $M/e2e_a.ko
run load2 e2e-insmod $M/e2e_a.ko
sleep 2
out cmd2 </proc/cmdline
out hits2 </sys/module/e2e_kprobe/parameters/pre_hits

snap stack
capture st3 /tmp/a
run check3 klpack check --deployed /tmp/st3.json $M/e2e_n.ko

run rm4 rmmod e2e_kprobe
run kp4 e2e-insmod $M/e2e_kprobe.ko post=1
cat /proc/cmdline >/dev/null
snap after4
[ -r /sys/module/e2e_kprobe/parameters/pre_hits ] && out hits4 </sys/module/e2e_kprobe/parameters/pre_hits
`

// TestTracingGuest proves KLP022 on real kernels: the rule fires where
// the kernel refuses the patch, and is quiet where the kernel loads it
// (see tracingScript). KLPACK_E2E_KERNELS picks the kernels (default: the
// test kernel, whose tinyconfig has no debugfs, so no kprobes list; and
// Debian's 6.1, 6.12 and 7.2, which have both files; 6.12's and 7.2's
// IBT put the kprobe at +0x4; 7.2 registers a kprobe it cannot arm).
func TestTracingGuest(t *testing.T) {
	g := setupGuests(t, "test", "6.1", "6.12", "7.2")
	bin := g.staticKlpack(t)
	g.eachKernel(t, func(t *testing.T, k kernelInfo) {
		checkTracingGuest(t, g.runScript(t, k, "tracing", bin, tracingScript, 300*time.Second), k)
	})
}

func checkTracingGuest(t *testing.T, run *scriptRun, k kernelInfo) {
	t.Helper()
	// Debian's 6.1 has debugfs, so the kprobes list names the probe;
	// the test kernel has none, and the handler names it.
	hasList := len(run.out["post.kp"]) > 0
	if k.Name == "6.1" && !hasList {
		t.Errorf("6.1: no kprobes list read; Debian's kernel has debugfs")
	}
	rc := func(tag string, want int) {
		t.Helper()
		run.wantRC(t, tag, want)
	}
	match := func(tag string, want ...string) {
		t.Helper()
		text := strings.Join(run.out[tag], "\n")
		for _, w := range want {
			w, none := strings.CutPrefix(w, "!")
			if got := regexp.MustCompile("(?m)" + w).MatchString(text); got == none {
				t.Errorf("%s: a line matching %q: %v, want %v, in:\n%s", tag, w, got, !none, text)
			}
		}
	}

	// 1. The kprobe with a post handler holds cmdline_proc_show's I.
	rc("kp1", 0)
	match("post.ef", `^cmdline_proc_show \(1\) +R +I `)
	if hasList {
		match("post.kp", `^[0-9a-f]+  k  cmdline_proc_show\+0x[0-9a-f]+ +\[FTRACE\]$`)
	}
	rc("st1", 0)
	match("st1.state", `"function": "cmdline_proc_show"`, `"ipmodify": true`)
	owner := `a kprobe with a post handler \(kprobe_ftrace_handler; no kprobes list to name it\)`
	if hasList {
		owner = `the kprobe at cmdline_proc_show\+0x[0-9a-f]+, which has a post handler \(kprobe_ipmodify_ops\)`
	}
	for _, tag := range []string{"check1", "check1f"} {
		rc(tag, 1)
		match(tag, `^error KLP022 ftrace-ipmodify-conflict: e2e_a patches vmlinux/cmdline_proc_show,1, which already has an IPMODIFY ftrace user: `+owner+`; enabling e2e_a fails with EBUSY`,
			`!KLP022.*version_proc_show`)
	}
	// As predicted: EBUSY, and the message check quotes.
	rc("load1", 16)
	match("dmesg1", `livepatch: failed to register ftrace handler for function 'cmdline_proc_show' \(-16\)`)
	match("cmd1", `!^klpe`)
	rc("rm1", 0)

	// 2. Without post handler: no I, check quiet, the patch loads.
	rc("kp2", 0)
	match("nopost.ef", `^cmdline_proc_show \(1\) +R {3}`)
	rc("st2", 0)
	match("st2.state", `!"ipmodify"`)
	rc("check2", 0)
	match("check2", `no findings`)
	rc("load2", 0)
	match("cmd2", `^klpe e2e_a - cmdline_proc_show$`)
	match("hits2", `^[1-9][0-9]*$`)

	// 3. Two users, neither named: the I is e2e_a's, and e2e_n stacks.
	match("stack.ef", `^cmdline_proc_show \(2\) +R +I `)
	rc("st3", 0)
	rc("check3", 0)
	match("check3", `!KLP022`)

	// 4. The kernel's rule the other way round.
	rc("rm4", 0)
	if strings.HasPrefix(k.Release, "6.") {
		rc("kp4", 16)
		return
	}
	// 7.2: register_kprobe says 0, but the probe is not armed: the
	// record keeps the livepatch alone and the probe never fires.
	rc("kp4", 0)
	match("after4.ef", `^cmdline_proc_show \(1\) +I .*\(klp_ftrace_handler\+`)
	match("hits4", `^0$`)
}
