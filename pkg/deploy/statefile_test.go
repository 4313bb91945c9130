package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/safetext"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// goodState is a small valid document, patches out of load order.
const goodState = `{
  "schema": "klpack.deployed/v1",
  "kernel": {"release": "6.1.0-56-amd64", "model": "mainline"},
  "patches": [
    {"name": "lp_b", "livepatch": true, "patches": [{"symbol": "p", "replace": false,
      "objects": [{"name": null, "funcs": [{"old_name": "c_next", "old_sympos": 2, "new_func": "lp_c_next"}], "callbacks": {}}]}],
     "enabled": true, "load_order": 3, "transition": false, "layer": "off-band"},
    {"name": "lp_a", "livepatch": true, "patches": [{"replace": true}], "enabled": true, "load_order": 1, "layer": "cumulative"},
    {"name": "lp_c", "livepatch": true, "patches": [{}], "enabled": false, "load_order": 2, "transition": true}
  ]
}
`

func TestParseStateGood(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		order []string
	}{
		{"sorted by load order", goodState, []string{"lp_a", "lp_c", "lp_b"}},
		{"no patches", `{"schema":"klpack.deployed/v1","kernel":{"release":"6.12.117+deb12-amd64"},"patches":[]}`, nil},
		{"patches null", `{"schema":"klpack.deployed/v1","kernel":{"release":"r","model":"replace-set"},"patches":null}`, nil},
		{"hybrid, load order 0", `{"schema":"klpack.deployed/v1","kernel":{"release":"r","model":"hybrid"},"patches":[{"name":"x","load_order":0}]}`, []string{"x"}},
		{"non-livepatch module, disabled", `{"schema":"klpack.deployed/v1","kernel":{"release":"r"},"patches":[{"name":"x","livepatch":false,"patches":[],"enabled":false,"load_order":1}]}`, []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseState(strings.NewReader(tt.doc), "state.json")
			if err != nil {
				t.Fatalf("ParseState() = %v", err)
			}
			var got []string
			for _, p := range s.Patches {
				got = append(got, p.Name)
			}
			if diff := cmp.Diff(tt.order, got); diff != "" {
				t.Errorf("patch order (-want +got):\n%s", diff)
			}
			if s.Patches == nil {
				t.Errorf("Patches = nil, want empty slice")
			}
		})
	}
}

