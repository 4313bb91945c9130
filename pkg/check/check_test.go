package check

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/deploy"
	"github.com/klpack/klpack/pkg/klp"
)

const release = "6.12.117+deb12-amd64"

// lp describes a livepatch module for a test: "vmlinux/func,pos" keys.
type lp struct {
	name        string
	replace     bool
	offBand     bool
	set         uint32
	states      []klp.State
	funcs       []string // "func" or "func,pos" in vmlinux, or "obj/func"
	hooks       []string
	noEI        bool // the hooks lack error-injection entries
	vermagic    string
	notLivepach bool
	// unknownReplace: the scan could not read replace (klp-build or
	// kpatch-build init code it cannot follow).
	unknownReplace bool
	// klpRelas are the objects of the module's .klp.rela sections.
	klpRelas []string
}

func (l lp) module() *klp.Module {
	vm := l.vermagic
	if vm == "" {
		vm = release + " SMP preempt mod_unload modversions "
	}
	objs := map[string]*klp.Object{}
	var order []string
	for _, f := range l.funcs {
		obj, fn := "vmlinux", f
		if i := strings.IndexByte(f, '/'); i >= 0 {
			obj, fn = f[:i], f[i+1:]
		}
		name, pos, _ := strings.Cut(fn, ",")
		var sympos uint64
		if pos != "" {
			sympos = uint64(pos[0] - '0')
		}
		if objs[obj] == nil {
			o := &klp.Object{Funcs: []klp.Func{}}
			if obj != "vmlinux" {
				o.Name = &obj
			}
			objs[obj] = o
			order = append(order, obj)
		}
		objs[obj].Funcs = append(objs[obj].Funcs, klp.Func{OldName: name, OldSympos: sympos, NewFunc: l.name + "_" + name})
	}
	p := &klp.Patch{Replace: l.replace, ReplaceSource: klp.ReplaceStatic, States: l.states, Hooks: []klp.Hook{}}
	if l.unknownReplace {
		p.ReplaceSource, p.ReplaceHint = klp.ReplaceUnknown, "declare it"
	}
	if l.offBand {
		p.Replaceable = new(bool)
	}
	set := l.set
	p.ReplaceSet = &set
	for _, o := range order {
		p.Objects = append(p.Objects, *objs[o])
	}
	for _, h := range l.hooks {
		p.Hooks = append(p.Hooks, klp.Hook{Object: "vmlinux", Func: h, Source: "test", NoErrorInjection: l.noEI})
	}
	f := klp.FormatStatic
	m := &klp.Module{Path: l.name + ".ko", Name: l.name, Vermagic: vm, Arch: "x86_64", Livepatch: !l.notLivepach, Format: &f, Patches: []*klp.Patch{p}}
	for _, o := range l.klpRelas {
		m.KlpRelas = append(m.KlpRelas, klp.KlpRela{Section: ".klp.rela." + o + "..text", Object: o, Target: ".text", Count: 1})
	}
	return m
}

func state(model string, ps ...lp) *deploy.State {
	st := &deploy.State{Schema: deploy.StateSchema, Kernel: deploy.Kernel{Release: release, Model: model}}
	for i, p := range ps {
		layer := klp.LayerCumulative
		if p.offBand {
			layer = klp.LayerOffBand
		}
		st.Patches = append(st.Patches, &deploy.Patch{Module: *p.module(), Enabled: true, LoadOrder: i + 1, Layer: layer})
	}
	return st
}

func candidates(ps ...lp) []*klp.Module {
	var out []*klp.Module
	for _, p := range ps {
		out = append(out, p.module())
	}
	return out
}

