package pack

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/pkg/order"
)

// testModule is a scanned livepatch module for testKernel, patching one
// vmlinux function at sympos.
func testModule(name, layer, arch string, sympos uint64) *Module {
	rec := &klp.Module{
		Name: name, Vermagic: testKernel + " SMP preempt mod_unload modversions ", Arch: arch, Livepatch: true,
		Patches: []*klp.Patch{{Objects: []klp.Object{{Funcs: []klp.Func{{OldName: "cmdline_proc_show", OldSympos: sympos}}}}}},
	}
	return &Module{Record: rec, Layer: layer, File: name + ".ko"}
}

// TestValidate pins each rule of a release that packaging relies on,
// with the release that breaks only that rule.
func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mods    []*Module
		edit    func(r *Release)
		wantMsg string // "" when the release is valid
	}{
		{name: "one cumulative, one off-band", mods: []*Module{
			testModule("lp_cum", klp.LayerCumulative, "x86_64", 0), testModule("lp_off", klp.LayerOffBand, "x86_64", 0)}},
		{name: "two cumulative", mods: []*Module{
			testModule("lp_a", klp.LayerCumulative, "x86_64", 0), testModule("lp_b", klp.LayerCumulative, "x86_64", 0)},
			wantMsg: "2 cumulative modules"},
		{name: "same module twice", mods: []*Module{
			testModule("lp_a", klp.LayerOffBand, "x86_64", 0), testModule("lp_a", klp.LayerOffBand, "x86_64", 0)},
			wantMsg: "module lp_a twice"},
		{name: "mixed arch", mods: []*Module{
			testModule("lp_a", klp.LayerOffBand, "x86_64", 0), testModule("lp_b", klp.LayerOffBand, "arm64", 0)},
			wantMsg: "arch arm64, the release is x86_64"},
		// The kernel compares the whole release: a vermagic for a longer
		// release that starts with this one is another kernel.
		{name: "vermagic of a longer release", mods: []*Module{testModule("lp_a", klp.LayerOffBand, "x86_64", 0)},
			edit: func(r *Release) {
				r.Modules[0].Record.Vermagic = testKernel + "-rt SMP preempt mod_unload modversions "
			},
			wantMsg: "is not for kernel " + testKernel},
		// Names from a module reach package metadata: Provides and
		// Conflicts of rpm split at ", ", deb fields at a newline.
		{name: "function name with a comma", mods: []*Module{testModule("lp_a", klp.LayerOffBand, "x86_64", 0)},
			edit: func(r *Release) {
				r.Modules[0].Record.Patches[0].Objects[0].Funcs[0].OldName = "a, klp-func(x)"
			},
			wantMsg: `function: symbol name "a, klp-func(x)"`},
		{name: "object name with a blank", mods: []*Module{testModule("lp_a", klp.LayerOffBand, "x86_64", 0)},
			edit: func(r *Release) {
				o := "ext4 x"
				r.Modules[0].Record.Patches[0].Objects[0].Name = &o
			},
			wantMsg: `object: module name "ext4 x"`},
		{name: "module name with a newline", mods: []*Module{testModule("lp_a\nEssential: yes", klp.LayerOffBand, "x86_64", 0)},
			wantMsg: "module name"},
		{name: "arch that is a path", mods: []*Module{testModule("lp_a", klp.LayerOffBand, "../../x", 0)},
			wantMsg: `arch "../../x" is not an architecture name`},
		{name: "maintainer with a newline", mods: []*Module{testModule("lp_a", klp.LayerOffBand, "x86_64", 0)},
			edit:    func(r *Release) { r.Maintainer = "a\nEssential: yes" },
			wantMsg: "maintainer: "},
		{name: "hook file not named for a function", mods: []*Module{testModule("lp_a", klp.LayerOffBand, "x86_64", 0)},
			edit:    func(r *Release) { r.Modules[0].Hooks = []string{"/r/**"} },
			wantMsg: "hook /r/**: want a file named <hook function>.bpf.o"},
		{name: "two hooks for one function", mods: []*Module{testModule("lp_a", klp.LayerOffBand, "x86_64", 0)},
			edit:    func(r *Release) { r.Modules[0].Hooks = []string{"/a/f.bpf.o", "/b/f.bpf.o"} },
			wantMsg: "two hooks for f"},
		{name: "relations in each syntax", mods: []*Module{testModule("lp_a", klp.LayerOffBand, "x86_64", 0)},
			edit: func(r *Release) {
				r.KernelDeb = "linux-image-" + testKernel + " | linux-image-" + testKernel + "-unsigned (>= 6.1.0-56)"
				r.KernelRPM = "kernel-uname-r = " + testKernel
			}},
		{name: "deb relation injecting a field", mods: []*Module{testModule("lp_a", klp.LayerOffBand, "x86_64", 0)},
			edit:    func(r *Release) { r.KernelDeb = "linux-image-x\nEssential: yes" },
			wantMsg: "kernel_deb: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Release{Kernel: testKernel, Version: "1", Modules: tt.mods}
			if tt.edit != nil {
				tt.edit(r)
			}
			err := r.Validate()
			switch {
			case tt.wantMsg == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantMsg != "" && (!errors.Is(err, ErrBadRelease) || !strings.Contains(err.Error(), tt.wantMsg)):
				t.Errorf("Validate() = %v, want %v saying %q", err, ErrBadRelease, tt.wantMsg)
			}
		})
	}
}

