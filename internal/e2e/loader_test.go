//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klpack/klpack/build"
	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/order"
	"github.com/klpack/klpack/pkg/pack"
)

// TestLoaderGuest runs the package loader (templates/loader.sh, as
// pkg/pack renders and installs it) in a qemu guest against the real
// kernel's livepatch core. Each case is one boot whose initramfs holds the
// files of a release exactly where its packages install them
// (/usr/lib/klpack/<kernel>/<package>/: the .ko, the loader, the order
// file, the manifest; the unit), and the deb package scripts; the guest
// runs the post-install script as dpkg does ("postinst configure"), which
// execs the loader, and prints what the loader said and what the kernel
// then holds.
//
// KLPACK_E2E_KERNELS picks the kernels (default: test 6.1 6.12).
func TestLoaderGuest(t *testing.T) {
	g := setupGuests(t, "test", "6.1", "6.12")
	qemu, busybox, ctx, kernels, outDir := g.qemu, g.busybox, t.Context(), g.kernels, g.outDir
	parallel := 2
	if v := os.Getenv("KLPACK_E2E_PARALLEL"); v != "" {
		fmt.Sscan(v, &parallel)
	}
	sem := make(chan struct{}, max(parallel, 1))
	klpackBin := g.staticKlpack(t)
	for _, k := range kernels {
		for _, c := range loaderCases {
			if c.kernels != nil && !slices.Contains(c.kernels, k.Name) {
				continue
			}
			t.Run(c.name+"@"+k.Name, func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				initrd, _ := loaderInitramfs(t, busybox, klpackBin, k, c)
				var console bytes.Buffer
				boot := &Boot{Qemu: qemu, Kernel: k.Vmlinuz, Initrd: initrd, Append: c.append, Timeout: 180 * time.Second, Log: &console}
				t0 := time.Now()
				err := boot.Run(ctx)
				elapsed := time.Since(t0).Round(100 * time.Millisecond)
				logPath := filepath.Join(outDir, "loader-"+c.name+"@"+k.Name+".log")
				g := parseLoaderRun(console.Bytes())
				if err != nil || !g.ended {
					os.WriteFile(logPath, console.Bytes(), 0o644)
					t.Fatalf("boot %s: %v (ended %v); console kept in %s\n%s", k.Name, err, g.ended, logPath, tail(console.String(), 40))
				}
				if g.release != k.Release {
					t.Fatalf("guest runs %q, want %s", g.release, k.Release)
				}
				c.check(t, g, c.release)
				for _, tag := range g.tags {
					t.Logf("%s: rc %d in %d ms", tag, g.rc[tag], g.ms[tag])
				}
				t.Logf("%s on %s: boot %s", c.name, k.Release, elapsed)
				if t.Failed() || os.Getenv("KLPACK_E2E_KEEP") == "1" {
					os.WriteFile(logPath, console.Bytes(), 0o644)
					t.Logf("console kept in %s", logPath)
				}
			})
		}
	}
}

// relModule is one module of a case's release, in load order.
type relModule struct {
	file  string // in the kernel's e2e module directory
	layer string
	hooks bool // its package carries the objects of its hook points
}

// loaderCase is one guest boot.
type loaderCase struct {
	name    string
	release []relModule
	// timeout is the loader's rendered timeout per transition (seconds;
	// 0: the default).
	timeout int
	// before are modules of the host (not of the release) loaded first:
	// "FILE [PARAM=VALUE...]".
	before []string
	// pre are shell lines run after before and ahead of the install.
	pre string
	// kernels are the guests the case runs on (nil: all).
	kernels []string
	// steps are shell lines run after the install: guest script
	// functions run TAG CMD... and state TAG; $PKG1.. name the packages'
	// script directories, in load order.
	steps string
	// kernel is the release the packages are for, when not the guest's.
	kernel string
	// append is extra kernel command line.
	append string
	// next is a release 2.0 staged under /e2e/next, planned against
	// release 1.0 loaded: the guest's "upgrade" puts its packages in
	// place as the package manager would (the upgraded packages' old
	// files go, the others stay).
	next []relModule
	// target pins the release's packages to a kernel build (nil: none).
	target *klp.Target
	check  func(t *testing.T, g *loaderRun, release []relModule)
}

const (
	busySleepMS   = 60000
	busyTimeoutS  = 3
	lpDefaultWait = 0
	// upgradeTimeoutS outlasts the signal the upgrade cases send.
	upgradeTimeoutS = 40
)

// upgradeSteps defines "upgrade", which puts release 2.0's packages in
// place as a package manager upgrade does: the old files of the packages
// 2.0 has go, the other packages stay.
const upgradeSteps = `upgrade() {
	for d in /e2e/next/usr/lib/klpack/*/*/; do
		d=${d%/}
		rm -rf "/usr/lib/klpack/$(uname -r)/${d##*/}"
	done
	cp -a /e2e/next/usr/. /usr/
}
upgrade
`

