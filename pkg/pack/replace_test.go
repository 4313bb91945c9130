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
			err := declare(&klp.Module{Patches: []*klp.Patch{&p}}, &ModuleSpec{Replace: tt.declared})
			if (err != nil) != tt.wantErr {
				t.Fatalf("declare = %v, want error %t", err, tt.wantErr)
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

// TestDeclareReplaceable: replaceable and replace_set declarations fill in
// only what the scan read nothing of, and a contradiction is an error.
func TestDeclareReplaceable(t *testing.T) {
	yes, no := true, false
	set1, set2 := uint32(1), uint32(2)
	tests := []struct {
		name            string
		patch           klp.Patch
		spec            ModuleSpec
		wantReplaceable *bool
		wantSet         *uint32
		wantErr         bool
	}{
		{"undeclared", klp.Patch{}, ModuleSpec{}, nil, nil, false},
		{"replaceable declared", klp.Patch{}, ModuleSpec{Replaceable: &no}, &no, nil, false},
		{"replaceable read, same", klp.Patch{Replaceable: &no, ReplaceableSource: klp.ReplaceInit}, ModuleSpec{Replaceable: &no}, &no, nil, false},
		{"replaceable read, other", klp.Patch{Replaceable: &yes, ReplaceableSource: klp.ReplaceInit}, ModuleSpec{Replaceable: &no}, &yes, nil, true},
		{"set declared", klp.Patch{}, ModuleSpec{ReplaceSet: &set2}, nil, &set2, false},
		{"set read, other", klp.Patch{ReplaceSet: &set1, ReplaceSetSource: klp.ReplaceInit}, ModuleSpec{ReplaceSet: &set2}, nil, &set1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.patch
			err := declare(&klp.Module{Patches: []*klp.Patch{&p}}, &tt.spec)
			if (err != nil) != tt.wantErr {
				t.Fatalf("declare = %v, want error %t", err, tt.wantErr)
			}
			if (p.Replaceable == nil) != (tt.wantReplaceable == nil) || p.Replaceable != nil && *p.Replaceable != *tt.wantReplaceable {
				t.Errorf("replaceable = %v, want %v", p.Replaceable, tt.wantReplaceable)
			}
			if (p.ReplaceSet == nil) != (tt.wantSet == nil) || p.ReplaceSet != nil && *p.ReplaceSet != *tt.wantSet {
				t.Errorf("replace_set = %v, want %v", p.ReplaceSet, tt.wantSet)
			}
			if !tt.wantErr && tt.spec.Replaceable != nil && p.ReplaceableSource != klp.ReplaceManifest && tt.patch.Replaceable == nil {
				t.Errorf("replaceable source = %q, want %q", p.ReplaceableSource, klp.ReplaceManifest)
			}
		})
	}
}
