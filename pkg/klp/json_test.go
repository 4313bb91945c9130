package klp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
)

// TestWriteScanJSON checks the parallel encoder against encoding/json's
// own indented output of the same document.
func TestWriteScanJSON(t *testing.T) {
	vmlinux := "klpack_target"
	for _, n := range []int{0, 1, 2, 7} {
		var mods []*Module
		for i := range n {
			mods = append(mods, &Module{
				Name:    fmt.Sprintf("m%d", i),
				Modinfo: map[string][]string{"alias": {"a", "b"}, "name": {fmt.Sprintf("m%d", i)}},
				Patches: []*Patch{{Symbol: "patch", States: []State{{ID: 1, Version: 2}}, Objects: []Object{{Name: &vmlinux, Funcs: []Func{{OldName: "f"}}}}, Hooks: []Hook{}}},
			})
		}
		var got bytes.Buffer
		if err := WriteScanJSON(&got, mods); err != nil {
			t.Fatal(err)
		}
		doc := Scan{Schema: ScanSchema, Modules: mods}
		if doc.Modules == nil {
			doc.Modules = []*Module{}
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(&doc); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%d modules: WriteScanJSON differs from encoding/json:\n%s\nwant:\n%s", n, got.String(), want.String())
		}
	}
}