var loaderCases = []loaderCase{
	{
		// A cumulative patch and two off-band ones. The order files say
		// e2e_r, e2e_c, e2e_a; the package directories sort as e2e_r,
		// e2e_a, e2e_c. e2e_r replaces every patch loaded before it, so
		// loading it later than an off-band patch would drop that patch.
		name: "success",
		release: []relModule{
			{file: "e2e_r.ko", layer: klp.LayerCumulative},
			{file: "e2e_c.ko", layer: klp.LayerOffBand},
			{file: "e2e_a.ko", layer: klp.LayerOffBand},
		},
		timeout: lpDefaultWait,
		// Run again (a reinstall): nothing to do. Then remove the
		// package of e2e_a: dpkg's file trigger runs the loader, which
		// unloads it.
		steps: "run again /e2e/loader/postinst configure\nstate again\n" +
			"rm -rf /usr/lib/klpack/$(uname -r)/$PKG3\nrun remove /e2e/loader/postinst triggered\nstate removed\n" +
			"run status /usr/lib/klpack/$(uname -r)/klpack-load status\n",
		check: checkSuccess,
	},
	{
		// e2e_s2r sets klp_state 0x10 version 2; e2e_n has no state; the
		// kernel refuses e2e_s1, which brings the same state back to
		// version 1.
		name: "refused",
		release: []relModule{
			{file: "e2e_s2r.ko", layer: klp.LayerCumulative},
			{file: "e2e_n.ko", layer: klp.LayerOffBand},
			{file: "e2e_s1.ko", layer: klp.LayerOffBand},
		},
		timeout: lpDefaultWait,
		check:   checkRefused,
	},
	{
		// e2e_busy's thread sleeps busySleepMS in the function
		// e2e_busy_patch replaces; the loader waits busyTimeoutS.
		name: "stalled",
		release: []relModule{
			{file: "e2e_r.ko", layer: klp.LayerCumulative},
			{file: "e2e_busy_patch.ko", layer: klp.LayerOffBand},
			{file: "e2e_c.ko", layer: klp.LayerOffBand},
		},
		timeout: busyTimeoutS,
		before:  []string{"e2e_busy.ko sleep_ms=" + strconv.Itoa(busySleepMS)},
		check:   checkStalled,
	},
	{
		// A cumulative upgrade over a patch whose hook is attached and
		// overrides for cgroup a. e2e_hookcum replaces e2e_hook1 (a
		// mainline kernel), so the probe on e2e_hook1's copy goes dead;
		// the loader's "hooks sync" right after the insmod probes
		// e2e_hookcum's copy and its final "hooks sync --wait" drops the
		// old probe. Only the test kernel can override (Debian's lack
		// CONFIG_BPF_KPROBE_OVERRIDE).
		name:    "hooks",
		kernels: []string{"test"},
		release: []relModule{{file: "e2e_hookcum.ko", layer: klp.LayerCumulative, hooks: true}},
		before:  []string{"e2e_hook1.ko"},
		pre: "run pre-attach klpack hooks attach /usr/lib/klpack/$(uname -r)/$PKG1/hooks/e2e_hook_value.bpf.o\n" +
			"run pre-set klpack hooks set e2e_hook_value --cgroup /sys/fs/cgroup/a --value -5\n" +
			"run pre-read readcg a\n",
		steps: "run read-a readcg a\nrun read-root readcg root\nrun hooks-status klpack hooks status\n",
		check: checkHooks,
	},
	{
		// An upgrade of the cumulative patch with the off-band patch
		// kept: e2e_s2r replaces e2e_r, which on a mainline kernel
		// removes e2e_c too; the plan unloads both and loads e2e_c again
		// from its package, which the upgrade left in place.
		name:    "upgrade",
		release: []relModule{{file: "e2e_r.ko", layer: klp.LayerCumulative}, {file: "e2e_c.ko", layer: klp.LayerOffBand}},
		next:    []relModule{{file: "e2e_s2r.ko", layer: klp.LayerCumulative}},
		steps:   upgradeSteps + "run upgrade /e2e/loader/postinst triggered\nstate upgraded\n",
		check:   checkUpgrade,
	},
	{
		// The upgrade's new off-band patch stalls (e2e_busy's thread
		// sleeps in the function it replaces); systemd's stop timeout
		// sends SIGTERM: the loader puts release 1.0 back.
		name:    "upgrade-sigterm",
		release: []relModule{{file: "e2e_r.ko", layer: klp.LayerCumulative}, {file: "e2e_c.ko", layer: klp.LayerOffBand}},
		next:    []relModule{{file: "e2e_s0r.ko", layer: klp.LayerCumulative}, {file: "e2e_busy_patch.ko", layer: klp.LayerOffBand}},
		timeout: upgradeTimeoutS,
		before:  []string{"e2e_busy.ko sleep_ms=" + strconv.Itoa(busySleepMS)},
		steps: upgradeSteps + "run term sh -c '/e2e/loader/postinst triggered & p=$!; sleep 6; kill -TERM $p; wait $p'\n" +
			"state after\n",
		check: checkUpgradeTerm,
	},
	{
		// As upgrade-sigterm, but the new cumulative e2e_s2r sets
		// klp_state 0x10 version 2, which e2e_r (a replace without it)
		// cannot take back: the kernel refuses e2e_r over it, so the way
		// back unloads release 2.0's patches first (klpack release says
		// so before shipping), then loads release 1.0 again.
		name:    "upgrade-sigterm-state",
		release: []relModule{{file: "e2e_r.ko", layer: klp.LayerCumulative}, {file: "e2e_c.ko", layer: klp.LayerOffBand}},
		next:    []relModule{{file: "e2e_s2r.ko", layer: klp.LayerCumulative}, {file: "e2e_busy_patch.ko", layer: klp.LayerOffBand}},
		timeout: upgradeTimeoutS,
		before:  []string{"e2e_busy.ko sleep_ms=" + strconv.Itoa(busySleepMS)},
		steps: upgradeSteps + "run term sh -c '/e2e/loader/postinst triggered & p=$!; sleep 6; kill -TERM $p; wait $p'\n" +
			"state after\n",
		check: checkUpgradeTermState,
	},
	{
		// The same stall, the loader killed with SIGKILL, then run again
		// (with a short timeout): it takes over the stale lock, finishes
		// the interrupted run's restore, tries the plan again, and when
		// that stalls too, puts release 1.0 back.
		name:    "upgrade-sigkill",
		release: []relModule{{file: "e2e_r.ko", layer: klp.LayerCumulative}, {file: "e2e_c.ko", layer: klp.LayerOffBand}},
		next:    []relModule{{file: "e2e_s0r.ko", layer: klp.LayerCumulative}, {file: "e2e_busy_patch.ko", layer: klp.LayerOffBand}},
		timeout: upgradeTimeoutS,
		before:  []string{"e2e_busy.ko sleep_ms=" + strconv.Itoa(busySleepMS)},
		steps: upgradeSteps + "run kill sh -c '/e2e/loader/postinst triggered & p=$!; sleep 6; kill -KILL $p; wait $p'\n" +
			"state killed\nrun again env KLPACK_TIMEOUT=" + strconv.Itoa(busyTimeoutS) + " /e2e/loader/postinst triggered\nstate after\n",
		check: checkUpgradeKill,
	},
	{
		// The escape hatch: klpack.enable=0 on the kernel command line.
		name:    "disabled",
		release: []relModule{{file: "e2e_r.ko", layer: klp.LayerCumulative}},
		append:  "klpack.enable=0",
		check:   checkDisabled,
	},
	{
		// Packages for another kernel: the loader leaves this one alone.
		name:    "other-kernel",
		release: []relModule{{file: "e2e_r.ko", layer: klp.LayerCumulative}},
		kernel:  otherKernel,
		check:   checkOtherKernel,
	},
}