func symbolsFrom(t *testing.T, text string) *Symbols {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kallsyms")
	os.WriteFile(path, []byte(text), 0o644)
	s, err := ReadSymbols(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func traceableFrom(t *testing.T, text string) *Traceable {
	t.Helper()
	path := filepath.Join(t.TempDir(), "available_filter_functions")
	os.WriteFile(path, []byte(text), 0o644)
	tr, err := ReadTraceable(path)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

var tpSwitch = klp.Site{Kind: klp.SiteTracepoint, Name: "sched_switch"}

// vmlinuxSites is a target whose vmlinux function fn holds sites.
func vmlinuxSites(fn string, sites ...klp.Site) map[string]*klp.ObjectSites {
	return map[string]*klp.ObjectSites{"vmlinux": {Object: "vmlinux", Funcs: map[string][][]klp.Site{fn: {sites}}}}
}

// TestRules has, for every rule, a case where it fires and one where it
// stays quiet.
func TestRules(t *testing.T) {
	cum1 := lp{name: "cum_1", replace: true, funcs: []string{"a", "b"}}
	cum2 := lp{name: "cum_2", replace: true, funcs: []string{"a", "b"}}
	cum2dropsB := lp{name: "cum_2", replace: true, funcs: []string{"a"}}
	off1 := lp{name: "off_1", offBand: true, set: 1, funcs: []string{"x"}}
	off2 := lp{name: "off_2", offBand: true, set: 1, funcs: []string{"x"}}
	off3 := lp{name: "off_3", offBand: true, set: 1, funcs: []string{"y"}}
	syms := "ffffffff81000000 T a\nffffffff81000100 t dup\nffffffff81000200 t dup\nffffffff81000300 T b\nffffffffc0000000 t m_fn\t[mod]\n"
	kr := lp{name: "kr", funcs: []string{"a", "mod/m_fn"}, klpRelas: []string{"vmlinux", "mod"}}
	kr61 := kr
	kr61.vermagic = "6.1.0-56-amd64 SMP preempt mod_unload modversions "
	tests := []struct {
		rule  string
		fires bool
		in    *Input
	}{
		{RuleOffBandOverlap, true, &Input{Deployed: state(deploy.ModelHybrid, off1), Candidates: candidates(off2)}},
		{RuleOffBandOverlap, false, &Input{Deployed: state(deploy.ModelHybrid, off1), Candidates: candidates(off3)}},

		{RuleReplaceNopHazard, true, &Input{Deployed: state(deploy.ModelHybrid, off1, lp{name: "cum_1", replace: true, funcs: []string{"x", "b"}}), Candidates: candidates(lp{name: "cum_2", replace: true, funcs: []string{"b"}})}},
		{RuleReplaceNopHazard, false, &Input{Deployed: state(deploy.ModelHybrid, off1, lp{name: "cum_1", replace: true, funcs: []string{"x", "b"}}), Candidates: candidates(lp{name: "cum_2", replace: true, funcs: []string{"x", "b"}})}},

		{RuleShadowsOffBand, true, &Input{Deployed: state(deploy.ModelHybrid, off1), Candidates: candidates(lp{name: "cum_1", replace: true, funcs: []string{"x"}})}},
		{RuleShadowsOffBand, false, &Input{Deployed: state(deploy.ModelHybrid, off1), Candidates: candidates(cum1)}},

		{RuleDropsFunctions, true, &Input{Deployed: state("", cum1), Candidates: candidates(cum2dropsB)}},
		{RuleDropsFunctions, false, &Input{Deployed: state("", cum1), Candidates: candidates(cum2)}},

		{RuleStateIncompat, true, &Input{Deployed: state("", lp{name: "s1", replace: true, states: []klp.State{{ID: 7, Version: 2}}, funcs: []string{"a"}}), Candidates: candidates(lp{name: "s2", replace: true, states: []klp.State{{ID: 7, Version: 1}}, funcs: []string{"a"}})}},
		{RuleStateIncompat, false, &Input{Deployed: state("", lp{name: "s1", replace: true, states: []klp.State{{ID: 7, Version: 2}}, funcs: []string{"a"}}), Candidates: candidates(lp{name: "s2", replace: true, states: []klp.State{{ID: 7, Version: 3}}, funcs: []string{"a"}})}},

		{RuleKernelMismatch, true, &Input{Deployed: state(""), Candidates: candidates(lp{name: "old", funcs: []string{"a"}, vermagic: "6.1.0-56-amd64 SMP preempt mod_unload modversions "})}},
		{RuleKernelMismatch, false, &Input{Deployed: state(""), Candidates: candidates(lp{name: "new", funcs: []string{"a"}})}},

		{RuleNameDeployed, true, &Input{Deployed: state("", cum1), Candidates: candidates(cum1)}},
		{RuleNameDeployed, false, &Input{Deployed: state("", cum1), Candidates: candidates(cum2)}},

		{RuleHookReplaceable, true, &Input{Candidates: candidates(lp{name: "h", funcs: []string{"hook_fn"}, hooks: []string{"hook_fn"}})}},
		{RuleHookReplaceable, false, &Input{Candidates: candidates(lp{name: "h", offBand: true, funcs: []string{"hook_fn"}, hooks: []string{"hook_fn"}})}},

		{RuleHookNotOverridable, true, &Input{Candidates: candidates(lp{name: "h", offBand: true, funcs: []string{"hook_fn"}, hooks: []string{"hook_fn"}, noEI: true})}},
		{RuleHookNotOverridable, true, &Input{Candidates: candidates(lp{name: "h", offBand: true, funcs: []string{"hook_fn"}, hooks: []string{"hook_fn"}}), HookKernelLacks: []string{"CONFIG_BPF_KPROBE_OVERRIDE"}}},
		{RuleHookNotOverridable, false, &Input{Candidates: candidates(lp{name: "h", offBand: true, funcs: []string{"hook_fn"}, hooks: []string{"hook_fn"}}), HookKernelLacks: []string{}}},

		{RuleHookMoves, true, &Input{Deployed: state("", lp{name: "h1", replace: true, funcs: []string{"a"}, hooks: []string{"hook_fn"}}), Candidates: candidates(lp{name: "h2", replace: true, funcs: []string{"a"}, hooks: []string{"hook_fn"}})}},
		{RuleHookMoves, false, &Input{Deployed: state(deploy.ModelHybrid, lp{name: "h1", offBand: true, funcs: []string{"a"}, hooks: []string{"hook_fn"}}), Candidates: candidates(lp{name: "c2", replace: true, funcs: []string{"b"}, hooks: []string{"hook_fn"}})}},

		{RuleHookLost, true, &Input{Deployed: state(deploy.ModelMainline, lp{name: "h1", offBand: true, funcs: []string{"a"}, hooks: []string{"hook_fn"}}), Candidates: candidates(lp{name: "c2", replace: true, funcs: []string{"a"}})}},
		{RuleHookLost, false, &Input{Deployed: state("", lp{name: "h1", replace: true, funcs: []string{"a"}, hooks: []string{"hook_fn"}}), Candidates: candidates(lp{name: "h2", replace: true, funcs: []string{"a"}, hooks: []string{"hook_fn"}})}},

		{RuleReplaceUnknown, true, &Input{Deployed: state("", cum1), Candidates: candidates(lp{name: "u", unknownReplace: true, funcs: []string{"a"}})}},
		{RuleReplaceUnknown, false, &Input{Deployed: state("", cum1), Candidates: candidates(lp{name: "u", replace: true, funcs: []string{"a"}})}},

		{RuleModelDropsOffBand, true, &Input{Deployed: state(deploy.ModelMainline, off1), Candidates: candidates(cum1)}},
		{RuleModelDropsOffBand, false, &Input{Deployed: state(deploy.ModelHybrid, off1), Candidates: candidates(cum1)}},
		// An off-band candidate declared so only by the release's layer is
		// kept by a later replace candidate on hybrid, as one declared by
		// the module is.
		{RuleModelDropsOffBand, false, &Input{Deployed: state(deploy.ModelHybrid), Candidates: candidates(lp{name: "off_l", funcs: []string{"x"}}, cum1), Layers: map[string]string{"off_l": klp.LayerOffBand}}},

		{RuleFuncMissing, true, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"nosuch"}}), Symbols: symbolsFrom(t, syms)}},
		{RuleFuncMissing, false, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"a", "mod/m_fn", "other/unknown"}}), Symbols: symbolsFrom(t, syms)}},

		{RuleFuncAmbiguous, true, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"dup"}}), Symbols: symbolsFrom(t, syms)}},
		{RuleFuncAmbiguous, false, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"dup,2"}}), Symbols: symbolsFrom(t, syms)}},

		{RuleSymposRange, true, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"dup,3"}}), Symbols: symbolsFrom(t, syms)}},
		{RuleSymposRange, false, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"a,1"}}), Symbols: symbolsFrom(t, syms)}},

		{RuleNotTraceable, true, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"b"}}), Traceable: traceableFrom(t, "a\nm_fn [mod]\n")}},
		{RuleNotTraceable, false, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"a", "mod/m_fn"}}), Traceable: traceableFrom(t, "a\nm_fn [mod]\n")}},

		{RuleKernelRefuses, true, &Input{Deployed: state(deploy.ModelReplaceSet, off1), Candidates: candidates(lp{name: "p", funcs: []string{"x"}})}},
		{RuleKernelRefuses, false, &Input{Deployed: state(deploy.ModelReplaceSet, off1), Candidates: candidates(lp{name: "p", set: 1, funcs: []string{"x"}})}},

		{RuleInstrumentationLost, true, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"a"}}), Sites: vmlinuxSites("a", tpSwitch), CandidateSites: map[string]*klp.ObjectSites{"p": {Object: "p", Funcs: map[string][][]klp.Site{}}}}},
		{RuleInstrumentationLost, false, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"a"}}), Sites: vmlinuxSites("a", tpSwitch), CandidateSites: map[string]*klp.ObjectSites{"p": {Object: "p", Funcs: map[string][][]klp.Site{"p_a": {{tpSwitch}}}}}}},

		// Going back to s1 lowers state 7 from version 2 to 1: the kernel
		// refuses it over s2.
		{RuleRollbackReboot, true, &Input{Deployed: state("", lp{name: "s1", replace: true, states: []klp.State{{ID: 7, Version: 1}}, funcs: []string{"a"}}), Candidates: candidates(lp{name: "s2", replace: true, states: []klp.State{{ID: 7, Version: 2}}, funcs: []string{"a"}})}},
		// Same version: s1 loads again over s2 and replaces it.
		{RuleRollbackReboot, false, &Input{Deployed: state("", lp{name: "s1", replace: true, states: []klp.State{{ID: 7, Version: 2}}, funcs: []string{"a"}}), Candidates: candidates(lp{name: "s2", replace: true, states: []klp.State{{ID: 7, Version: 2}}, funcs: []string{"a"}})}},
		// A refused step forward has no way back to report (KLP007 says
		// why).
		{RuleRollbackReboot, false, &Input{Deployed: state("", cum1), Candidates: candidates(cum1)}},

		// KLP024: from the target's symbols, else from the release (the
		// candidate's vermagic without a deployed state).
		{RuleModuleReload, true, &Input{Candidates: candidates(kr61)}},
		{RuleModuleReload, true, &Input{Candidates: candidates(kr), Symbols: symbolsFrom(t, syms)}},
		{RuleModuleReload, false, &Input{Candidates: candidates(kr), Symbols: symbolsFrom(t, syms+"ffffffff81000000 T clear_relocate_add\n")}},
		{RuleModuleReload, false, &Input{Candidates: candidates(kr)}},
		{RuleModuleReload, false, &Input{Candidates: candidates(lp{name: "kr", funcs: []string{"a"}, klpRelas: []string{"vmlinux"}, vermagic: kr61.vermagic})}},

		{RuleFtraceIPModify, true, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"a", "b"}}), Tracing: tracingFrom(t, "a (1) R I   \ttramp: 0xffffffffc0400000 (kprobe_ftrace_handler+0x0/0x1a0)\n", "")}},
		{RuleFtraceIPModify, false, &Input{Candidates: candidates(lp{name: "p", funcs: []string{"a", "b"}}), Tracing: tracingFrom(t, "a (1) R I   \ttramp: 0xffffffffc0400000 (klp_ftrace_handler+0x0/0x130)\n", "")}},

		{RuleTransitionBlocker, true, &Input{Deployed: withTasks(state(""), kthreadIn("a", "")), Candidates: candidates(lp{name: "p", funcs: []string{"a"}})}},
		{RuleTransitionBlocker, false, &Input{Deployed: withTasks(state(""), kthreadIn("a", "")), Candidates: candidates(lp{name: "p", funcs: []string{"b"}})}},

		{RuleTargetBuildMismatch, true, &Input{Deployed: builtAs(state(""), "dc9e5df3c94a0a844ce50eb9ef87b7d7efbf3d22"), Candidates: candidates(cum1), Target: &klp.Target{BuildID: "46f129f6d4168327b666a02d6287bcd5ece77f9b"}}},
		{RuleTargetBuildMismatch, false, &Input{Deployed: builtAs(state(""), "46f129f6d4168327b666a02d6287bcd5ece77f9b"), Candidates: candidates(cum1), Target: &klp.Target{BuildID: "46f129f6d4168327b666a02d6287bcd5ece77f9b"}}},

		// Two deployed off-band patches that overlap are not this
		// release's finding: only what the candidates bring is.
		{RuleOffBandOverlap, false, &Input{Deployed: state(deploy.ModelHybrid, off1, off2), Candidates: candidates(off3)}},
	}
	// What each rule reports when it fires, written by hand: its
	// severity, the patches and the functions it names, so that neither
	// the Rules table under test nor a rewritten golden can bless a change.
	type exp struct {
		sev     Severity
		patches []string
		funcs   []string
	}
	wants := map[string][]exp{
		RuleOffBandOverlap:      {{Error, []string{"off_1", "off_2"}, []string{"vmlinux/x,1"}}},
		RuleReplaceNopHazard:    {{Error, []string{"cum_2", "off_1"}, []string{"vmlinux/x,1"}}},
		RuleShadowsOffBand:      {{Warning, []string{"cum_1", "off_1"}, []string{"vmlinux/x,1"}}},
		RuleDropsFunctions:      {{Warning, []string{"cum_2", "cum_1"}, []string{"vmlinux/b,1"}}},
		RuleStateIncompat:       {{Error, []string{"s2", "s1"}, nil}},
		RuleKernelMismatch:      {{Error, []string{"old"}, nil}},
		RuleNameDeployed:        {{Error, []string{"cum_1"}, nil}},
		RuleHookReplaceable:     {{Warning, []string{"h"}, []string{"vmlinux/hook_fn"}}},
		RuleModelDropsOffBand:   {{Error, []string{"cum_1", "off_1"}, nil}},
		RuleFuncMissing:         {{Error, []string{"p"}, []string{"vmlinux/nosuch,1"}}},
		RuleFuncAmbiguous:       {{Error, []string{"p"}, []string{"vmlinux/dup,1"}}},
		RuleSymposRange:         {{Error, []string{"p"}, []string{"vmlinux/dup,3"}}},
		RuleNotTraceable:        {{Error, []string{"p"}, []string{"vmlinux/b,1"}}},
		RuleKernelRefuses:       {{Error, []string{"p", "off_1"}, nil}},
		RuleHookNotOverridable:  {{Error, []string{"h"}, []string{"vmlinux/hook_fn"}}},
		RuleHookMoves:           {{Warning, []string{"h2", "h1"}, []string{"hook_fn"}}},
		RuleHookLost:            {{Error, []string{"c2", "h1"}, []string{"hook_fn"}}},
		RuleReplaceUnknown:      {{Error, []string{"u"}, nil}},
		RuleInstrumentationLost: {{Warning, []string{"p"}, []string{"vmlinux/a,1"}}},
		RuleRollbackReboot:      {{Warning, []string{"s1"}, []string{"vmlinux/a,1"}}},
		RuleModuleReload:        {{Warning, []string{"kr"}, []string{"mod/m_fn,1"}}},
		RuleFtraceIPModify:      {{Error, []string{"p"}, []string{"vmlinux/a,1"}}},
		RuleTransitionBlocker:   {{Warning, []string{"p"}, []string{"vmlinux/a,1"}}},
		RuleTargetBuildMismatch: {{Error, []string{"cum_1"}, nil}},
	}
	covered := map[string][2]bool{}
	for _, tt := range tests {
		name := tt.rule + map[bool]string{true: "/fires", false: "/quiet"}[tt.fires]
		t.Run(name, func(t *testing.T) {
			rep, err := Check(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []Finding
			for _, f := range rep.Findings {
				if f.Rule == tt.rule {
					got = append(got, f)
				}
			}
			if (len(got) > 0) != tt.fires {
				t.Fatalf("rule %s fired %d times, want fires=%v; all findings: %+v", tt.rule, len(got), tt.fires, rep.Findings)
			}
			if tt.fires {
				var have []exp
				for _, f := range got {
					have = append(have, exp{f.Severity, f.Patches, f.Functions})
					if r, _ := RuleByID(f.Rule); f.Message == "" || f.Why == "" || f.Why != r.Why {
						t.Errorf("finding without message or why: %+v", f)
					}
				}
				if diff := cmp.Diff(wants[tt.rule], have, cmp.AllowUnexported(exp{}), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("rule %s findings (-want +got):\n%s", tt.rule, diff)
				}
			}
			// The whole report, other rules included, is pinned too.
			var b bytes.Buffer
			WriteText(&b, rep)
			testutil.Golden(t, b.Bytes())
		})
		c := covered[tt.rule]
		if tt.fires {
			c[0] = true
		} else {
			c[1] = true
		}
		covered[tt.rule] = c
	}
	for _, r := range Rules {
		if c := covered[r.ID]; !c[0] || !c[1] {
			t.Errorf("rule %s lacks a test that fires (%v) or one that stays quiet (%v)", r.ID, c[0], c[1])
		}
	}
}