func TestParseStateBad(t *testing.T) {
	const head = `{"schema":"klpack.deployed/v1","kernel":{"release":"r"},"patches":`
	tests := []struct {
		name      string
		doc       string
		field     string
		line, col int    // syntax errors only
		msg       string // part of the message
	}{
		{name: "wrong schema", doc: `{"schema":"klpack.scan/v1","kernel":{"release":"r"},"patches":[]}`, field: "schema", msg: `got "klpack.scan/v1"`},
		{name: "no schema", doc: `{"kernel":{"release":"r"},"patches":[]}`, field: "schema", msg: `got ""`},
		{name: "no release", doc: `{"schema":"klpack.deployed/v1","kernel":{"model":"mainline"},"patches":[]}`, field: "kernel.release", msg: "missing"},
		{name: "blank release", doc: `{"schema":"klpack.deployed/v1","kernel":{"release":"  "},"patches":[]}`, field: "kernel.release", msg: "missing"},
		{name: "unknown model", doc: `{"schema":"klpack.deployed/v1","kernel":{"release":"r","model":"kpatch"},"patches":[]}`, field: "kernel.model", msg: `unknown model "kpatch"`},
		{name: "duplicate name", doc: head + `[{"name":"a","load_order":1},{"name":"a","load_order":2}]}`, field: "patches[1].name", msg: `duplicate module name "a" (also patches[0])`},
		{name: "duplicate load order", doc: head + `[{"name":"a","load_order":1},{"name":"b","load_order":2},{"name":"c","load_order":1}]}`, field: "patches[2].load_order", msg: "duplicate load order 1 (also patches[0])"},
		{name: "negative load order", doc: head + `[{"name":"a","load_order":-1}]}`, field: "patches[0].load_order", msg: "negative"},
		{name: "unknown layer", doc: head + `[{"name":"a","load_order":1},{"name":"b","load_order":2,"layer":"hotfix"}]}`, field: "patches[1].layer", msg: `unknown layer "hotfix"`},
		{name: "enabled without patches", doc: head + `[{"name":"a","livepatch":true,"patches":[],"enabled":true}]}`, field: "patches[0].enabled", msg: "carries no livepatch"},
		{name: "enabled non-livepatch", doc: head + `[{"name":"a","livepatch":false,"patches":[{}],"enabled":true}]}`, field: "patches[0].enabled", msg: "carries no livepatch"},
		{name: "two in transition", doc: head + `[{"name":"a","load_order":1,"transition":true},{"name":"b","load_order":2,"transition":true}]}`, field: "patches[1].transition", msg: "one transition at a time"},
		{name: "no name", doc: head + `[{"load_order":1}]}`, field: "patches[0].name", msg: "missing"},
		{name: "null patch", doc: head + `[null]}`, field: "patches[0]", msg: "null"},
		{name: "null klp_patch", doc: head + `[{"name":"a","patches":[null]}]}`, field: "patches[0].patches[0]", msg: "null"},
		{name: "other case", doc: `{"Schema":"klpack.deployed/v1","kernel":{"release":"r"},"patches":[]}`, field: "Schema", msg: `unknown field (the field is "schema")`},
		{name: "other case nested", doc: head + `[{"name":"a","patches":[{"objects":[{"funcs":[{"Old_Name":"x"}]}]}]}]}`, field: "patches[0].patches[0].objects[0].funcs[0].Old_Name", msg: `the field is "old_name"`},
		{name: "string load order", doc: head + `[{"name":"a","load_order":1},{"name":"b","load_order":"2"}]}`, field: "patches[1].load_order", msg: `want integer, got string "2"`},
		{name: "fractional load order", doc: head + `[{"name":"a","load_order":1.5}]}`, field: "patches[0].load_order", msg: "want integer"},
		{name: "huge load order", doc: head + `[{"name":"a","load_order":1e400}]}`, field: "patches[0].load_order", msg: "want integer"},
		{name: "null enabled", doc: head + `[{"name":"a","enabled":null}]}`, field: "patches[0].enabled", msg: "null where true or false"},
		{name: "negative sympos", doc: head + `[{"name":"a","patches":[{"objects":[{"funcs":[{"old_sympos":-1}]}]}]}]}`, field: "patches[0].patches[0].objects[0].funcs[0].old_sympos", msg: "unsigned"},
		{name: "replace_set too big", doc: head + `[{"name":"a","patches":[{"replace_set":4294967296}]}]}`, field: "patches[0].patches[0].replace_set", msg: "32 bits"},
		{name: "modinfo value", doc: head + `[{"name":"a","modinfo":{"name":[1]}}]}`, field: `patches[0].modinfo["name"][0]`, msg: "want string"},
		{name: "duplicate key", doc: `{"schema":"klpack.deployed/v1","kernel":{"release":"r"},"patches":[],"patches":[{"name":"a"}]}`, field: "patches", msg: `duplicate key "patches"`},
		{name: "duplicate nested key", doc: head + `[{"name":"a","load_order":1,"enabled":false,"enabled":true}]}`, field: "patches[0].enabled", msg: `duplicate key "enabled"`},
		{name: "duplicate key in modinfo", doc: head + `[{"name":"a","modinfo":{"license":["GPL"],"license":["x"]}}]}`, field: `patches[0].modinfo["license"]`, msg: "duplicate key"},
		{name: "duplicate unknown key", doc: head + `[],"future":{"a":1,"a":2}}`, field: "future.a", msg: "duplicate key"},
		{name: "name with ESC", doc: head + `[{"name":"a\u001b[31m","load_order":1}]}`, field: "patches[0].name", msg: `module name "a\x1b[31m"`},
		{name: "name with newline", doc: head + `[{"name":"a\n1 b yes","load_order":1}]}`, field: "patches[0].name", msg: `module name "a\n1 b yes"`},
		{name: "name with NUL", doc: head + `[{"name":"a\u0000","load_order":1}]}`, field: "patches[0].name", msg: "module name"},
		{name: "object name", doc: head + `[{"name":"a","patches":[{"objects":[{"name":"x/../y"}]}]}]}`, field: "patches[0].patches[0].objects[0].name", msg: "module name"},
		{name: "function name", doc: head + `[{"name":"a","patches":[{"objects":[{"funcs":[{"old_name":"f\u001b[2J"}]}]}]}]}`, field: "patches[0].patches[0].objects[0].funcs[0].old_name", msg: "symbol name"},
		{name: "path with ESC", doc: head + `[{"name":"a","path":"\u001b[2Jx.ko"}]}`, field: "patches[0].path", msg: "control character U+001B"},
		{name: "release with newline", doc: `{"schema":"klpack.deployed/v1","kernel":{"release":"6.1\nkernel x"},"patches":[]}`, field: "kernel.release", msg: "control character U+000A"},
		{name: "kernel not object", doc: `{"schema":"klpack.deployed/v1","kernel":"6.1","patches":[]}`, field: "kernel", msg: "want object"},
		{name: "array document", doc: `[]`, field: "", msg: "want object, got array"},
		{name: "empty", doc: " \n", msg: "empty document"},
		{name: "truncated", doc: "{\n  \"schema\": \"klpack.deployed/v1\",\n  \"kernel\": {", line: 3, col: 14, msg: "unexpected end"},
		{name: "syntax", doc: "{\n  \"schema\": \"klpack.deployed/v1\",\n  \"kernel\": {\"release\": 'r'}\n}", line: 3, col: 25, msg: "invalid character"},
		{name: "trailing data", doc: `{"schema":"klpack.deployed/v1","kernel":{"release":"r"},"patches":[]}` + "\n{}", line: 2, col: 1, msg: "data after the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseState(strings.NewReader(tt.doc), "bad.json")
			se, ok := errors.AsType[*StateError](err)
			if !ok {
				t.Fatalf("ParseState() = %v, %v; want *StateError", s, err)
			}
			if s != nil {
				t.Errorf("ParseState() returned a state with error %v", err)
			}
			if se.Path != "bad.json" || se.Field != tt.field || se.Line != tt.line || se.Col != tt.col {
				t.Errorf("error %q: path %q field %q at %d:%d, want %q field %q at %d:%d",
					err, se.Path, se.Field, se.Line, se.Col, "bad.json", tt.field, tt.line, tt.col)
			}
			if !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("error %q, want it to contain %q", err, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "file bad.json: ") {
				t.Errorf("error %q does not start with the file", err)
			}
		})
	}
}

