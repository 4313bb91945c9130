//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/sim"
)

// TestPetrHazardPredicted pins, by hand, what klpack predicts of Petr
// Mladek's hazard before anything is loaded, on the modules built for the
// hybrid test kernel: check's KLP002 for the release e2e_hr on a host
// running e2e_nr and e2e_hb, and simulate's replay of the scenario
// hybrid-hazard-transition. TestE2E boots that scenario on the hybrid
// kernel and finds the kernel doing each step as simulate says: cmdline
// runs the original code while e2e_hr's transition is held open, then
// e2e_nr's in every task at once.
func TestPetrHazardPredicted(t *testing.T) {
	g := setupGuests(t, "test-hybrid")
	bin := g.staticKlpack(t)
	for _, k := range g.kernels {
		if KernelModel(k.Name) == deploy.ModelHybrid {
			t.Run(k.Name, func(t *testing.T) { petrHazardPredicted(t, g, bin, k) })
		}
	}
}

func petrHazardPredicted(t *testing.T, g *guests, bin string, k kernelInfo) {
	dir := t.TempDir()

	// The host: e2e_nr, then e2e_hb, enabled, as deploy capture records.
	st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: k.Release, Model: deploy.ModelHybrid}}
	for n, name := range []string{"e2e_nr", "e2e_hb"} {
		m, err := elfscan.Open(filepath.Join(k.Modules, name+".ko"), nil)
		if err != nil {
			t.Fatal(err)
		}
		st.Patches = append(st.Patches, &deploy.Patch{Module: *m, Enabled: true, Transition: new(bool), LoadOrder: n + 1})
	}
	state := filepath.Join(dir, "state.json")
	if err := deploy.WriteState(state, st); err != nil {
		t.Fatal(err)
	}
	checkCmd := exec.Command(bin, "check", "--json", "--deployed", state, filepath.Join(k.Modules, "e2e_hr.ko"))
	out, err := checkCmd.Output()
	if code := checkCmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("klpack check: exit %d (%v), want 1 (an error finding)\n%s", code, err, out)
	}
	var rep check.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("klpack check --json: %v\n%s", err, out)
	}
	var hazards []check.Finding
	for _, f := range rep.Findings {
		if f.Rule == check.RuleReplaceNopHazard {
			hazards = append(hazards, f)
		}
	}
	if len(hazards) != 1 || !slices.Equal(hazards[0].Functions, []string{"vmlinux/cmdline_proc_show,1"}) ||
		!slices.Equal(hazards[0].Patches, []string{"e2e_hr", "e2e_nr"}) ||
		!strings.Contains(hazards[0].Message, "switches from original to e2e_nr in every task at once") {
		t.Errorf("KLP002 findings %+v, want one: cmdline_proc_show switches from original to e2e_nr when e2e_hr's transition completes", hazards)
	}

	// The scenario, with the module paths of this kernel.
	scenario, err := os.ReadFile(filepath.Join(g.root, "testdata", "e2e", "scenarios", "hybrid-hazard-transition.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ko := range []string{"e2e_hold.ko", "e2e_nr.ko", "e2e_hb.ko", "e2e_hr.ko", "e2e_a.ko"} {
		if err := os.Symlink(filepath.Join(k.Modules, ko), filepath.Join(dir, ko)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "hazard.yaml")
	if err := os.WriteFile(path, scenario, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "simulate", "--json", path).Output()
	if err != nil {
		t.Fatalf("klpack simulate: %v\n%s", err, out)
	}
	var simulated sim.Simulation
	if err := json.NewDecoder(bytes.NewReader(out)).Decode(&simulated); err != nil {
		t.Fatal(err)
	}
	const cmdline = "vmlinux/cmdline_proc_show,1"
	for _, w := range []struct {
		step           int // 1-based
		pending, code  string
		events         []string
		tasks, errnoIs string
	}{
		{step: 4, code: "", tasks: "e2e_hold:e2e_hb"},
		{step: 5, pending: "e2e_hr", code: sim.Original, tasks: "e2e_hold:e2e_hb"},
		{step: 6, pending: "e2e_hr", tasks: "e2e_hold:e2e_hb", errnoIs: sim.EBUSY},
		{step: 8, code: "e2e_nr", events: []string{cmdline + " original->e2e_nr"}},
	} {
		s := simulated.Steps[w.step-1]
		var events, tasks []string
		for _, e := range s.Events {
			events = append(events, e.Function+" "+e.From+"->"+e.To)
		}
		for _, k := range s.Tasks {
			tasks = append(tasks, k.Name+":"+k.Code)
		}
		if s.Pending != w.pending || s.Funcs[cmdline] != w.code || !slices.Equal(events, w.events) ||
			strings.Join(tasks, " ") != w.tasks || s.Errno != w.errnoIs {
			t.Errorf("simulate step %d (%s %s): pending %q, cmdline %q, events %v, tasks %v, errno %q; want %q, %q, %v, %q, %q",
				w.step, s.Action, s.Target, s.Pending, s.Funcs[cmdline], events, tasks, s.Errno, w.pending, w.code, w.events, w.tasks, w.errnoIs)
		}
	}
}
