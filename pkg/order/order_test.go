package order

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

const vermagic = "6.12.117+deb12-amd64 SMP preempt mod_unload modversions "

func mod(name string, replace bool, offBand bool, states []klp.State, funcs ...string) *klp.Module {
	o := klp.Object{Funcs: []klp.Func{}}
	for _, f := range funcs {
		o.Funcs = append(o.Funcs, klp.Func{OldName: f, NewFunc: name + "_" + f})
	}
	p := &klp.Patch{Replace: replace, States: states, Objects: []klp.Object{o}, Hooks: []klp.Hook{}}
	if offBand {
		p.Replaceable = new(bool)
	}
	return &klp.Module{Path: name + ".ko", Name: name, Vermagic: vermagic, Livepatch: true, Patches: []*klp.Patch{p}}
}

func stateOf(model string, mods ...*klp.Module) *deploy.State {
	st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: "6.12.117+deb12-amd64", Model: model}}
	for i, m := range mods {
		layer := klp.LayerCumulative
		if r := m.Patches[0].Replaceable; r != nil && !*r {
			layer = klp.LayerOffBand
		}
		st.Patches = append(st.Patches, &deploy.Patch{Module: *m, Enabled: true, LoadOrder: i + 1, Layer: layer})
	}
	return st
}

func TestMake(t *testing.T) {
	v := func(n uint32) []klp.State { return []klp.State{{ID: 9, Version: n}} }
	off := mod("off", false, true, nil, "a")
	cum1 := mod("cum1", true, false, nil, "a", "b")
	tests := []struct {
		name   string
		in     *check.Input
		ok     bool
		ops    []Op
		blocks string // a rule the failed plan reports
	}{
		{"empty release order kept", &check.Input{Candidates: []*klp.Module{mod("p", false, false, nil, "x")}}, true,
			[]Op{{"load", "p", "p.ko"}}, ""},
		{"state versions force an order", &check.Input{Candidates: []*klp.Module{mod("v2", true, false, v(2), "x"), mod("v1", true, false, v(1), "x")}}, true,
			[]Op{{"load", "v1", "v1.ko"}, {"load", "v2", "v2.ko"}}, ""},
		{"hazard avoided by disabling first", &check.Input{Deployed: stateOf(deploy.ModelHybrid, off, cum1), Candidates: []*klp.Module{mod("cum2", true, false, nil, "b")}}, true,
			[]Op{{"disable", "cum1", ""}, {"load", "cum2", "cum2.ko"}}, ""},
		{"same name: disable and unload first", &check.Input{Deployed: stateOf("", cum1), Candidates: []*klp.Module{mod("cum1", true, false, nil, "a", "b")}}, true,
			[]Op{{"disable", "cum1", ""}, {"unload", "cum1", ""}, {"load", "cum1", "cum1.ko"}}, ""},
		{"mainline re-loads the off-band patch a replace removes", &check.Input{Deployed: stateOf("", off), Candidates: []*klp.Module{mod("cum2", true, false, nil, "b")}}, true,
			[]Op{{"load", "cum2", "cum2.ko"}}, ""},
		{"off-band patches overlap in every order", &check.Input{Deployed: stateOf("", off), Candidates: []*klp.Module{mod("off2", false, true, nil, "a")}}, false,
			nil, check.RuleOffBandOverlap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Make(tt.in, check.Error)
			if err != nil {
				t.Fatal(err)
			}
			if p.OK != tt.ok {
				t.Fatalf("OK = %v, want %v; findings %+v", p.OK, tt.ok, p.Findings)
			}
			if tt.ok {
				if diff := cmp.Diff(tt.ops, p.Ops); diff != "" {
					t.Errorf("ops (-want +got):\n%s", diff)
				}
				return
			}
			found := false
			for _, f := range p.Findings {
				found = found || f.Rule == tt.blocks
			}
			if !found || len(p.Ops) != 0 {
				t.Errorf("failed plan: findings %+v, ops %v; want %s and no ops", p.Findings, p.Ops, tt.blocks)
			}
		})
	}
}

