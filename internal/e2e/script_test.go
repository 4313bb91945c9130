//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scriptHead opens the /init of a one-off guest (the proofs of the check
// rules): the file systems, busybox's applets, and the two functions whose
// lines the host reads (parseScript):
//
//	say TAG WORD REST...   "KLPS TAG WORD REST": said["TAG WORD"] = REST
//	out TAG <FILE          each line of its input as "KLPS TAG out LINE"
//	run TAG CMD ARGS...    CMD's output as out prints it, then its exit
//	                       status as "KLPS TAG rc N"
//
// The body follows; scriptTail ends the run.
const scriptHead = `#!/bin/busybox sh
export PATH=/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
busybox --install -s /bin
LP=/sys/kernel/livepatch
M=/lib/modules/e2e
mkdir -p /tmp/none
say() { echo "KLPS $*"; }
out() { while IFS= read -r l; do say "$1 out $l"; done; }
run() {
	tag=$1
	shift
	"$@" </dev/null >/tmp/out 2>&1
	rc=$?
	out $tag </tmp/out
	say "$tag rc $rc"
}
`

// scriptTail: Boot.Run ends a guest that prints "KLPE halt" and does not
// power off (the test kernel has no ACPI; -no-reboot ends qemu on a
// reboot).
const scriptTail = `echo "KLPE halt"
sync
[ -d /sys/firmware/acpi ] && poweroff -f
reboot -f
`

// scriptRun is what a one-off guest printed.
type scriptRun struct {
	halted bool
	rc     map[string]int
	out    map[string][]string
	said   map[string]string
}

func parseScript(console []byte) *scriptRun {
	r := &scriptRun{rc: map[string]int{}, out: map[string][]string{}, said: map[string]string{}}
	sc := bufio.NewScanner(bytes.NewReader(console))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.Contains(line, "KLPE halt") {
			r.halted = true
			continue
		}
		_, rest, ok := strings.Cut(line, "KLPS ")
		if !ok {
			continue
		}
		f := strings.SplitN(rest, " ", 3)
		if len(f) < 2 {
			continue
		}
		if len(f) == 2 {
			f = append(f, "")
		}
		switch f[1] {
		case "rc":
			if n, err := strconv.Atoi(f[2]); err == nil {
				r.rc[f[0]] = n
			}
		case "out":
			r.out[f[0]] = append(r.out[f[0]], f[2])
		default:
			r.said[f[0]+" "+f[1]] = f[2]
		}
	}
	return r
}

// runScript boots k with body between scriptHead and scriptTail as its
// /init, the static klpack bin, prepare.sh's insmod as e2e-insmod and the
// kernel's e2e modules, and returns what it printed. A boot that fails or
// does not reach the tail fails the test; the console is kept in the
// output directory, as NAME@KERNEL.log, when the test fails.
func (g *guests) runScript(t *testing.T, k kernelInfo, name, bin, body string, timeout time.Duration) *scriptRun {
	t.Helper()
	in := &Initramfs{Init: []byte(scriptHead + body + scriptTail), Busybox: g.busybox, Klpack: bin, Insmod: g.insmod, Modules: k.Modules}
	var b bytes.Buffer
	if err := in.Write(&b); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(t.TempDir(), "initrd.cpio")
	if err := os.WriteFile(initrd, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	boot := &Boot{Qemu: g.qemu, Kernel: k.Vmlinuz, Initrd: initrd, Append: k.Append, Timeout: timeout, Log: &console}
	t0 := time.Now()
	err := boot.Run(t.Context())
	logPath := filepath.Join(g.outDir, name+"@"+k.Name+".log")
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("KLPACK_E2E_KEEP") == "1" {
			os.WriteFile(logPath, console.Bytes(), 0o644)
			t.Logf("console kept in %s", logPath)
		}
	})
	r := parseScript(console.Bytes())
	if err != nil || !r.halted {
		t.Fatalf("%s on %s: boot: %v (halted %v)\n%s", name, k.Name, err, r.halted, tail(console.String(), 40))
	}
	t.Logf("%s on %s: boot %s", name, k.Name, time.Since(t0).Round(100*time.Millisecond))
	return r
}

// wantRC fails unless the command tagged tag ran and exited want.
func (r *scriptRun) wantRC(t *testing.T, tag string, want int) {
	t.Helper()
	if got, ok := r.rc[tag]; !ok || got != want {
		t.Errorf("%s: exit %d (ran %v), want %d; output:\n  %s", tag, got, ok, want, strings.Join(r.out[tag], "\n  "))
	}
}

// wantOut fails unless a line the command tagged tag printed matches re.
func (r *scriptRun) wantOut(t *testing.T, tag, re string) {
	t.Helper()
	m := regexp.MustCompile(re)
	for _, l := range r.out[tag] {
		if m.MatchString(l) {
			return
		}
	}
	t.Errorf("%s: no line matches %q; output:\n  %s", tag, re, strings.Join(r.out[tag], "\n  "))
}
