//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klpack/klpack/build"
	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

// hooksInit is the guest's /init for TestHooksGuest. Every step prints
// "KLPH <tag> ..." lines: a command's output and exit status ("rc"), and
// what /proc/meminfo's first line says when read from a task of cgroup a,
// b or the root ("read").
const hooksInit = `#!/bin/busybox sh
export PATH=/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
busybox --install -s /bin
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mkdir /sys/fs/cgroup/a /sys/fs/cgroup/b
LP=/sys/kernel/livepatch
M=/lib/modules/e2e
say() { echo "KLPH $*"; }
run() {
	tag=$1
	shift
	"$@" </dev/null >/tmp/out 2>&1
	rc=$?
	while IFS= read -r l; do say "$tag out $l"; done </tmp/out
	say "$tag rc $rc"
}
# reads TAG: read the patched function from each cgroup
reads() {
	for cg in a b root; do
		dir=/sys/fs/cgroup/$cg
		[ $cg = root ] && dir=/sys/fs/cgroup
		l=$(sh -c "echo \$\$ >$dir/cgroup.procs && head -n 1 /proc/meminfo")
		say "$1 read $cg $l"
	done
}
settle() {
	while grep -qs 1 $LP/*/transition; do usleep 10000; done
}
say "begin $(uname -r)"
run load1 insmod $M/e2e_hook1.ko
settle
reads plain
KE=/sys/kernel/tracing/kprobe_events
run bare1 sh -c "echo 'p:klpack/bare e2e_hook_value' >$KE && echo '-:klpack/bare' >>$KE"
run attach klpack hooks attach /e2e/e2e_hook_value.bpf.o
run set-a klpack hooks set e2e_hook_value --cgroup /sys/fs/cgroup/a --value -5
run set-b klpack hooks set e2e_hook_value --cgroup /sys/fs/cgroup/b --value -7
run attach2 klpack hooks attach /e2e/e2e_hook_value.bpf.o
reads hooked
run status1 klpack hooks status
run load2 insmod $M/e2e_hookcum.ko
settle
reads replaced
run status2 klpack hooks status
run bare2 sh -c "echo 'p:klpack/bare e2e_hook_value' >$KE || { cat /sys/kernel/tracing/error_log; exit 1; }"
run sync klpack hooks sync
reads synced
run status3 klpack hooks status --json
run rmmod1 rmmod e2e_hook1
run load3 sh -c "insmod $M/e2e_hookcum2.ko && klpack hooks sync --wait"
reads upgraded
run status4 klpack hooks status
run detach klpack hooks detach --all
reads detached
echo "KLPE end"
echo "KLPE halt"
sync
reboot -f
`

// TestHooksGuest proves the hook runtime on the test kernel (Debian's
// kernels have no CONFIG_FUNCTION_ERROR_INJECTION): the hook of the
// off-band patch e2e_hook1 is built from its scan, attached, and
// overrides e2e_hook_value per cgroup; the cumulative e2e_hookcum replaces
// e2e_hook1 (a mainline kernel keeps no off-band patch), which klpack
// check predicts (KLP016) and the guest shows: the probe stays on
// e2e_hook1's copy, nobody calls it, every cgroup reads 0. klpack hooks
// sync moves the probe to e2e_hookcum's copy and the values come back;
// the next upgrade, with sync --wait, never loses them.
func TestHooksGuest(t *testing.T) {
	g := setupGuests(t, "test", "6.12")
	clang := testutil.NeedTool(t, "clang")
	strip := testutil.NeedTool(t, "llvm-strip")
	bin := g.staticKlpack(t)
	g.eachKernel(t, func(t *testing.T, k kernelInfo) { hooksGuest(t, g, k, bin, clang, strip) })
}