func TestAcks(t *testing.T) {
	in := &Input{Deployed: state("", lp{name: "cum_1", replace: true, funcs: []string{"a", "b"}}), Candidates: candidates(lp{name: "cum_2", replace: true, funcs: []string{"a"}})}
	rep, _ := Check(in)
	if !rep.Failed(Warning) || rep.Failed(Error) {
		t.Fatalf("Failed(warning) = %v, Failed(error) = %v: want a warning only", rep.Failed(Warning), rep.Failed(Error))
	}
	dir := t.TempDir()
	ack := filepath.Join(dir, "ack.yaml")
	os.WriteFile(ack, []byte("acks:\n  - rule: KLP004\n    patch: cum_2\n    function: vmlinux/b,1\n    reason: b's fix was merged in 6.12.118\n"), 0o644)
	in.Acks, _ = ReadAcks(ack)
	rep, _ = Check(in)
	if rep.Failed(Warning) || len(rep.Findings) != 1 || !rep.Findings[0].Acknowledged || rep.Findings[0].AckReason == "" {
		t.Fatalf("acknowledged finding still fails or is gone: %+v", rep.Findings)
	}
	for _, bad := range []string{"acks:\n  - rule: KLP999\n    reason: x\n", "acks:\n  - rule: KLP004\n", "acks: [\n", "bogus: 1\n"} {
		os.WriteFile(ack, []byte(bad), 0o644)
		if _, err := ReadAcks(ack); err == nil || !strings.Contains(err.Error(), ack) {
			t.Errorf("ReadAcks(%q) = %v, want an error naming the file", bad, err)
		}
	}
}