func TestStateErrorText(t *testing.T) {
	err := &StateError{Path: "s.json", Field: "patches[2].load_order", Msg: "negative load order -1"}
	if got, want := err.Error(), "file s.json: patches[2].load_order: negative load order -1"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err = &StateError{Path: "s.json", Line: 3, Col: 14, Msg: "unexpected end"}
	if got, want := err.Error(), "file s.json: line 3:14: unexpected end"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestParseStateTooLarge(t *testing.T) {
	doc := goodState + strings.Repeat(" ", 200)
	_, err := parseState(strings.NewReader(doc), "big.json", 100)
	if se, ok := errors.AsType[*StateError](err); !ok || !strings.Contains(se.Msg, "larger than") {
		t.Errorf("parseState(limit 100) = %v, want a size error", err)
	}
	if _, err := parseState(strings.NewReader(goodState), "ok.json", int64(len(goodState))); err != nil {
		t.Errorf("parseState(exactly the limit) = %v", err)
	}
}

// TestReadStateTooLarge checks that a file over the limit is refused from
// its size, without reading it: the sparse file would read as NULs.
func TestReadStateTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.json")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, MaxStateSize+1); err != nil {
		t.Fatal(err)
	}
	_, err := ReadState(path)
	se, ok := errors.AsType[*StateError](err)
	if !ok || se.Path != path || !strings.Contains(se.Msg, "larger than the 32 MiB") {
		t.Errorf("ReadState(huge) = %v, want a size error naming the file", err)
	}
}

func TestReadStateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadState(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadState(missing) = %v, want ErrNotExist", err)
	}
	if _, err := ReadState(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadState(dir) = %v, want not a regular file", err)
	}
	// A FIFO would block the open and the read forever.
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ReadState(fifo)
	if se, ok := errors.AsType[*StateError](err); !ok || se.Path != fifo || se.Msg != "not a regular file (a FIFO)" {
		t.Errorf("ReadState(fifo) = %v, want a StateError naming the file", err)
	}
}

// scanState builds a state from real scan records, so that the round
// trip covers everything elfscan emits.
func scanState(t *testing.T) *State {
	t.Helper()
	s := &State{Schema: StateSchema, Kernel: Kernel{Release: "6.12.117+deb12-amd64", Model: ModelMainline}}
	dir := filepath.Join(testutil.Root(), "testdata", "ko", "6.12.117+deb12-amd64")
	for i, name := range []string{"lp_replace.ko", "lp_multiobj.ko.xz", "lp_clone.strip-debug.ko", "lp_param.ko", "klpack_target.ko"} {
		m, err := elfscan.Open(filepath.Join(dir, name), nil)
		if err != nil {
			t.Fatal(err)
		}
		m.Path = "ko/" + name
		tr := i == 1
		s.Patches = append(s.Patches, &Patch{Module: *m, Enabled: m.Livepatch && i != 1, LoadOrder: 10 - i, Transition: &tr, Layer: []string{"", klp.LayerCumulative, klp.LayerOffBand}[i%3]})
	}
	return s
}

func TestStateRoundTrip(t *testing.T) {
	want := scanState(t)
	var buf bytes.Buffer
	if err := EncodeState(&buf, want); err != nil {
		t.Fatal(err)
	}
	first := buf.Bytes()
	got, err := ParseState(bytes.NewReader(first), "rt.json")
	if err != nil {
		t.Fatalf("ParseState(EncodeState()) = %v", err)
	}
	SortPatches(want.Patches)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	var again bytes.Buffer
	if err := EncodeState(&again, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again.Bytes()) {
		t.Errorf("EncodeState is not stable across a round trip")
	}
}

func TestEncodeStateGolden(t *testing.T) {
	s, err := ParseState(strings.NewReader(goodState), "good.json")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := EncodeState(&buf, s); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, buf.Bytes())
}

func TestEncodeStateDoesNotReorderInput(t *testing.T) {
	s := &State{Schema: StateSchema, Kernel: Kernel{Release: "r"}, Patches: []*Patch{
		{Module: klp.Module{Name: "b"}, LoadOrder: 2},
		{Module: klp.Module{Name: "a"}, LoadOrder: 1},
	}}
	if err := EncodeState(io.Discard, s); err != nil {
		t.Fatal(err)
	}
	if s.Patches[0].Name != "b" {
		t.Errorf("EncodeState reordered the caller's patches")
	}
	s.Patches[1].LoadOrder = 2
	err := EncodeState(io.Discard, s)
	if se, ok := errors.AsType[*StateError](err); !ok || se.Field != "patches[1].load_order" {
		t.Errorf("EncodeState(duplicate load order) = %v, want patches[1].load_order", err)
	}
}

