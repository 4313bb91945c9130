package elfscan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/elf64"
	"github.com/klpack/klpack/pkg/klp"
)

// TestInitReplaceNotEvaluated pins replace for init code that overwrites
// the static initializer with a value the scan cannot take as a constant:
// from an int module parameter (compare and SETNE, not a copy) it is the
// parameter, from a function's result it is unknown; never the
// initializer's value (lp_intparam false, lp_replacefn true).
func TestInitReplaceNotEvaluated(t *testing.T) {
	tests := []struct {
		module  string
		replace bool
		source  string
		param   string
		hint    string
	}{
		{"lp_intparam", false, klp.ReplaceParam, "replace", ""},
		{"lp_replacefn", false, klp.ReplaceUnknown, "", "declare the patch's replace in the release manifest"},
	}
	for _, kernel := range kernels {
		for _, tt := range tests {
			for _, v := range variants {
				path := filepath.Join(koDir, kernel, tt.module+v)
				t.Run(kernel+"/"+tt.module+v, func(t *testing.T) {
					m, err := Open(path, nil)
					if err != nil {
						t.Fatalf("Open(%q) = %v", path, err)
					}
					if len(m.Patches) != 1 {
						t.Fatalf("Open(%q): %d patches, want 1", path, len(m.Patches))
					}
					p := m.Patches[0]
					if p.Replace != tt.replace || p.ReplaceSource != tt.source || p.ReplaceParam != tt.param {
						t.Errorf("Open(%q) replace = %v, %q, %q; want %v, %q, %q", path, p.Replace, p.ReplaceSource, p.ReplaceParam, tt.replace, tt.source, tt.param)
					}
					if !strings.Contains(p.ReplaceHint, tt.hint) || (tt.hint == "") != (p.ReplaceHint == "") {
						t.Errorf("Open(%q) replace_hint = %q, want one containing %q", path, p.ReplaceHint, tt.hint)
					}
				})
			}
		}
	}
}

// TestInitReplaceRules pins how the stores and calls the x86 scan saw
// before klp_enable_patch settle replace in lp_param (6.1): the last store
// to the field wins, a store the scan cannot evaluate or that another path
// may bypass makes it unknown, and so does a call after it that may
// reach the patch.
func TestInitReplaceRules(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(koDir, "6.1.0-56-amd64", "lp_param.ko"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf64.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Symbols(); err != nil {
		t.Fatal(err)
	}
	params, err := moduleParams(f)
	if err != nil || len(params) != 1 {
		t.Fatalf("moduleParams = %v, %v; want lp_param's one parameter", params, err)
	}
	l := klpLayout64
	patch := elf64.Ref{Sec: f.Section(".data")}
	replace := elf64.Ref{Sec: patch.Sec, Off: uint64(l.patchReplace)}
	one := store{at: replace, size: 1, imm: 1, isImm: true}
	extern := callSite{stores: 1, callee: elf64.Ref{Extern: "printk"}, known: true}
	tests := []struct {
		name   string
		call   enableCall
		want   bool
		source string
	}{
		{"no store", enableCall{}, false, klp.ReplaceStatic},
		{"constant", enableCall{stores: []store{one}}, true, klp.ReplaceInit},
		{"constant in a wider store", enableCall{stores: []store{{at: patch, size: 32, imm: 1 << 8, isImm: true}}}, false, klp.ReplaceInit},
		{"parameter", enableCall{stores: []store{{at: replace, size: 1, from: params[0].arg, load: true}}}, false, klp.ReplaceParam},
		{"parameter compared with zero", enableCall{stores: []store{{at: replace, size: 1, from: params[0].arg, load: true, nonzero: true, fromSize: 1}}}, false, klp.ReplaceParam},
		{"unknown value", enableCall{stores: []store{{at: replace, size: 1}}}, false, klp.ReplaceUnknown},
		{"unknown value, then a constant", enableCall{stores: []store{{at: replace, size: 1}, one}}, true, klp.ReplaceInit},
		{"constant before a branch target", enableCall{stores: []store{{at: replace, size: 1, imm: 1, isImm: true, joined: true}}}, false, klp.ReplaceUnknown},
		{"a store the scan cannot place", enableCall{stores: []store{one, {wild: true}}}, false, klp.ReplaceUnknown},
		{"patch address escaped", enableCall{stores: []store{one}, escaped: true}, false, klp.ReplaceUnknown},
		{"store elsewhere", enableCall{stores: []store{{at: elf64.Ref{Sec: patch.Sec, Off: replace.Off + 1}, size: 1}}}, false, klp.ReplaceStatic},
		{"external call after the store", enableCall{stores: []store{one}, calls: []callSite{extern}}, true, klp.ReplaceInit},
		{"external call before the store", enableCall{stores: []store{one}, calls: []callSite{{stores: 0, callee: extern.callee, known: true}}}, true, klp.ReplaceInit},
		{"indirect call before the store", enableCall{stores: []store{one}, calls: []callSite{{stores: 0}}}, true, klp.ReplaceInit},
		{"indirect call after the store", enableCall{stores: []store{one}, calls: []callSite{{stores: 1}}}, false, klp.ReplaceUnknown},
		{"indirect call without a store", enableCall{calls: []callSite{{}}}, false, klp.ReplaceUnknown},
		{"patch passed to a call", enableCall{stores: []store{one}, calls: []callSite{{stores: 1, callee: extern.callee, known: true, args: []regValue{{addr: patch, isAddr: true}}}}}, false, klp.ReplaceUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &klp.Patch{ReplaceSource: klp.ReplaceStatic}
			tt.call.patch = patch
			if err := initReplace(f, &l, p, tt.call, params); err != nil {
				t.Fatalf("initReplace = %v", err)
			}
			if p.Replace != tt.want || p.ReplaceSource != tt.source {
				t.Errorf("initReplace: replace = %v from %q (%s), want %v from %q", p.Replace, p.ReplaceSource, p.ReplaceHint, tt.want, tt.source)
			}
		})
	}
}
