package elfscan

import (
	"path/filepath"
	"strings"
	"testing"

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
