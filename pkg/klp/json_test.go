package klp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// TestParseScanVersions: an older reader takes a newer writer's v1
// document (fields it does not know are ignored), a newer reader an older
// document (missing fields are zero), and nobody takes v2.
func TestParseScanVersions(t *testing.T) {
	const current = `{"schema":"klpack.scan/v1","modules":[{"path":"a.ko","sha256":"00","name":"a","vermagic":"6.1.0 SMP","arch":"x86_64","livepatch":true,"format":"static","layout_source":"dwarf","modinfo":{"livepatch":["Y"]},"signature":null,
		"patches":[{"symbol":"patch","replace":true,"replace_source":"static initializer","replaceable":null,"replace_set":null,"states":[{"id":1,"version":2}],
		"objects":[{"name":null,"funcs":[{"old_name":"f","old_sympos":0,"new_func":"lp_f"}],"callbacks":{}}],"hooks":[]}]}]}`
	const newer = `{"schema":"klpack.scan/v1","generator":{"name":"klpack","version":"9"},"modules":[{"path":"a.ko","sha256":"00","name":"a","vermagic":"6.1.0 SMP","arch":"x86_64","livepatch":true,"format":"static","layout_source":"dwarf","modinfo":{"livepatch":["Y"]},"signature":null,"build_id":"abcd",
		"patches":[{"symbol":"patch","replace":true,"replace_source":"static initializer","replaceable":null,"replace_set":null,"states":[{"id":1,"version":2,"note":"x"}],"future":{"deep":[1,2]},
		"objects":[{"name":null,"funcs":[{"old_name":"f","old_sympos":0,"new_func":"lp_f","size":12}],"callbacks":{"pre_patch_v2":"x"}}],"hooks":[]}]}]}`
	const older = `{"schema":"klpack.scan/v1","modules":[{"name":"a","vermagic":"6.1.0 SMP","livepatch":true,
		"patches":[{"replace":true,"objects":[{"funcs":[{"old_name":"f"}]}]}]}]}`
	want, err := ParseScan(strings.NewReader(current))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseScan(strings.NewReader(newer))
	if err != nil {
		t.Fatalf("newer document: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("newer document read differently (-current +newer):\n%s", diff)
	}
	old, err := ParseScan(strings.NewReader(older))
	if err != nil {
		t.Fatalf("older document: %v", err)
	}
	p := old.Modules[0].Patches[0]
	if old.Modules[0].Arch != "" || old.Modules[0].Format != nil || p.Replaceable != nil || p.States != nil || !p.Replace || p.Objects[0].Funcs[0].OldName != "f" {
		t.Errorf("older document: %+v", old.Modules[0])
	}
	for _, doc := range []string{
		strings.Replace(current, "klpack.scan/v1", "klpack.scan/v2", 1),
		`{"modules":[]}`,
		`{"schema":"klpack.scan/v1","modules":[{"name":"a","patches":[{"replace":"yes"}]}]}`,
	} {
		if s, err := ParseScan(strings.NewReader(doc)); err == nil {
			t.Errorf("ParseScan(%.60s…) = %+v, want an error", doc, s)
		}
	}
}