// otherKernel is a release no guest runs.
const otherKernel = "0.0.0-klpack-other"

// loaderInit is the guest's /init. It prints "KLPL ..." lines:
//
//	KLPL begin RELEASE
//	KLPL TAG out LINE          what a command printed (stdout and stderr)
//	KLPL TAG rc CODE ms MS     its exit status and run time
//	KLPL TAG patch NAME enabled=E transition=T stack_order=S
//	KLPL TAG mod NAME          an e2e module in /proc/modules
//	KLPL TAG func FILE WHO     whose code shows /proc/FILE
//	KLPL TAG lock              the loader's lock directory is left
//	KLPL dmesg LINE
//
// and "KLPE end" then "KLPE halt" last, which the Boot waits for.
const loaderInit = `#!/bin/busybox sh
export PATH=/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
busybox --install -s /bin
mkdir -p /run
# For the hooks case: a cgroup v2 hierarchy with cgroup a, and bpffs.
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null && mkdir /sys/fs/cgroup/a
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
LP=/sys/kernel/livepatch
say() { echo "KLPL $*"; }
# readcg CGROUP: the first line of /proc/meminfo, read by a task of
# CGROUP (a, or root).
readcg() {
	d=/sys/fs/cgroup
	[ "$1" = root ] || d=$d/$1
	sh -c "echo \$\$ >$d/cgroup.procs && head -n 1 /proc/meminfo"
}
# now_ms: time since boot, in 10 ms steps: the start time of a new
# process (field 22 of its stat, in USER_HZ ticks). Not /proc/uptime:
# e2e_c patches uptime_proc_show.
now_ms() {
	echo $(($(cut -d ' ' -f 22 /proc/self/stat) * 10))
}
run() {
	tag=$1
	shift
	t0=$(now_ms)
	"$@" </dev/null >/tmp/out 2>&1
	rc=$?
	t1=$(now_ms)
	while IFS= read -r l; do say "$tag out $l"; done </tmp/out
	say "$tag rc $rc ms $((t1 - t0))"
}
state() {
	for d in "$LP"/*; do
		[ -d "$d" ] || continue
		say "$1 patch ${d##*/} enabled=$(cat "$d/enabled") transition=$(cat "$d/transition") stack_order=$(cat "$d/stack_order" 2>/dev/null || echo -)"
	done
	while read -r m _; do
		case $m in e2e_*) say "$1 mod $m" ;; esac
	done </proc/modules
	for f in cmdline version uptime meminfo; do
		set -- "$1" $(head -n 1 /proc/$f)
		who=original
		[ "$2" = klpe ] && who=$3
		say "$1 func $f $who"
	done
	[ -d /run/klpack-load.lock ] && say "$1 lock"
}
# The first second of uptime is not to be trusted for timing (a kernel
# may switch clocksources then): start after it.
while [ "$(now_ms)" -lt 2000 ]; do usleep 100000; done
say "begin $(uname -r)"
dmesg -c >/dev/null
. /e2e/steps
dmesg | while IFS= read -r l; do say "dmesg $l"; done
echo "KLPE end"
echo "KLPE halt"
sync
if [ -d /sys/firmware/acpi ]; then
	poweroff -f
fi
reboot -f
`