func TestWriteState(t *testing.T) {
	s := scanState(t)
	var want bytes.Buffer
	if err := EncodeState(&want, s); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := WriteState(path, s); err != nil {
		t.Fatalf("WriteState() = %v", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Errorf("WriteState wrote other bytes than EncodeState")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	onlyFiles(t, dir, "state.json")

	// Overwriting keeps the file's mode.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	s.Kernel.Model = ModelHybrid
	if err := WriteState(path, s); err != nil {
		t.Fatalf("WriteState(overwrite) = %v", err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after overwrite, want 0600", st.Mode().Perm())
	}
	onlyFiles(t, dir, "state.json")
}

func TestWriteStateFailures(t *testing.T) {
	const original = "original contents\n"
	setup := func(t *testing.T) (dir, path string) {
		dir = t.TempDir()
		path = filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, []byte(original), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir, path
	}
	untouched := func(t *testing.T, dir, path string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil || string(b) != original {
			t.Errorf("original changed: %q, %v", b, err)
		}
		onlyFiles(t, dir, "state.json")
	}

	t.Run("invalid state", func(t *testing.T) {
		dir, path := setup(t)
		bad := &State{Schema: StateSchema, Kernel: Kernel{Release: "r", Model: "nope"}}
		err := WriteState(path, bad)
		se, ok := errors.AsType[*StateError](err)
		if !ok || se.Path != path || se.Field != "kernel.model" {
			t.Errorf("WriteState(bad model) = %v, want a StateError for %s kernel.model", err, path)
		}
		untouched(t, dir, path)
	})
	t.Run("rename fails", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "state.json")
		if err := os.Mkdir(target, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(target, "keep"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// The temporary file is written in full, then the rename fails.
		if err := WriteState(target, scanState(t)); err == nil {
			t.Errorf("WriteState(over a directory) = nil, want an error")
		}
		onlyFiles(t, dir, "state.json")
		onlyFiles(t, target, "keep")
	})
	t.Run("no directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing", "state.json")
		if err := WriteState(path, scanState(t)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("WriteState(missing dir) = %v, want ErrNotExist", err)
		}
	})
}

// onlyFiles fails unless dir holds exactly the names given: no temporary
// file is left behind.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(names, got); diff != "" {
		t.Errorf("files in %s (-want +got):\n%s", dir, diff)
	}
}