func TestReadSymbolsErrors(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{"zz T a\n", "ffff a\n", "ffff TT a\n", strings.Repeat("x", 70000) + "\n"} {
		path := filepath.Join(dir, "syms")
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := ReadSymbols(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ReadSymbols(%.20q) = %v, want an error naming the file and line", bad, err)
		}
	}
}

// TestSeedGolden pins the seed example's reports: the hazard under the
// hybrid model, the refusal under mainline.
func TestSeedGolden(t *testing.T) {
	for _, model := range []string{deploy.ModelHybrid, deploy.ModelMainline} {
		t.Run(model, func(t *testing.T) {
			st, err := deploy.ReadState(filepath.Join("..", "..", "testdata", "states", "seed-"+model+".json"))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := klp.ReadScan(filepath.Join("..", "..", "testdata", "scenarios", "seed", "lp3.json"))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Check(&Input{Deployed: st, DeployedPath: "seed.json", Candidates: doc.Modules})
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{deploy.ModelHybrid: RuleReplaceNopHazard, deploy.ModelMainline: RuleModelDropsOffBand}[model]
			if !slices.ContainsFunc(rep.Findings, func(f Finding) bool { return f.Rule == want }) || !rep.Failed(Error) {
				t.Errorf("seed example under %s: want %s failing, got %+v", model, want, rep.Findings)
			}
			var b bytes.Buffer
			WriteText(&b, rep)
			b.WriteString("\n---- json\n")
			enc := json.NewEncoder(&b)
			enc.SetIndent("", "  ")
			enc.Encode(rep)
			b.WriteString("---- sarif\n")
			var log bytes.Buffer
			if err := SARIF(rep, SARIFOptions{Version: "test"}).Write(&log); err != nil {
				t.Fatal(err)
			}
			// Validated against the OASIS SARIF 2.1.0 schema itself.
			if err := validSARIF(t, log.Bytes()); err != nil {
				t.Errorf("SARIF does not validate against the 2.1.0 schema: %v", err)
			}
			var parsed SARIFLog
			if err := json.Unmarshal(log.Bytes(), &parsed); err != nil {
				t.Fatal(err)
			}
			if n := len(parsed.Runs[0].Results); n != len(rep.Findings) {
				t.Errorf("SARIF has %d results, want %d", n, len(rep.Findings))
			}
			b.Write(log.Bytes())
			testutil.Golden(t, b.Bytes())
		})
	}
}