// caseRelease is the release of mods, version v, for the case's kernel.
func caseRelease(t *testing.T, k kernelInfo, c loaderCase, v string, mods []relModule) *pack.Release {
	t.Helper()
	rel := &pack.Release{Kernel: cmp.Or(c.kernel, k.Release), Version: v, Arch: "x86_64"}
	for _, m := range mods {
		p := filepath.Join(k.Modules, m.file)
		rec, err := elfscan.Open(p, nil)
		if err != nil {
			t.Fatalf("scan %s: %v", p, err)
		}
		pm := &pack.Module{Record: rec, Layer: m.layer, File: p}
		if m.hooks {
			objs, err := build.Build(t.Context(), []*klp.Module{rec}, nil)
			if err != nil {
				t.Fatal(err)
			}
			paths, err := build.Write(t.TempDir(), objs)
			if err != nil {
				t.Fatal(err)
			}
			pm.Hooks = paths
		}
		rel.Modules = append(rel.Modules, pm)
	}
	return rel
}

// planUpgrade plans next against rel as the loader leaves it: every
// patch enabled, in load order, from its installed file.
func planUpgrade(t *testing.T, rel, next *pack.Release) *order.Plan {
	t.Helper()
	st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: rel.Kernel}}
	for _, s := range rel.Specs() {
		rec := *s.Module.Record
		rec.Path = s.Dir() + "/" + rec.Name + ".ko"
		st.Patches = append(st.Patches, &deploy.Patch{Module: rec, Enabled: true, LoadOrder: s.LoadOrder, Layer: s.Module.Layer})
	}
	var cands []*klp.Module
	for _, m := range next.Modules {
		cands = append(cands, m.Record)
	}
	p, err := order.Make(&check.Input{Deployed: st, Candidates: cands}, check.Error)
	if err != nil || !p.OK {
		t.Fatalf("plan of release %s over %s: %+v, %v", next.Version, rel.Version, p, err)
	}
	return p
}

// loaderInitramfs stages the case's release with pkg/pack and writes the
// initramfs; it returns its path and the package names in load order.
func loaderInitramfs(t *testing.T, busybox, klpackBin string, k kernelInfo, c loaderCase) (string, []string) {
	t.Helper()
	rel := caseRelease(t, k, c, "1.0", c.release)
	rel.Target = c.target
	if c.next != nil {
		// As klpack release does: the packages carry the plan, here of
		// a first release onto an empty kernel.
		rel.Plan = planUpgrade(t, &pack.Release{Kernel: rel.Kernel}, rel)
	}
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	files := []File{
		{Path: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1},
		{Path: "dev/null", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, Major: 1, Minor: 3},
		{Path: "init", Mode: 0o755, Data: []byte(loaderInit)},
		{Path: "bin/busybox", Mode: 0o755, Data: bb},
		{Path: "bin/sh", Mode: fs.ModeSymlink | 0o777, Data: []byte("busybox")},
	}
	kb, err := os.ReadFile(klpackBin)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, File{Path: "bin/klpack", Mode: 0o755, Data: kb})
	dirs := map[string]bool{}
	var dirList []string
	addDir := func(p string) {
		for d := p; d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			dirList = append(dirList, d)
		}
	}
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "run", "e2e", "lib/modules/e2e"} {
		addDir(d)
	}
	add := func(dest string, mode fs.FileMode, src string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dest = strings.TrimPrefix(dest, "/")
		addDir(path.Dir(dest))
		files = append(files, File{Path: dest, Mode: mode, Data: b})
	}
	var pkgs []string
	var steps strings.Builder
	// stageAll installs the packages of r under root (the guest's /, or
	// /e2e/next), and the loader package's deb post-install script as
	// root/e2e/loader/postinst.
	stageAll := func(r *pack.Release, root string) {
		stage := t.TempDir()
		for _, s := range append(r.Specs(), r.LoaderSpec()) {
			dir := filepath.Join(stage, s.Name)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			st, err := pack.Stage(s, dir, c.timeout)
			if err != nil {
				t.Fatalf("stage %s: %v", s.Name, err)
			}
			for _, f := range st.Files {
				add(path.Join(root, f.Dest), f.Mode, f.Source)
			}
			if s.IsLoader() {
				add(path.Join(root, "e2e/loader/postinst"), 0o755, st.Scripts[pack.FormatDeb].PostInstall)
			}
		}
	}
	stageAll(rel, "/")
	for i, s := range rel.Specs() {
		pkgs = append(pkgs, s.Name)
		fmt.Fprintf(&steps, "PKG%d=%s\n", i+1, s.Name)
	}
	if c.next != nil {
		next := caseRelease(t, k, c, "2.0", c.next)
		next.Plan = planUpgrade(t, rel, next)
		stageAll(next, "/e2e/next")
	}
	for _, b := range c.before {
		f := strings.Fields(b)
		add("lib/modules/e2e/"+f[0], 0o644, filepath.Join(k.Modules, f[0]))
		fmt.Fprintf(&steps, "run before insmod /lib/modules/e2e/%s\n", b)
	}
	steps.WriteString(c.pre)
	// dpkg unpacks every package of the transaction, then configures
	// them; the loader package's post-install script loads the whole
	// release, once.
	steps.WriteString("state pre\nrun install /e2e/loader/postinst configure\nstate post\n")
	steps.WriteString(c.steps)
	files = append(files, File{Path: "e2e/steps", Mode: 0o644, Data: []byte(steps.String())})
	slices.Sort(dirList) // parents first
	var all []File
	for _, d := range dirList {
		all = append(all, File{Path: d, Mode: fs.ModeDir | 0o755})
	}
	all = append(all, files...)
	p := filepath.Join(t.TempDir(), "initrd.cpio")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if err := WriteCPIO(w, all); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p, pkgs
}

