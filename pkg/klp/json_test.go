package klp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/klpack/klpack/internal/safeio"
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

// TestWriteScanJSONUnhashed: the v2 document is the v1 one under its own
// schema, and a record with a sha256 is refused rather than written.
func TestWriteScanJSONUnhashed(t *testing.T) {
	mods := []*Module{{Name: "a", Path: "a.ko", Patches: []*Patch{}}, {Name: "b", Path: "b.ko", Patches: []*Patch{}}}
	var v1, v2 bytes.Buffer
	if err := WriteScanJSON(&v1, mods); err != nil {
		t.Fatal(err)
	}
	if err := WriteScanJSONUnhashed(&v2, mods); err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(v1.String(), `"klpack.scan/v1"`, `"klpack.scan/v2"`, 1); v2.String() != want {
		t.Errorf("v2 document:\n%s\nwant:\n%s", v2.String(), want)
	}
	mods[1].SHA256 = "00"
	if err := WriteScanJSONUnhashed(io.Discard, mods); err == nil || !strings.Contains(err.Error(), "b.ko") {
		t.Errorf("a hashed record in v2: %v, want an error naming b.ko", err)
	}
}

// TestParseScanVersions: an older reader takes a newer writer's v1
// document (fields it does not know are ignored), a newer reader an older
// document (missing fields are zero), v2 (unhashed) is read as v1 when
// no record has a sha256, and no other schema is.
func TestParseScanVersions(t *testing.T) {
	const current = `{"schema":"klpack.scan/v1","modules":[{"path":"a.ko","sha256":"00","name":"a","vermagic":"6.1.0 SMP","arch":"x86_64","livepatch":true,"format":"static","layout_source":"dwarf","modinfo":{"livepatch":["Y"]},"signature":null,
		"patches":[{"symbol":"patch","replace":true,"replace_source":"static initializer","replaceable":null,"replace_set":null,"states":[{"id":1,"version":2}],
		"objects":[{"name":null,"funcs":[{"old_name":"f","old_sympos":0,"new_func":"lp_f"}],"callbacks":{}}],"hooks":[]}]}]}`
	const newer = `{"schema":"klpack.scan/v1","generator":{"name":"klpack","version":"9"},"modules":[{"path":"a.ko","sha256":"00","name":"a","vermagic":"6.1.0 SMP","arch":"x86_64","livepatch":true,"format":"static","layout_source":"dwarf","modinfo":{"livepatch":["Y"]},"signature":null,"build_id":"abcd",
		"patches":[{"symbol":"patch","replace":true,"replace_source":"static initializer","replaceable":null,"replace_set":null,"states":[{"id":1,"version":2,"note":"x"}],"future":{"deep":[1,2]},
		"objects":[{"name":null,"funcs":[{"old_name":"f","old_sympos":0,"new_func":"lp_f","size":12}],"callbacks":{"pre_patch_v2":"x"}}],"hooks":[]}]}]}`
	const older = `{"schema":"klpack.scan/v1","modules":[{"name":"a","vermagic":"6.1.0 SMP","livepatch":true,
		"patches":[{"replace":true,"objects":[{"funcs":[{"old_name":"f"}]}]}]}]}`
	want, err := ParseScan([]byte(current), "current.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseScan([]byte(newer), "newer.json")
	if err != nil {
		t.Fatalf("newer document: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("newer document read differently (-current +newer):\n%s", diff)
	}
	old, err := ParseScan([]byte(older), "older.json")
	if err != nil {
		t.Fatalf("older document: %v", err)
	}
	p := old.Modules[0].Patches[0]
	if old.Modules[0].Arch != "" || old.Modules[0].Format != nil || p.Replaceable != nil || p.States != nil || !p.Replace || p.Objects[0].Funcs[0].OldName != "f" {
		t.Errorf("older document: %+v", old.Modules[0])
	}
	unhashed := strings.Replace(strings.Replace(current, "klpack.scan/v1", "klpack.scan/v2", 1), `"sha256":"00"`, `"sha256":""`, 1)
	v2, err := ParseScan([]byte(unhashed), "v2.json")
	if err != nil {
		t.Fatalf("v2 document: %v", err)
	}
	want.Modules[0].SHA256 = ""
	if diff := cmp.Diff(want.Modules, v2.Modules); diff != "" {
		t.Errorf("v2 document read differently from v1 less its sha256 (-v1 +v2):\n%s", diff)
	}
	for _, doc := range []string{
		strings.Replace(current, "klpack.scan/v1", "klpack.scan/v2", 1),
		strings.Replace(current, "klpack.scan/v1", "klpack.scan/v3", 1),
		`{"modules":[]}`,
		`{"schema":"klpack.scan/v1","modules":[{"name":"a","patches":[{"replace":"yes"}]}]}`,
	} {
		if s, err := ParseScan([]byte(doc), "doc.json"); err == nil {
			t.Errorf("ParseScan(%.60s…) = %+v, want an error", doc, s)
		}
	}
}

// TestParseScanBad: what a hostile or corrupt scan document holds is
// refused with the file and the JSON path of the field.
func TestParseScanBad(t *testing.T) {
	const head = `{"schema":"klpack.scan/v1","modules":[`
	const lp = `{"name":"lp","livepatch":true,"patches":[{"objects":[{"name":null,"funcs":[{"old_name":"f","new_func":"lp_f"}]}]}]}`
	tests := []struct{ name, doc, want string }{
		{"duplicate key", `{"schema":"klpack.scan/v1","modules":[],"modules":[` + lp + `]}`, `file s.json: modules: duplicate key "modules"`},
		{"duplicate nested key", head + `{"name":"a","livepatch":false,"livepatch":true}]}`, `file s.json: modules[0].livepatch: duplicate key`},
		{"other case", head + `{"name":"a","Name":"b"}]}`, `file s.json: modules[0].Name: unknown field (the field is "name")`},
		{"null module", head + `null]}`, "file s.json: modules[0]: null where a module is required"},
		{"null patch", head + `{"name":"a","livepatch":true,"patches":[null]}]}`, "file s.json: modules[0].patches[0]: null where a klp_patch"},
		{"no name", head + `{"livepatch":false}]}`, "file s.json: modules[0].name: empty module name"},
		{"name with ESC", head + `{"name":"a\u001b[31m"}]}`, `file s.json: modules[0].name: module name "a\x1b[31m"`},
		{"name with newline", head + `{"name":"a\nb"}]}`, `modules[0].name: module name "a\nb"`},
		{"object name", head + `{"name":"lp","patches":[{"objects":[{"name":"../x"}]}]}]}`, "modules[0].patches[0].objects[0].name: module name"},
		{"function name", head + `{"name":"lp","patches":[{"objects":[{"funcs":[{"old_name":"f\u0000"}]}]}]}]}`, "modules[0].patches[0].objects[0].funcs[0].old_name: symbol name"},
		{"new_func name", head + `{"name":"lp","patches":[{"objects":[{"funcs":[{"old_name":"f","new_func":"a\nb"}]}]}]}]}`, "funcs[0].new_func: \"a\\nb\": control character"},
		{"clone base", head + `{"name":"lp","patches":[{"objects":[{"funcs":[{"old_name":"f.isra.0","old_base":"f g"}]}]}]}]}`, "funcs[0].old_base: symbol name"},
		{"clone suffix", head + `{"name":"lp","patches":[{"objects":[{"funcs":[{"old_name":"f","old_clone":".isra\u001b"}]}]}]}]}`, "funcs[0].old_clone:"},
		{"demangled", head + `{"name":"lp","patches":[{"objects":[{"funcs":[{"old_name":"f"},{"old_name":"g","old_demangled":"a\rb"}]}]}]}]}`, "funcs[1].old_demangled:"},
		{"callback", head + `{"name":"lp","patches":[{"objects":[{"callbacks":{"pre_patch":"x\u001by"}}]}]}]}`, "objects[0].callbacks.pre_patch:"},
		{"hook func", head + `{"name":"lp","patches":[{"hooks":[{"object":"lp","func":"$(id)"}]}]}]}`, "patches[0].hooks[0].func: symbol name"},
		{"hook object", head + `{"name":"lp","patches":[{"hooks":[{"object":"","func":"f"}]}]}]}`, "patches[0].hooks[0].object: empty module name"},
		{"klp_sym", head + `{"name":"lp","klp_syms":[{"object":"vmlinux","name":"a,b"}]}]}`, "modules[0].klp_syms[0].name: symbol name"},
		{"path with newline", head + `{"name":"lp","path":"a\nlp.ko: livepatch x"}]}`, `modules[0].path: "a\nlp.ko: livepatch x": control character U+000A`},
		{"vermagic with ESC", head + `{"name":"lp","vermagic":"6.1 \u001b]0;x\u0007"}]}`, "modules[0].vermagic:"},
		{"signer", head + `{"name":"lp","signature":{"signer":"\r"}}]}`, "modules[0].signature.signer:"},
		{"invalid UTF-8 key of modinfo", head + `{"name":"lp","modinfo":{"a\u0085":[]}}]}`, "modules[0].modinfo:"},
		{"replace_hint", head + `{"name":"lp","patches":[{"replace_hint":"x\ny"}]}]}`, "modules[0].patches[0].replace_hint:"},
		{"syntax", "{\n\"schema\": x}", "file s.json: line 2:11: invalid character"},
		{"trailing", `{"schema":"klpack.scan/v1","modules":[]} {}`, "file s.json: line 1:42: data after the end"},
		{"schema with ESC", `{"schema":"\u001b[2J","modules":[]}`, `file s.json: schema: "\x1b[2J", want "klpack.scan/v1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseScan([]byte(tt.doc), "s.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseScan() = %v, %v; want error containing %q", s, err, tt.want)
			}
		})
	}
	// Modinfo values may hold newlines: real parameter descriptions do.
	ok := head + `{"name":"lp","modinfo":{"parm":["x:line one\n\tline two"]}}]}`
	if _, err := ParseScan([]byte(ok), "ok.json"); err != nil {
		t.Errorf("ParseScan(modinfo value with a newline) = %v", err)
	}
}

// TestReadScan: a file that is no regular file, or larger than the limit,
// is refused before it is read, naming the file.
func TestReadScan(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.json")
	if err := os.WriteFile(huge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, MaxScanSize+1); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{fifo, fifo + ": not a regular file (a FIFO)"},
		{huge, huge + ": data exceeds limit"},
		{dir, dir + ": not a regular file (a directory)"},
	} {
		if _, err := ReadScan(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadScan(%s) = %v, want %q", tt.path, err, tt.want)
		}
	}
	if _, err := ReadScan(huge); !errors.Is(err, safeio.ErrTooLarge) {
		t.Errorf("ReadScan(huge) = %v, want ErrTooLarge", err)
	}
}

// FuzzScanJSON: an accepted document encodes (WriteScanJSON) to one that
// reads back the same, every record valid; a refused one names the file.
func FuzzScanJSON(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "scenarios", "seed", "*.json"))
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"schema":"klpack.scan/v1","modules":[{"name":"a","patches":[{"objects":[{"name":"m","funcs":[{"old_name":"f.isra.0","old_base":"f","old_clone":".isra.0"}],"callbacks":{"pre_patch":"p"}}],"hooks":[{"object":"m","func":"f"}]}]}]}`))
	f.Add([]byte(`{"schema":"klpack.scan/v1","modules":[],"modules":[]}`))
	f.Add([]byte(`{"schema":"klpack.scan/v1","modules":[{"name":"a\u001b"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseScan(data, "fuzz.json")
		if err != nil {
			if s != nil || !strings.HasPrefix(err.Error(), "file fuzz.json: ") {
				t.Fatalf("ParseScan() = %v, %v; want an error naming fuzz.json", s, err)
			}
			return
		}
		for i, m := range s.Modules {
			if err := m.Validate(); err != nil {
				t.Fatalf("modules[%d] accepted: %v", i, err)
			}
		}
		// Each version is written back as itself: v2 by the unhashed
		// writer, which ParseScan lets hold no sha256.
		write := WriteScanJSON
		if s.Schema == ScanSchemaUnhashed {
			write = WriteScanJSONUnhashed
		}
		var out bytes.Buffer
		if err := write(&out, s.Modules); err != nil {
			t.Fatal(err)
		}
		again, err := ParseScan(out.Bytes(), "again.json")
		if err != nil {
			t.Fatalf("ParseScan(WriteScanJSON(accepted)) = %v\n%s", err, out.Bytes())
		}
		if diff := cmp.Diff(s, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