// TestOrderBy: a plan must load exactly the release's modules; the
// modules then take its load order.
func TestOrderBy(t *testing.T) {
	load := func(names ...string) []order.Op {
		var ops []order.Op
		for _, n := range names {
			ops = append(ops, order.Op{Action: order.ActionLoad, Name: n})
		}
		return ops
	}
	tests := []struct {
		name    string
		ops     []order.Op
		want    []string // module names in the order taken
		wantMsg string
	}{
		{name: "reorders", ops: load("lp_b", "lp_a"), want: []string{"lp_b", "lp_a"}},
		{name: "disables first", ops: append([]order.Op{{Action: order.ActionDisable, Name: "lp_old"}}, load("lp_a", "lp_b")...), want: []string{"lp_a", "lp_b"}},
		{name: "loads a module the release lacks", ops: load("lp_b", "lp_a", "lp_c"), wantMsg: "the plan loads 3 modules, the release has 2"},
		{name: "misses a module", ops: load("lp_b"), wantMsg: "the plan does not load lp_a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(&order.Plan{Schema: order.PlanSchema, OK: true, Ops: tt.ops})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "plan.json"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			r := &Release{Kernel: testKernel, Version: "1", Modules: []*Module{
				testModule("lp_a", klp.LayerOffBand, "x86_64", 0), testModule("lp_b", klp.LayerOffBand, "x86_64", 0)}}
			err = r.orderBy(root, "plan.json")
			if tt.wantMsg != "" {
				if !errors.Is(err, ErrBadRelease) || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("orderBy() = %v, want %v saying %q", err, ErrBadRelease, tt.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatalf("orderBy() = %v", err)
			}
			var got []string
			for _, m := range r.Modules {
				got = append(got, m.Record.Name)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("orderBy() order = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRelationStrings pins the relations that decide what an upgrade
// does: the cumulative package replaces only older versions of itself
// (reinstalling the same version must not remove it), and off-band
// packages name a function's sympos as sysfs does, 0 as 1, so that a
// module giving 0 and one giving 1 conflict.
func TestRelationStrings(t *testing.T) {
	r := &Release{Kernel: testKernel, Version: "2", Modules: []*Module{
		testModule("lp_cum", klp.LayerCumulative, "x86_64", 0),
		testModule("lp_zero", klp.LayerOffBand, "x86_64", 0),
		testModule("lp_one", klp.LayerOffBand, "x86_64", 1)}}
	specs := r.Specs()
	cum, zero, one := specs[0], specs[1], specs[2]
	tests := []struct {
		name      string
		got, want []string
	}{
		{"rpm cumulative replaces", cum.RPMRelations().Replaces, []string{"klp-patch-6.1.0-56-amd64 < 2-1"}},
		{"deb cumulative replaces", cum.DebRelations().Replaces, []string{"klp-patch-6.1.0-56-amd64 (<< 2)"}},
		{"rpm sympos 0", zero.RPMRelations().Conflicts, []string{"klp-func(6.1.0-56-amd64:vmlinux/cmdline_proc_show,1)"}},
		{"rpm sympos 1", one.RPMRelations().Conflicts, []string{"klp-func(6.1.0-56-amd64:vmlinux/cmdline_proc_show,1)"}},
		{"deb sympos 0", zero.DebRelations().Conflicts, one.DebRelations().Conflicts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !slices.Equal(tt.got, tt.want) {
				t.Errorf("relations = %q, want %q", tt.got, tt.want)
			}
		})
	}
}