// loaderRun is what a guest printed.
type loaderRun struct {
	release string
	ended   bool
	tags    []string // run tags in order
	out     map[string][]string
	rc, ms  map[string]int
	patches map[string][]lpPatch // state tag -> patches
	mods    map[string][]string
	funcs   map[string]map[string]string
	lock    map[string]bool
	dmesg   []string
}

type lpPatch struct {
	name                            string
	enabled, transition, stackOrder string
}

func parseLoaderRun(console []byte) *loaderRun {
	g := &loaderRun{out: map[string][]string{}, rc: map[string]int{}, ms: map[string]int{},
		patches: map[string][]lpPatch{}, mods: map[string][]string{}, funcs: map[string]map[string]string{}, lock: map[string]bool{}}
	for line := range strings.Lines(string(console)) {
		line = strings.TrimRight(line, "\r\n")
		if strings.Contains(line, "KLPE end") {
			g.ended = true
		}
		i := strings.Index(line, "KLPL ")
		if i < 0 {
			continue
		}
		rest := line[i+len("KLPL "):]
		tag, rest, _ := strings.Cut(rest, " ")
		switch tag {
		case "begin":
			g.release = rest
			continue
		case "dmesg":
			g.dmesg = append(g.dmesg, rest)
			continue
		}
		kind, rest, _ := strings.Cut(rest, " ")
		f := strings.Fields(rest)
		switch kind {
		case "out":
			g.out[tag] = append(g.out[tag], rest)
		case "rc":
			if len(f) == 3 {
				g.rc[tag], _ = strconv.Atoi(f[0])
				g.ms[tag], _ = strconv.Atoi(f[2])
				g.tags = append(g.tags, tag)
			}
		case "patch":
			if len(f) == 4 {
				p := lpPatch{name: f[0]}
				p.enabled = strings.TrimPrefix(f[1], "enabled=")
				p.transition = strings.TrimPrefix(f[2], "transition=")
				p.stackOrder = strings.TrimPrefix(f[3], "stack_order=")
				g.patches[tag] = append(g.patches[tag], p)
			}
		case "mod":
			g.mods[tag] = append(g.mods[tag], rest)
		case "func":
			if len(f) == 2 {
				if g.funcs[tag] == nil {
					g.funcs[tag] = map[string]string{}
				}
				g.funcs[tag][f[0]] = f[1]
			}
		case "lock":
			g.lock[tag] = true
		}
	}
	return g
}

// ran fails unless the command tagged tag ran and exited as wanted
// (want 0: success; want -1: any failure).
func (g *loaderRun) ran(t *testing.T, tag string, want int) {
	t.Helper()
	rc, ok := g.rc[tag]
	switch {
	case !ok:
		t.Fatalf("%s: the guest did not run it", tag)
	case want == 0 && rc != 0, want < 0 && rc == 0:
		t.Errorf("%s: exit status %d, want %s\n%s", tag, rc, map[bool]string{true: "0", false: "non-zero"}[want == 0], strings.Join(g.out[tag], "\n"))
	}
}

// inOrder fails unless the command's output holds each line, in that
// order.
func (g *loaderRun) inOrder(t *testing.T, tag string, lines ...string) {
	t.Helper()
	out := g.out[tag]
	j := 0
	for _, l := range out {
		if j < len(lines) && l == lines[j] {
			j++
		}
	}
	if j < len(lines) {
		t.Errorf("%s: output lacks, in order, %q (first missing: %q); it printed:\n%s", tag, lines, lines[j], strings.Join(out, "\n"))
	}
}

