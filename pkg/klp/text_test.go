package klp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestWriteScanTextReplace: a replace the scan could not read is shown as
// unknown with its hint, never as false.
func TestWriteScanTextReplace(t *testing.T) {
	format := FormatKlpBuild
	tests := []struct {
		name  string
		patch Patch
		want  []string
		never string
	}{
		{"init code", Patch{Symbol: ".init.klp_objects", Replace: true, ReplaceSource: ReplaceInit}, []string{"replace=true (init code)"}, "unknown"},
		{"unknown", Patch{Symbol: ".init.klp_objects", ReplaceSource: ReplaceUnknown, ReplaceHint: "declare it in the release manifest"},
			[]string{"replace=unknown", "replace_hint:", "declare it in the release manifest"}, "replace=false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			m := &Module{Name: "m", Livepatch: true, Format: &format, Patches: []*Patch{&tt.patch}}
			if err := WriteScanText(&b, []*Module{m}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("WriteScanText lacks %q:\n%s", w, b.String())
				}
			}
			if strings.Contains(b.String(), tt.never) {
				t.Errorf("WriteScanText shows %q:\n%s", tt.never, b.String())
			}
		})
	}
}

// TestKlpRefsJSON: the load-time references are omitted when absent, so
// records of modules without them keep their form.
func TestKlpRefsJSON(t *testing.T) {
	b, err := json.Marshal(&Module{Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("klp_")) {
		t.Errorf("module without references marshals %s", b)
	}
	m := &Module{Name: "m", KlpRelas: []KlpRela{{Section: ".klp.rela.vmlinux..text", Object: "vmlinux", Target: ".text", Count: 2}},
		KlpSyms: []KlpSym{{Object: "vmlinux", Name: "m_show", Sympos: 2}}}
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"klp_relas":[{"section":".klp.rela.vmlinux..text","object":"vmlinux","target":".text","count":2}]`, `"klp_syms":[{"object":"vmlinux","name":"m_show","sympos":2}]`} {
		if !bytes.Contains(b, []byte(w)) {
			t.Errorf("JSON lacks %s:\n%s", w, b)
		}
	}
}

// TestWriteScanTextRefs: the text form counts the load-time references
// and names their objects; a module without any prints no such line.
func TestWriteScanTextRefs(t *testing.T) {
	m := &Module{Name: "m", Arch: "arm64", Livepatch: true,
		KlpRelas: []KlpRela{{Section: ".klp.rela.vmlinux..text", Object: "vmlinux", Target: ".text", Count: 2}, {Section: ".klp.rela.kobject_example..text", Object: "kobject_example", Target: ".text", Count: 3}},
		KlpSyms:  []KlpSym{{Object: "vmlinux", Name: "m_show", Sympos: 2}, {Object: "kobject_example", Name: "foo"}, {Object: "vmlinux", Name: "x"}}}
	var b bytes.Buffer
	if err := WriteScanText(&b, []*Module{m}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"arch:", "arm64", "3 .klp.sym symbols in vmlinux, kobject_example; 5 relocations in 2 .klp.rela sections"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("WriteScanText lacks %q:\n%s", w, b.String())
		}
	}
	b.Reset()
	if err := WriteScanText(&b, []*Module{{Name: "plain"}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "resolved at load") {
		t.Errorf("a module without references shows them:\n%s", b.String())
	}
}