func hooksGuest(t *testing.T, g *guests, k kernelInfo, bin, clang, strip string) {
	scan := func(name string) *klp.Module {
		m, err := elfscan.Open(filepath.Join(k.Modules, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	hook1, cum := scan("e2e_hook1.ko"), scan("e2e_hookcum.ko")

	// What check predicts for loading e2e_hookcum over e2e_hook1.
	predict := func(model string) []check.Finding {
		st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: k.Release, Model: model},
			Patches: []*deploy.Patch{{Module: *hook1, Enabled: true, LoadOrder: 1, Layer: klp.LayerOffBand}}}
		rep, err := check.Check(&check.Input{Deployed: st, Candidates: []*klp.Module{cum}})
		if err != nil {
			t.Fatal(err)
		}
		var out []check.Finding
		for _, f := range rep.Findings {
			if f.Rule == check.RuleHookMoves || f.Rule == check.RuleHookLost {
				out = append(out, f)
			}
		}
		return out
	}
	mainline := predict(deploy.ModelMainline)
	if len(mainline) != 1 || mainline[0].Rule != check.RuleHookMoves || !slices.Equal(mainline[0].Functions, []string{"e2e_hook_value"}) {
		t.Fatalf("check on mainline: want one %s for e2e_hook_value, have %+v", check.RuleHookMoves, mainline)
	}
	if hybrid := predict(deploy.ModelHybrid); len(hybrid) != 0 {
		t.Fatalf("check on hybrid (e2e_hook1 kept): want no hook finding, have %+v", hybrid)
	}
	t.Logf("check predicts: %s %s", mainline[0].Rule, mainline[0].Message)

	objs, err := build.Build(t.Context(), []*klp.Module{hook1}, &build.Options{Clang: clang, Strip: strip})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Hook.Func != "e2e_hook_value" {
		t.Fatalf("want one hook object for e2e_hook_value, have %d", len(objs))
	}

	initrd := hooksInitramfs(t, g.busybox, bin, k, objs[0].ELF)
	var console bytes.Buffer
	boot := &Boot{Qemu: g.qemu, Kernel: k.Vmlinuz, Initrd: initrd, Timeout: 180 * time.Second, Log: &console}
	t0 := time.Now()
	err = boot.Run(t.Context())
	logPath := filepath.Join(g.outDir, "hooks@"+k.Name+".log")
	r := parseHooksRun(console.Bytes())
	if err != nil || !r.ended {
		os.WriteFile(logPath, console.Bytes(), 0o644)
		t.Fatalf("boot: %v (ended %v); console kept in %s\n%s", err, r.ended, logPath, tail(console.String(), 40))
	}
	t.Logf("boot %s", time.Since(t0).Round(100*time.Millisecond))
	defer func() {
		if t.Failed() || os.Getenv("KLPACK_E2E_KEEP") == "1" {
			os.WriteFile(logPath, console.Bytes(), 0o644)
			t.Logf("console kept in %s", logPath)
		}
	}()

	rc := func(tag string, want int) {
		t.Helper()
		got, ok := r.rc[tag]
		if !ok || got != want {
			t.Errorf("%s: exit %d (ran %v), want %d; output:\n  %s", tag, got, ok, want, strings.Join(r.out[tag], "\n  "))
		}
	}
	says := func(tag, re string) []string {
		t.Helper()
		m := regexp.MustCompile(re)
		for _, l := range r.out[tag] {
			if s := m.FindStringSubmatch(l); s != nil {
				return s
			}
		}
		t.Errorf("%s: no line matches %q; output:\n  %s", tag, re, strings.Join(r.out[tag], "\n  "))
		return nil
	}
	// reads: which patch's code ran and the value the hook returned, per
	// cgroup.
	reads := func(tag, patch string, a, b int) {
		t.Helper()
		for cg, want := range map[string]int{"a": a, "b": b, "root": 0} {
			line := r.reads[tag+" "+cg]
			wantLine := fmt.Sprintf("klpe %s - meminfo_proc_show hook=%d", patch, want)
			if line != wantLine {
				t.Errorf("%s, cgroup %s: read %q, want %q", tag, cg, line, wantLine)
			}
		}
	}

	rc("load1", 0)
	reads("plain", "e2e_hook1", 0, 0)
	if k.Name != "test" {
		// Debian's kernels have no CONFIG_BPF_KPROBE_OVERRIDE: the
		// verifier refuses the program, attach says so and exits 1.
		rc("attach", 1)
		says("attach", `kernel refused: .*bpf_override_return`)
		reads("hooked", "e2e_hook1", 0, 0)
		return
	}
	rc("bare1", 0) // one module defines e2e_hook_value: the bare name works
	rc("attach", 0)
	says("attach", `^e2e_hook_value\tattached e2e_hook1:e2e_hook_value\t`)
	rc("set-a", 0)
	rc("set-b", 0)
	// Attaching again (a reinstall, a new object) keeps the values: the
	// new links are renamed over the old, the maps reused.
	rc("attach2", 0)
	says("attach2", `^e2e_hook_value\tattached e2e_hook1:e2e_hook_value\t`)
	reads("hooked", "e2e_hook1", -5, -7)
	rc("status1", 0)
	says("status1", `^e2e_hook_value\tok$`)

	// The replace: the kprobe stays on e2e_hook1's copy, which nothing
	// calls any more; every cgroup reads 0, and status says so.
	rc("load2", 0)
	reads("replaced", "e2e_hookcum", 0, 0)
	rc("status2", 1)
	says("status2", `BYPASSED: no probe on e2e_hookcum`)
	// The bare name is ambiguous now (two modules define it): the kernel
	// refuses it, which is why klpack probes <module>:<func>.
	rc("bare2", 1)
	says("bare2", `The symbol is not unique`)
	rc("sync", 0)
	says("sync", `^e2e_hook_value\tattached e2e_hookcum:e2e_hook_value\t\(live copy without a probe, `)
	says("sync", `^e2e_hook_value\tdetached e2e_hook1:e2e_hook_value\t\(patch replaced or removed, `)
	reads("synced", "e2e_hookcum", -5, -7)
	rc("status3", 0)
	rc("rmmod1", 0)

	// The next upgrade with sync --wait: the values hold throughout.
	rc("load3", 0)
	settled := says("load3", `^sync: transitions done (\S+) after the start, probes settled (\S+) after that$`)
	says("load3", `attached e2e_hookcum2:e2e_hook_value`)
	says("load3", `detached e2e_hookcum:e2e_hook_value`)
	reads("upgraded", "e2e_hookcum2", -5, -7)
	rc("status4", 0)
	says("status4", `^  calls \d+, overrides \d+, refused 0$`)
	rc("detach", 0)
	reads("detached", "e2e_hookcum2", 0, 0)

	attach := says("sync", `attached e2e_hookcum:e2e_hook_value\t\(live copy without a probe, (\S+)\)`)
	early := says("load3", `attached e2e_hookcum2:e2e_hook_value\t\(live copy without a probe, (\S+)\)`)
	if attach != nil && settled != nil && early != nil {
		report := fmt.Sprintf("hooks on %s: after the replace, klpack hooks sync re-attached the probe in %s; "+
			"insmod then klpack hooks sync --wait probed the new copy in %s, saw the transition done %s after it started "+
			"and removed the old probe %s later\n", k.Release, attach[1], early[1], settled[1], settled[2])
		t.Log(report)
		os.WriteFile(filepath.Join(g.outDir, "hooks.txt"), []byte(report), 0o644)
	}
}

// hooksRun is what the guest printed.
type hooksRun struct {
	ended bool
	rc    map[string]int
	out   map[string][]string
	reads map[string]string // "TAG CGROUP" → the line read
}

func parseHooksRun(console []byte) *hooksRun {
	r := &hooksRun{rc: map[string]int{}, out: map[string][]string{}, reads: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(console))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.Contains(line, "KLPE end") {
			r.ended = true
		}
		_, rest, ok := strings.Cut(line, "KLPH ")
		if !ok {
			continue
		}
		f := strings.SplitN(rest, " ", 3)
		if len(f) < 3 {
			continue
		}
		switch f[1] {
		case "rc":
			r.rc[f[0]], _ = strconv.Atoi(f[2])
		case "out":
			r.out[f[0]] = append(r.out[f[0]], f[2])
		case "read":
			cg, l, _ := strings.Cut(f[2], " ")
			r.reads[f[0]+" "+cg] = l
		}
	}
	return r
}

func hooksInitramfs(t *testing.T, busybox, klpackBin string, k kernelInfo, obj []byte) string {
	t.Helper()
	in := &Initramfs{Init: []byte(hooksInit), Busybox: busybox, Klpack: klpackBin, Modules: k.Modules,
		Files: map[string][]byte{"e2e_hook_value.bpf.o": obj}}
	var b bytes.Buffer
	if err := in.Write(&b); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "initrd.cpio")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