// TestRuleTable pins every rule's stable ID, name and severity, by hand:
// tools and acknowledgement files name them, and CI gates on severity.
func TestRuleTable(t *testing.T) {
	want := []struct {
		id, name string
		sev      Severity
	}{
		{"KLP001", "off-band-overlap", Error},
		{"KLP002", "replace-nop-hazard", Error},
		{"KLP003", "shadows-off-band", Warning},
		{"KLP004", "drops-functions", Warning},
		{"KLP005", "state-incompatible", Error},
		{"KLP006", "kernel-mismatch", Error},
		{"KLP007", "name-deployed", Error},
		{"KLP008", "hook-in-replaceable", Warning},
		{"KLP009", "model-drops-off-band", Error},
		{"KLP010", "function-missing", Error},
		{"KLP011", "function-ambiguous", Error},
		{"KLP012", "sympos-out-of-range", Error},
		{"KLP013", "not-traceable", Error},
		{"KLP014", "kernel-refuses", Error},
		{"KLP015", "hook-not-overridable", Error},
		{"KLP016", "hook-moves", Warning},
		{"KLP017", "hook-lost", Error},
		{"KLP018", "replace-unknown", Error},
		{"KLP019", "instrumentation-lost", Warning},
		{"KLP020", "transition-blocker", Warning},
		{"KLP021", "rollback-needs-reboot", Warning},
		{"KLP022", "ftrace-ipmodify-conflict", Error},
		{"KLP023", "target-build-mismatch", Error},
		{"KLP024", "module-reload-relocs", Warning},
	}
	if len(Rules) != len(want) {
		t.Errorf("%d rules, want %d: a new rule needs its line here", len(Rules), len(want))
	}
	for _, w := range want {
		r, ok := RuleByID(w.id)
		if !ok {
			t.Errorf("rule %s missing", w.id)
			continue
		}
		if r.Name != w.name || r.Severity != w.sev || r.Why == "" {
			t.Errorf("rule %s = %s %s (why %d bytes), want %s %s", w.id, r.Name, r.Severity, len(r.Why), w.name, w.sev)
		}
	}
}

