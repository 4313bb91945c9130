package pack

import (
	"testing"

	"github.com/klpack/klpack/pkg/klp"
)

// TestDeclareReplace: the manifest's replace fills in only what the scan
// could not read, and contradicting what it did read is an error.
func TestDeclareReplace(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name       string
		patch      klp.Patch
		declared   *bool
		want       bool
		wantSource string
		wantErr    bool
	}{
		{"unknown, declared true", klp.Patch{ReplaceSource: klp.ReplaceUnknown, ReplaceHint: "h"}, &yes, true, klp.ReplaceManifest, false},
		{"unknown, declared false", klp.Patch{ReplaceSource: klp.ReplaceUnknown, ReplaceHint: "h"}, &no, false, klp.ReplaceManifest, false},
		{"unknown, undeclared", klp.Patch{ReplaceSource: klp.ReplaceUnknown, ReplaceHint: "h"}, nil, false, klp.ReplaceUnknown, false},
		{"read, declared the same", klp.Patch{Replace: true, ReplaceSource: klp.ReplaceInit}, &yes, true, klp.ReplaceInit, false},
		{"read, declared otherwise", klp.Patch{Replace: true, ReplaceSource: klp.ReplaceInit}, &no, true, klp.ReplaceInit, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.patch
			err := declareReplace(&klp.Module{Patches: []*klp.Patch{&p}}, tt.declared)
			if (err != nil) != tt.wantErr {
				t.Fatalf("declareReplace = %v, want error %t", err, tt.wantErr)
			}
			if p.Replace != tt.want || p.ReplaceSource != tt.wantSource {
				t.Errorf("replace = %t (%s), want %t (%s)", p.Replace, p.ReplaceSource, tt.want, tt.wantSource)
			}
			if p.ReplaceSource == klp.ReplaceManifest && p.ReplaceHint != "" {
				t.Errorf("hint %q kept after the declaration", p.ReplaceHint)
			}
		})
	}
}