func TestSubsets(t *testing.T) {
	got := subsets([]string{"a", "b", "c"}, 2)
	want := [][]string{{"a", "b"}, {"a", "c"}, {"b", "c"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
	four := []*klp.Module{mod("a", false, false, nil, "x"), mod("b", false, false, nil, "x"), mod("c", true, false, nil, "x"), mod("d", false, true, nil, "x")}
	if n := len(orders(four)); n != 24 {
		t.Errorf("orders of 4 = %d, want 24", n)
	}
}

func TestSeedPlan(t *testing.T) {
	st, err := deploy.ReadState(filepath.Join("..", "..", "testdata", "states", "seed-hybrid.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := klp.ReadScan(filepath.Join("..", "..", "testdata", "scenarios", "seed", "lp3.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Make(&check.Input{Deployed: st, Candidates: doc.Modules}, check.Error)
	if err != nil || !p.OK || len(p.Ops) != 2 || p.Ops[0] != (Op{"disable", "lp2", ""}) {
		t.Fatalf("Make = %+v, %v: want disable lp2 then load lp3", p, err)
	}
}

// TestOrdersMany: past maxPermute candidates the planner tries only the
// given order and the ranked one (replace patches first, plain patches
// next, non-replaceable last, each group in the given order).
func TestOrdersMany(t *testing.T) {
	var cands []*klp.Module
	for i, kind := range []string{"replace", "plain", "off", "replace", "off", "plain", "off", "plain"} {
		cands = append(cands, mod(fmt.Sprintf("%s%d", kind, i), kind == "replace", kind == "off", nil, fmt.Sprintf("f%d", i)))
	}
	got := orders(cands)
	if len(got) != 2 {
		t.Fatalf("orders of %d candidates: %d orders, want the given and the ranked one", len(cands), len(got))
	}
	var given, ranked []string
	for i := range cands {
		given, ranked = append(given, got[0][i].Name), append(ranked, got[1][i].Name)
	}
	if diff := cmp.Diff([]string{"replace0", "plain1", "off2", "replace3", "off4", "plain5", "off6", "plain7"}, given); diff != "" {
		t.Errorf("first order is not the given one (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"replace0", "replace3", "plain1", "plain5", "plain7", "off2", "off4", "off6"}, ranked); diff != "" {
		t.Errorf("ranked order (-want +got):\n%s", diff)
	}
	// Small releases get every permutation: 4! orders, each once.
	small := orders(cands[:4])
	seen := map[string]bool{}
	for _, o := range small {
		var k []string
		for _, m := range o {
			k = append(k, m.Name)
		}
		seen[strings.Join(k, ",")] = true
	}
	if len(small) != 24 || len(seen) != 24 {
		t.Errorf("orders of 4 candidates: %d orders, %d distinct, want 24", len(small), len(seen))
	}
}

// TestMakeMany: a release of 8 candidates (past maxPermute) given in an
// order where its replace patch comes last, so it would replace the
// release's own plain patches and drop their functions, is planned in
// the ranked order: the replace patch first, the off-band patch last.
func TestMakeMany(t *testing.T) {
	cands := []*klp.Module{mod("off", false, true, nil, "x")}
	for i := range 6 {
		cands = append(cands, mod(fmt.Sprintf("plain%d", i), false, false, nil, fmt.Sprintf("p%d", i)))
	}
	cands = append(cands, mod("cum", true, false, nil, "a"))
	in := &check.Input{Deployed: stateOf(deploy.ModelHybrid), Candidates: cands}
	p, err := Make(in, check.Warning)
	if err != nil {
		t.Fatal(err)
	}
	if !p.OK {
		t.Fatalf("no plan: %+v", p.Findings)
	}
	want := []string{"cum", "plain0", "plain1", "plain2", "plain3", "plain4", "plain5", "off"}
	if diff := cmp.Diff(want, p.Loads()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	// The given order is what the plan avoids: check says why.
	rep, err := check.Check(in)
	if err != nil {
		t.Fatal(err)
	}
	drops := 0
	for _, f := range rep.Findings {
		if f.Rule == check.RuleDropsFunctions {
			drops++
		}
	}
	if drops != 6 {
		t.Errorf("given order: %d KLP004 findings, want one per plain patch (6)", drops)
	}
}