// TestTransitionPending: a deployed transition that has not completed
// makes the kernel refuse every load (-EBUSY), and check says so, naming
// the patch in transition; once it completes the same release is fine.
func TestTransitionPending(t *testing.T) {
	off := lp{name: "off_1", offBand: true, funcs: []string{"x"}}
	cum := lp{name: "cum_2", replace: true, funcs: []string{"a", "b"}}
	for _, tt := range []struct {
		name       string
		transition bool
		fires      bool
	}{
		{"pending", true, true},
		{"completed", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := state(deploy.ModelHybrid, off)
			st.Patches[0].Transition = &tt.transition
			rep, err := Check(&Input{Deployed: st, Candidates: candidates(cum)})
			if err != nil {
				t.Fatal(err)
			}
			var got []Finding
			for _, f := range rep.Findings {
				if f.Rule == RuleKernelRefuses {
					got = append(got, f)
				}
			}
			if !tt.fires {
				if len(got) > 0 {
					t.Fatalf("KLP014 without a pending transition: %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].Severity != Error || !slices.Equal(got[0].Patches, []string{"cum_2", "off_1"}) || !strings.Contains(got[0].Message, "EBUSY") {
				t.Fatalf("findings %+v, want one KLP014 error on cum_2 and off_1 with EBUSY", rep.Findings)
			}
			if !rep.Failed(Error) {
				t.Error("report does not fail at error")
			}
		})
	}
}
