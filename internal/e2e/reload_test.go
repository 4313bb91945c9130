//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klpack/klpack/pkg/check"
)

// reloadInit loads e2e_target and e2e_kr (whose klp relocation reaches
// e2e_target), then unloads e2e_target and loads it again under the patch.
const reloadInit = `#!/bin/busybox sh
export PATH=/bin
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox --install -s /bin
M=/lib/modules/e2e
run() {
	tag=$1; shift
	"$@" >/tmp/out 2>&1
	echo "KLPE rc $tag $?"
	while IFS= read -r l; do echo "KLPE out $tag $l"; done </tmp/out
}
run load-target e2e-insmod $M/e2e_target.ko
run load-patch e2e-insmod $M/e2e_kr.ko
sleep 1
run show-patched cat /proc/e2e_target
run unload-target rmmod e2e_target
dmesg -c >/dev/null
run reload-target e2e-insmod $M/e2e_target.ko
run dmesg dmesg
run show-after cat /proc/e2e_target
echo "KLPE halt"
poweroff -f
`

// TestModuleReloadGuest proves KLP024 on Debian's 6.1 and 7.2: a patch
// with a klp relocation for module e2e_target; e2e_target unloaded and
// loaded again under it. 6.1 never clears the relocation and refuses the
// second load (ENOEXEC); 7.2 clears it and loads the module, patched
// again. klpack check predicts each from the module's vermagic.
func TestModuleReloadGuest(t *testing.T) {
	g := setupGuests(t, "6.1", "7.2")
	bin := g.staticKlpack(t)
	for _, k := range g.kernels {
		t.Run(k.Name, func(t *testing.T) { moduleReloadGuest(t, g, bin, k) })
	}
}

func moduleReloadGuest(t *testing.T, g *guests, bin string, k kernelInfo) {
	refused := strings.HasPrefix(k.Release, "6.1.")

	// The prediction, from the built binary.
	cmd := exec.Command(bin, "check", "--json", "--fail-on", "error", filepath.Join(k.Modules, "e2e_kr.ko"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("klpack check: %v\n%s", err, out)
	}
	var rep check.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("klpack check --json: %v\n%s", err, out)
	}
	var got []check.Finding
	for _, f := range rep.Findings {
		if f.Rule == check.RuleModuleReload {
			got = append(got, f)
		}
	}
	if refused {
		if len(got) != 1 || got[0].Patches[0] != "e2e_kr" || strings.Join(got[0].Functions, " ") != "e2e_target/e2e_target_show,1" ||
			!strings.Contains(got[0].Message, "klp relocations for module e2e_target") {
			t.Fatalf("%s: want one KLP024 for e2e_kr's e2e_target_show, have %+v", k.Name, got)
		}
	} else if len(got) != 0 {
		t.Fatalf("%s: want no KLP024, have %+v", k.Name, got)
	}

	in := &Initramfs{Init: []byte(reloadInit), Busybox: g.busybox, Klpack: bin, Insmod: g.insmod, Modules: k.Modules}
	var b bytes.Buffer
	if err := in.Write(&b); err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(t.TempDir(), "initrd.cpio")
	if err := os.WriteFile(initrd, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var console bytes.Buffer
	boot := &Boot{Qemu: g.qemu, Kernel: k.Vmlinuz, Initrd: initrd, Append: k.Append, Timeout: 150 * time.Second, Log: &console}
	t0 := time.Now()
	bootErr := boot.Run(t.Context())
	r := parseTagged(console.Bytes())
	logPath := filepath.Join(g.outDir, "reload@"+k.Name+".log")
	defer func() {
		if t.Failed() || os.Getenv("KLPACK_E2E_KEEP") == "1" {
			os.WriteFile(logPath, console.Bytes(), 0o644)
			t.Logf("console kept in %s", logPath)
		}
	}()
	if bootErr != nil || !r.halted {
		t.Fatalf("boot: %v (halted %v)\n%s", bootErr, r.halted, tail(console.String(), 40))
	}
	t.Logf("%s: boot %s", k.Name, time.Since(t0).Round(100*time.Millisecond))

	r.wantRC(t, "load-target", 0)
	r.wantRC(t, "load-patch", 0)
	r.wantOut(t, "show-patched", `^klpe e2e_kr - e2e_target_show e2e_target_show \[e2e_target\]$`)
	r.wantRC(t, "unload-target", 0)
	if refused {
		r.wantRC(t, "reload-target", 8) // ENOEXEC
		r.wantOut(t, "dmesg", `existing value is nonzero`)
		r.wantRC(t, "show-after", 1) // no /proc/e2e_target
	} else {
		r.wantRC(t, "reload-target", 0)
		r.wantOut(t, "show-after", `^klpe e2e_kr - e2e_target_show e2e_target_show \[e2e_target\]$`)
	}
}

// tagged is what a one-off guest script printed: "KLPE rc TAG CODE" and
// "KLPE out TAG LINE" per command, "KLPE halt" last.
type tagged struct {
	rc     map[string]int
	out    map[string][]string
	halted bool
}

func parseTagged(console []byte) *tagged {
	r := &tagged{rc: map[string]int{}, out: map[string][]string{}}
	for _, line := range strings.Split(string(console), "\n") {
		line = strings.TrimRight(line, "\r")
		i := strings.Index(line, "KLPE ")
		if i < 0 {
			continue
		}
		f := strings.SplitN(line[i+5:], " ", 3)
		switch {
		case f[0] == "halt":
			r.halted = true
		case f[0] == "rc" && len(f) == 3:
			var n int
			for _, c := range f[2] {
				n = n*10 + int(c-'0')
			}
			r.rc[f[1]] = n
		case f[0] == "out" && len(f) >= 2:
			if len(f) == 2 {
				f = append(f, "")
			}
			r.out[f[1]] = append(r.out[f[1]], f[2])
		}
	}
	return r
}

func (r *tagged) wantRC(t *testing.T, tag string, want int) {
	t.Helper()
	if got, ok := r.rc[tag]; !ok || got != want {
		t.Errorf("%s: exit %d (ran %v), want %d; output:\n  %s", tag, got, ok, want, strings.Join(r.out[tag], "\n  "))
	}
}

func (r *tagged) wantOut(t *testing.T, tag, re string) {
	t.Helper()
	m := regexp.MustCompile(re)
	for _, l := range r.out[tag] {
		if m.MatchString(l) {
			return
		}
	}
	t.Errorf("%s: no line matches %q; output:\n  %s", tag, re, strings.Join(r.out[tag], "\n  "))
}