func (g *loaderRun) printed(tag, sub string) bool {
	return slices.ContainsFunc(g.out[tag], func(l string) bool { return strings.Contains(l, sub) })
}

// nothingOf fails when any module of the release is in the kernel's
// livepatch tree or module list at state tag.
func (g *loaderRun) nothingOf(t *testing.T, tag string, release []relModule) {
	t.Helper()
	for _, p := range g.patches[tag] {
		t.Errorf("%s: patch %s left in /sys/kernel/livepatch (enabled=%s transition=%s)", tag, p.name, p.enabled, p.transition)
	}
	for _, m := range release {
		name := strings.TrimSuffix(m.file, ".ko")
		if slices.Contains(g.mods[tag], name) {
			t.Errorf("%s: module %s left loaded", tag, name)
		}
	}
	if g.lock[tag] {
		t.Errorf("%s: the loader left its lock /run/klpack-load.lock", tag)
	}
}

// settledPatches fails unless the patches at state tag are exactly want,
// enabled and out of transition, stacked in that order.
func (g *loaderRun) settledPatches(t *testing.T, tag string, want ...string) {
	t.Helper()
	ps := slices.Clone(g.patches[tag])
	var names []string
	for _, p := range ps {
		names = append(names, p.name)
		if p.enabled != "1" || p.transition != "0" {
			t.Errorf("%s: %s enabled=%s transition=%s, want enabled and settled", tag, p.name, p.enabled, p.transition)
		}
	}
	if !sameSet(names, want) {
		t.Fatalf("%s: patches %v, want %v", tag, names, want)
	}
	if len(ps) > 0 && ps[0].stackOrder != "-" {
		slices.SortFunc(ps, func(a, b lpPatch) int {
			x, _ := strconv.Atoi(a.stackOrder)
			y, _ := strconv.Atoi(b.stackOrder)
			return x - y
		})
		var got []string
		for _, p := range ps {
			got = append(got, p.name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: stack_order puts the patches as %v, want %v", tag, got, want)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func (g *loaderRun) funcIs(t *testing.T, tag string, want map[string]string) {
	t.Helper()
	for f, w := range want {
		if got := g.funcs[tag][f]; got != w {
			t.Errorf("%s: /proc/%s shows %q's code, want %q", tag, f, got, w)
		}
	}
}

func checkSuccess(t *testing.T, g *loaderRun, release []relModule) {
	g.nothingOf(t, "pre", release)
	g.ran(t, "install", 0)
	g.inOrder(t, "install",
		"klpack-load: loading e2e_r (cumulative, order 1)",
		"klpack-load: loading e2e_c (off-band, order 2)",
		"klpack-load: loading e2e_a (off-band, order 3)",
		"klpack-load: 3 patches for "+g.release+" in place (3 loaded now)")
	g.settledPatches(t, "post", "e2e_r", "e2e_c", "e2e_a")
	g.funcIs(t, "post", map[string]string{"cmdline": "e2e_a", "version": "e2e_a", "uptime": "e2e_c", "meminfo": "e2e_r"})
	if g.lock["post"] {
		t.Errorf("post: the loader left its lock")
	}
	g.ran(t, "again", 0)
	g.inOrder(t, "again",
		"klpack-load: e2e_r already loaded",
		"klpack-load: e2e_c already loaded",
		"klpack-load: e2e_a already loaded",
		"klpack-load: 3 patches for "+g.release+" in place (0 loaded now)")
	g.settledPatches(t, "again", "e2e_r", "e2e_c", "e2e_a")
	g.ran(t, "remove", 0)
	g.inOrder(t, "remove", "klpack-load: unloading e2e_a: its package is no longer installed")
	g.settledPatches(t, "removed", "e2e_r", "e2e_c")
	if slices.Contains(g.mods["removed"], "e2e_a") {
		t.Errorf("removed: module e2e_a still loaded")
	}
	g.funcIs(t, "removed", map[string]string{"cmdline": "e2e_r", "version": "e2e_c", "uptime": "e2e_c", "meminfo": "e2e_r"})
	g.ran(t, "status", 0)
	g.inOrder(t, "status", "1 e2e_r cumulative: enabled=1 transition=0", "2 e2e_c off-band: enabled=1 transition=0")
	if g.printed("status", "e2e_a") {
		t.Errorf("status: lists e2e_a, whose package is gone:\n%s", strings.Join(g.out["status"], "\n"))
	}
}

func checkRefused(t *testing.T, g *loaderRun, release []relModule) {
	g.ran(t, "install", -1)
	g.inOrder(t, "install",
		"klpack-load: loading e2e_s2r (cumulative, order 1)",
		"klpack-load: loading e2e_n (off-band, order 2)",
		"klpack-load: loading e2e_s1 (off-band, order 3)",
		"klpack-load: rolling back e2e_n",
		"klpack-load: rolling back e2e_s2r",
		"klpack-load: failed: e2e_s1 was refused; undid 2 of 3 patches")
	if !g.printed("install", "klpack-load: e2e_s1: the kernel refused it: ") {
		t.Errorf("install: no \"e2e_s1: the kernel refused it\" message:\n%s", strings.Join(g.out["install"], "\n"))
	}
	if g.printed("install", "rollback incomplete") {
		t.Errorf("install: rollback incomplete:\n%s", strings.Join(g.out["install"], "\n"))
	}
	g.nothingOf(t, "post", release)
	g.funcIs(t, "post", map[string]string{"cmdline": "original", "version": "original", "uptime": "original", "meminfo": "original"})
	if !slices.ContainsFunc(g.dmesg, func(l string) bool { return strings.Contains(l, "e2e_s1") && strings.Contains(l, "not compatible") }) {
		t.Errorf("dmesg: no klp_state refusal of e2e_s1:\n%s", strings.Join(g.dmesg, "\n"))
	}
}

func checkHooks(t *testing.T, g *loaderRun, release []relModule) {
	g.ran(t, "before", 0)
	g.ran(t, "pre-attach", 0)
	if !g.printed("pre-attach", "e2e_hook_value\tattached e2e_hook1:e2e_hook_value\t(live copy, ") {
		t.Errorf("pre-attach: no probe on e2e_hook1:\n%s", strings.Join(g.out["pre-attach"], "\n"))
	}
	g.ran(t, "pre-set", 0)
	g.inOrder(t, "pre-read", "klpe e2e_hook1 - meminfo_proc_show hook=-5")
	g.ran(t, "install", 0)
	// The probe moves during e2e_hookcum's transition, the old one goes
	// after it.
	var moved, dropped bool
	for _, l := range g.out["install"] {
		moved = moved || strings.HasPrefix(l, "klpack-load: hooks: e2e_hook_value\tattached e2e_hookcum:e2e_hook_value\t")
		dropped = dropped || moved && strings.HasPrefix(l, "klpack-load: hooks: e2e_hook_value\tdetached e2e_hook1:e2e_hook_value\t")
	}
	if !moved || !dropped {
		t.Errorf("install: the loader did not move the probe to e2e_hookcum (moved %v, old dropped %v):\n%s", moved, dropped, strings.Join(g.out["install"], "\n"))
	}
	g.inOrder(t, "read-a", "klpe e2e_hookcum - meminfo_proc_show hook=-5")
	g.inOrder(t, "read-root", "klpe e2e_hookcum - meminfo_proc_show hook=0")
	g.ran(t, "hooks-status", 0)
}

func checkDisabled(t *testing.T, g *loaderRun, release []relModule) {
	g.ran(t, "install", 0)
	if !g.printed("install", "klpack-load: klpack.enable=0 on the kernel command line: nothing loaded") {
		t.Errorf("install: no escape-hatch message:\n%s", strings.Join(g.out["install"], "\n"))
	}
	g.nothingOf(t, "post", release)
}

func checkOtherKernel(t *testing.T, g *loaderRun, release []relModule) {
	g.ran(t, "install", 0)
	if !g.printed("install", "these patches are for "+otherKernel+": nothing to do") {
		t.Errorf("install: no other-kernel message:\n%s", strings.Join(g.out["install"], "\n"))
	}
	g.nothingOf(t, "post", release)
}

func checkStalled(t *testing.T, g *loaderRun, release []relModule) {
	g.ran(t, "before", 0)
	if !slices.Contains(g.mods["pre"], "e2e_busy") {
		t.Fatalf("pre: e2e_busy not loaded")
	}
	g.ran(t, "install", -1)
	g.inOrder(t, "install",
		"klpack-load: loading e2e_r (cumulative, order 1)",
		"klpack-load: loading e2e_busy_patch (off-band, order 2)",
		fmt.Sprintf("klpack-load: e2e_busy_patch: transition did not finish within %ds", busyTimeoutS),
		"klpack-load: rolling back e2e_busy_patch",
		"klpack-load: rolling back e2e_r")
	// Two of the release's three patches were loaded, and undone.
	if !g.printed("install", "klpack-load: failed: e2e_busy_patch did not finish its transition; undid 2 of 3 patches") {
		t.Errorf("install: no \"failed: e2e_busy_patch did not finish its transition\" message:\n%s", strings.Join(g.out["install"], "\n"))
	}
	if g.printed("install", "loading e2e_c") {
		t.Errorf("install: loaded e2e_c after the stalled patch")
	}
	if g.printed("install", "rollback incomplete") {
		t.Errorf("install: rollback incomplete:\n%s", strings.Join(g.out["install"], "\n"))
	}
	// It gave up after its timeout, not once the thread woke.
	if ms := g.ms["install"]; ms < busyTimeoutS*1000 || ms >= busySleepMS-5000 {
		t.Errorf("install took %d ms: want at least the timeout (%d s), well under the thread's sleep (%d ms)", ms, busyTimeoutS, busySleepMS)
	}
	g.nothingOf(t, "post", release)
	if !slices.Contains(g.mods["post"], "e2e_busy") {
		t.Errorf("post: e2e_busy (not of the release) was unloaded")
	}
	g.funcIs(t, "post", map[string]string{"cmdline": "original", "meminfo": "original"})
	if slices.ContainsFunc(g.dmesg, func(l string) bool { return strings.Contains(l, "e2e_busy: awake") }) {
		t.Errorf("dmesg: the busy thread woke before the loader gave up; the stall was not tested")
	}
}

// runsRelease1 checks that at tag the kernel runs release 1.0 (e2e_r and
// e2e_c) whole, and none of 2.0.
func (g *loaderRun) runsRelease1(t *testing.T, tag string) {
	t.Helper()
	g.settledPatches(t, tag, "e2e_r", "e2e_c")
	for _, m := range []string{"e2e_s0r", "e2e_s2r", "e2e_busy_patch"} {
		if slices.Contains(g.mods[tag], m) {
			t.Errorf("%s: module %s of release 2.0 still loaded", tag, m)
		}
	}
	g.funcIs(t, tag, map[string]string{"cmdline": "e2e_r", "meminfo": "e2e_r", "version": "e2e_c", "uptime": "e2e_c"})
	if g.lock[tag] {
		t.Errorf("%s: the loader left its lock", tag)
	}
}

func checkUpgrade(t *testing.T, g *loaderRun, release []relModule) {
	g.ran(t, "install", 0)
	g.settledPatches(t, "post", "e2e_r", "e2e_c")
	g.ran(t, "upgrade", 0)
	g.inOrder(t, "upgrade",
		"klpack-load: the kernel runs the state the plan of release 2.0 starts from: executing its 4 steps",
		"klpack-load: release 2.0 runs: e2e_s2r e2e_c")
	g.settledPatches(t, "upgraded", "e2e_s2r", "e2e_c")
	if slices.Contains(g.mods["upgraded"], "e2e_r") {
		t.Errorf("upgraded: e2e_r, which the replace freed, is still loaded")
	}
	g.funcIs(t, "upgraded", map[string]string{"cmdline": "e2e_s2r", "meminfo": "original", "version": "e2e_c", "uptime": "e2e_c"})
}

func checkUpgradeTerm(t *testing.T, g *loaderRun, release []relModule) {
	g.ran(t, "install", 0)
	g.settledPatches(t, "post", "e2e_r", "e2e_c")
	g.ran(t, "term", -1)
	g.inOrder(t, "term",
		"klpack-load: the kernel runs the state the plan of release 2.0 starts from: executing its 5 steps",
		"klpack-load: stopped by a signal",
		"klpack-load: restoring release 1.0")
	if !g.printed("term", "klpack-load: restored release 1.0: e2e_r e2e_c run") {
		t.Errorf("term: the loader does not say release 1.0 runs:\n%s", strings.Join(g.out["term"], "\n"))
	}
	// SIGTERM ended the wait, not the loader's timeout or the thread.
	if ms := g.ms["term"]; ms >= upgradeTimeoutS*1000 {
		t.Errorf("term took %d ms, the loader's timeout is %d s: SIGTERM did not end the wait", ms, upgradeTimeoutS)
	}
	if g.printed("term", "unpatched until") {
		t.Errorf("term: an unpatched window where the kernel takes release 1.0 back over 2.0:\n%s", strings.Join(g.out["term"], "\n"))
	}
	g.runsRelease1(t, "after")
}

func checkUpgradeTermState(t *testing.T, g *loaderRun, release []relModule) {
	g.ran(t, "install", 0)
	g.ran(t, "term", -1)
	g.inOrder(t, "term",
		"klpack-load: stopped by a signal",
		"klpack-load: restoring release 1.0",
		"klpack-load: unloading this run's patches first: their functions run unpatched until e2e_r loads",
		"klpack-load: restored release 1.0: e2e_r e2e_c run")
	if !g.printed("term", "klpack-load: e2e_r: the kernel refused it: ") {
		t.Errorf("term: the kernel did not refuse e2e_r over e2e_s2r; the klp_state way back was not tested:\n%s", strings.Join(g.out["term"], "\n"))
	}
	g.runsRelease1(t, "after")
}

func checkUpgradeKill(t *testing.T, g *loaderRun, release []relModule) {
	g.ran(t, "install", 0)
	g.ran(t, "kill", -1)
	if !g.lock["killed"] {
		t.Errorf("killed: no lock left behind: SIGKILL came after the loader ended, nothing was tested")
	}
	g.ran(t, "again", -1)
	for _, want := range []string{"which is gone", "was interrupted", "restored release 1.0: e2e_r e2e_c run"} {
		if !g.printed("again", want) {
			t.Errorf("again: no %q:\n%s", want, strings.Join(g.out["again"], "\n"))
		}
	}
	out := g.out["again"]
	if last := out[len(out)-1]; last != "klpack-load: restored release 1.0: e2e_r e2e_c run" {
		t.Errorf("again: last line %q, want it to name release 1.0 as the one that runs", last)
	}
	g.runsRelease1(t, "after")
}