func FuzzStateFile(f *testing.F) {
	f.Add([]byte(goodState))
	f.Add([]byte(`{"schema":"klpack.deployed/v1","kernel":{"release":"r"},"patches":[]}`))
	f.Add([]byte(`{"schema":"klpack.deployed/v1","kernel":{"release":"r"},"patches":[{"name":"a","load_order":1},{"name":"a"}]}`))
	f.Add([]byte("{\n  \"schema\": \"klpack.deployed/v1\",\n  \"kernel\": {"))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"schema":"klpack.deployed/v1","kernel":{"release":"r"},"patches":[{"name":"a","load_order":1,"Name":"b"}],"x":{"y":1,"y":2}}`))
	for _, name := range []string{"seed-hybrid.json", "seed-hybrid-transition.json", "seed-mainline.json", "testdata-6.1.json"} {
		if b, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "states", name)); err == nil {
			f.Add(b)
		}
	}
	var buf bytes.Buffer
	s := &State{Schema: StateSchema, Kernel: Kernel{Release: "6.1.0-56-amd64"}}
	dir := filepath.Join(testutil.Root(), "testdata", "ko", "6.1.0-56-amd64")
	for i, name := range []string{"lp_replace.strip-debug.ko", "lp_multiobj.strip-debug.ko"} {
		if m, err := elfscan.Open(filepath.Join(dir, name), nil); err == nil {
			s.Patches = append(s.Patches, &Patch{Module: *m, Enabled: true, LoadOrder: i + 1})
		}
	}
	if err := EncodeState(&buf, s); err == nil {
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseState(bytes.NewReader(data), "fuzz.json")
		if (err == nil) == (s == nil) {
			t.Fatalf("ParseState() = %v, %v: want exactly one of state and error", s, err)
		}
		if err != nil {
			se, ok := errors.AsType[*StateError](err)
			if !ok || se.Path != "fuzz.json" || !strings.HasPrefix(err.Error(), "file fuzz.json: ") {
				t.Fatalf("ParseState() error %T %v, want a *StateError naming fuzz.json", err, err)
			}
			return
		}
		// What was accepted prints as one line per patch, with nothing
		// that drives a terminal.
		var sum bytes.Buffer
		if err := WriteSummary(&sum, s); err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(sum.String()) {
			if err := safetext.Check(strings.TrimSuffix(line, "\n")); err != nil {
				t.Fatalf("WriteSummary line %q: %v", line, err)
			}
		}
		if n := strings.Count(sum.String(), "\n"); n != 1+min(len(s.Patches), 1)+len(s.Patches) {
			t.Fatalf("WriteSummary printed %d lines for %d patches:\n%s", n, len(s.Patches), sum.String())
		}
		var out bytes.Buffer
		if err := EncodeState(&out, s); err != nil {
			t.Fatalf("EncodeState(parsed) = %v", err)
		}
		again, err := ParseState(bytes.NewReader(out.Bytes()), "again.json")
		if err != nil {
			t.Fatalf("ParseState(EncodeState(parsed)) = %v\n%s", err, out.Bytes())
		}
		// Encoding writes what this reader knows: the fields it ignored
		// are gone from the second document.
		if again.Ignored != nil {
			t.Fatalf("ParseState(EncodeState(parsed)) ignored %q", again.Ignored)
		}
		s.Ignored = nil
		if diff := cmp.Diff(s, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

// TestStateVersions: the v1 reader policy (pkg/klp's doc) on state
// files: a newer writer's fields are ignored and listed, an older
// writer's missing fields are zero, another schema is refused.
func TestStateVersions(t *testing.T) {
	path := filepath.Join(testutil.Root(), "testdata", "states", "seed-hybrid.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseState(bytes.NewReader(data), "current.json")
	if err != nil {
		t.Fatal(err)
	}
	if want.Ignored != nil {
		t.Fatalf("current document: ignored %v", want.Ignored)
	}
	// A newer writer: a field added to every object of the document
	// (maps such as modinfo excepted: their keys are data).
	var tree any
	if err := json.Unmarshal(data, &tree); err != nil {
		t.Fatal(err)
	}
	var add func(v any, isMap bool)
	add = func(v any, isMap bool) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				add(e, k == "modinfo")
			}
			if !isMap {
				v["zz_future"] = map[string]any{"n": 1}
			}
		case []any:
			for _, e := range v {
				add(e, false)
			}
		}
	}
	add(tree, false)
	newer, _ := json.Marshal(tree)
	got, err := ParseState(bytes.NewReader(newer), "newer.json")
	if err != nil {
		t.Fatalf("newer document: %v", err)
	}
	for _, f := range []string{"zz_future", "kernel.zz_future", "patches[0].zz_future", "patches[1].patches[0].objects[0].funcs[0].zz_future"} {
		if !slices.Contains(got.Ignored, f) {
			t.Errorf("Ignored = %v, lacks %s", got.Ignored, f)
		}
	}
	got.Ignored = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("newer document read differently (-current +newer):\n%s", diff)
	}
	// An older writer: only what the first v1 contract required.
	older := `{"schema":"klpack.deployed/v1","kernel":{"release":"6.1.0-56-amd64"},"patches":[
		{"name":"lp1","vermagic":"6.1.0-56-amd64 SMP","livepatch":true,"enabled":true,"load_order":1,
		 "patches":[{"replace":false,"objects":[{"name":null,"funcs":[{"old_name":"f"}]}]}]}]}`
	old, err := ParseState(strings.NewReader(older), "older.json")
	if err != nil {
		t.Fatalf("older document: %v", err)
	}
	if p := old.Patches[0]; p.Transition != nil || p.Layer != "" || p.Arch != "" || old.Kernel.Model != "" || p.Patches[0].Objects[0].Funcs[0].OldName != "f" {
		t.Errorf("older document: %+v", p)
	}
	v2 := strings.Replace(string(data), StateSchema, "klpack.deployed/v2", 1)
	if _, err := ParseState(strings.NewReader(v2), "v2.json"); err == nil {
		t.Error("a v2 document was read")
	}
}

// TestWriteSummaryQuotes: a state built in memory is not validated; what
// its names hold still reaches the terminal as one visible token.
func TestWriteSummaryQuotes(t *testing.T) {
	s := &State{Kernel: Kernel{Release: "6.1\n"}, Patches: []*Patch{{Module: klp.Module{Name: "a\x1b[31m", Path: "x\ny.ko"}, LoadOrder: 1, Layer: "\r"}}}
	var out bytes.Buffer
	if err := WriteSummary(&out, s); err != nil {
		t.Fatal(err)
	}
	want := `kernel "6.1\n" (model default), 1 patch
ORDER  MODULE       ENABLED  TRANSITION  REPLACE  LAYER  FUNCS  FILE
1      "a\x1b[31m"  no       ?           -        "\r"   0      "x\ny.ko"
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("WriteSummary (-want +got):\n%s", diff)
	}
}
