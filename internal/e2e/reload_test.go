//go:build e2e

package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klpack/klpack/pkg/check"
)

// reloadScript loads e2e_target and e2e_kr (whose klp relocation reaches
// e2e_target), then unloads e2e_target and loads it again under the patch.
const reloadScript = `run load-target e2e-insmod $M/e2e_target.ko
run load-patch e2e-insmod $M/e2e_kr.ko
sleep 1
run show-patched cat /proc/e2e_target
run unload-target rmmod e2e_target
dmesg -c >/dev/null
run reload-target e2e-insmod $M/e2e_target.ko
run dmesg dmesg
run show-after cat /proc/e2e_target
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

	r := g.runScript(t, k, "reload", bin, reloadScript, 150*time.Second)
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
