package fleet

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/safeio"
	"github.com/klpack/klpack/internal/testutil"
)

const okLine = `{"host":"a","kernel":"k","patches":[]}`

// TestLineErrors: a line that cannot be read is an input error naming
// the file, the line and what is wrong, not a host dropped.
func TestLineErrors(t *testing.T) {
	p := func(extra string) string {
		return `{"host":"a","kernel":"k","patches":[{"module":"m","package":"p","version":"1","enabled":true,"load_order":1` + extra + `}]}`
	}
	for _, tt := range []struct {
		name, line string
		want       string
	}{
		{"not json", `host=a`, "column 1: want a JSON object"},
		{"truncated", `{"host":"a","kernel":"k","patches":[`, "want an object"},
		{"array", `[1]`, "want a JSON object"},
		{"trailing", okLine + ` {}`, "data after the object"},
		{"repeated key", `{"host":"a","host":"b","kernel":"k","patches":[]}`, `repeated key "host"`},
		{"case of a key", `{"Host":"a","kernel":"k","patches":[]}`, `key "Host": the key is "host"`},
		{"host and hosts", `{"host":"a","hosts":2,"kernel":"k","patches":[]}`, `both "host" and "hosts"`},
		{"no host", `{"kernel":"k","patches":[]}`, `no "host"`},
		{"empty host", `{"host":"","kernel":"k","patches":[]}`, "empty ID"},
		{"hosts zero", `{"hosts":0,"kernel":"k","patches":[]}`, "want 1 to 1099511627776"},
		{"hosts over the bound", `{"hosts":1099511627777,"kernel":"k","patches":[]}`, "want 1 to 1099511627776"},
		{"hosts negative", `{"hosts":-1,"kernel":"k","patches":[]}`, "non-negative integer"},
		{"hosts float", `{"hosts":1.5,"kernel":"k","patches":[]}`, "non-negative integer"},
		{"hosts huge", `{"hosts":99999999999999999999,"kernel":"k","patches":[]}`, "out of range"},
		{"no kernel", `{"host":"a","patches":[]}`, `"patches" without "kernel"`},
		{"kernel number", `{"host":"a","kernel":6,"patches":[]}`, "kernel: want a string"},
		{"no patches", `{"host":"a","kernel":"k"}`, `no "patches" or "state"`},
		{"both forms", `{"host":"a","kernel":"k","patches":[],"state":{}}`, `both "patches" and "state"`},
		{"bad build id", `{"host":"a","kernel":"k","build_id":"xyz","patches":[]}`, "is not hex"},
		{"patch no module", `{"host":"a","kernel":"k","patches":[{"package":"p","version":"1","enabled":true,"load_order":1}]}`, `patches[0]: no "module"`},
		{"patch bad module", `{"host":"a","kernel":"k","patches":[{"module":"a/b","package":"p","version":"1","enabled":true,"load_order":1}]}`, "not a letter"},
		{"patch enabled string", p(`,"enabled":"yes"`), `repeated key "enabled"`},
		{"patch enabled type", `{"host":"a","kernel":"k","patches":[{"module":"m","package":"p","version":"1","enabled":1,"load_order":1}]}`, "enabled: want true or false"},
		{"patch load order huge", `{"host":"a","kernel":"k","patches":[{"module":"m","package":"p","version":"1","enabled":true,"load_order":1048577}]}`, "load_order 1048577, want 0 to 1048576"},
		{"patch twice", `{"host":"a","kernel":"k","patches":[{"module":"m","package":"p","version":"1","enabled":true,"load_order":1},{"module":"m","package":"p","version":"1","enabled":true,"load_order":2}]}`, "listed twice"},
		{"load order twice", `{"host":"a","kernel":"k","patches":[{"module":"m","package":"p","version":"1","enabled":true,"load_order":1},{"module":"n","package":"p","version":"1","enabled":true,"load_order":1}]}`, "given twice"},
		{"raw control char", "{\"host\":\"a\x01\",\"kernel\":\"k\",\"patches\":[]}", "control character 0x01"},
		{"invalid utf-8", "{\"host\":\"a\xff\",\"kernel\":\"k\",\"patches\":[]}", "invalid UTF-8"},
		{"bad escape", `{"host":"a\q","kernel":"k","patches":[]}`, `invalid escape \q`},
		{"deep", `{"host":"a","kernel":"k","patches":[],"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "nested deeper"},
		{"bad state", `{"host":"a","state":{"schema":"klpack.deployed/v1","kernel":{"release":"k"},"patches":[{"load_order":"x"}]}}`, "state: "},
		{"state kernel differs", `{"host":"a","kernel":"j","state":{"schema":"klpack.deployed/v1","kernel":{"release":"k"},"patches":[]}}`, `kernel "j", the state's is "k"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := okLine + "\n\n" + tt.line + "\n" + okLine + "\n"
			inv, err := ParseInventory(t.Context(), strings.NewReader(in), "inv.jsonl", ReadOptions{})
			le, ok := errors.AsType[*LineError](err)
			if !ok {
				t.Fatalf("ParseInventory = %v, %v; want a *LineError", inv, err)
			}
			if le.Line != 3 || le.Path != "inv.jsonl" || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q (line %d), want line 3 of inv.jsonl and %q", err, le.Line, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "file inv.jsonl: line 3: ") {
				t.Errorf("error %q does not start with the file and line", err)
			}
		})
	}
}

// TestFirstErrorWins: with two bad lines in different chunks read side by
// side, the error is the first line's, every run.
func TestFirstErrorWins(t *testing.T) {
	var b bytes.Buffer
	lines := 0
	for b.Len() < 3*chunkSize {
		lines++
		if lines == 1000 || b.Len() > 2*chunkSize && b.Len() < 2*chunkSize+100 {
			b.WriteString("{oops}\n")
			continue
		}
		b.WriteString(okLine + "\n")
	}
	// Errors recorded out of order, as workers meet them: the earliest
	// line's stays.
	g := &grouper{errLine: -1}
	for _, line := range []int64{5, 3, 9} {
		g.fail(line, &LineError{Line: line})
	}
	if le, ok := errors.AsType[*LineError](g.err); !ok || le.Line != 3 || g.errLine != 3 {
		t.Errorf("after errors at lines 5, 3, 9: %v at %d, want line 3", g.err, g.errLine)
	}
	for range 5 {
		_, err := ParseInventory(t.Context(), bytes.NewReader(b.Bytes()), "inv", ReadOptions{Workers: 4})
		if le, ok := errors.AsType[*LineError](err); !ok || le.Line != 1000 {
			t.Fatalf("error %v, want line 1000", err)
		}
	}
}

// TestHostileInput: inputs that would make a careless reader hang, run
// out of memory or accept garbage.
func TestHostileInput(t *testing.T) {
	fifo, _ := testutil.HostileFiles(t, 1)
	huge := strings.Repeat(" ", MaxLine+1)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for range 1000 {
		zw.Write([]byte(okLine + "\n"))
	}
	zw.Close()
	truncated := filepath.Join(t.TempDir(), "t.jsonl.gz")
	if err := os.WriteFile(truncated, gz.Bytes()[:gz.Len()-10], 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("fifo", func(t *testing.T) {
		_, err := Read(t.Context(), fifo, ReadOptions{})
		if _, ok := errors.AsType[*safeio.NotRegularError](err); !ok {
			t.Errorf("Read(FIFO) = %v, want a *safeio.NotRegularError", err)
		}
	})
	t.Run("device", func(t *testing.T) {
		_, err := Read(t.Context(), "/dev/zero", ReadOptions{})
		if _, ok := errors.AsType[*safeio.NotRegularError](err); !ok {
			t.Errorf("Read(/dev/zero) = %v, want a *safeio.NotRegularError", err)
		}
	})
	t.Run("truncated gzip", func(t *testing.T) {
		_, err := Read(t.Context(), truncated, ReadOptions{})
		if _, ok := errors.AsType[*LineError](err); !ok || !strings.Contains(err.Error(), "unexpected EOF") {
			t.Errorf("Read(truncated gzip) = %v, want a *LineError saying unexpected EOF", err)
		}
	})
	for _, tt := range []struct {
		name, in string
		line     int64
	}{
		{"huge line, no newline", okLine + "\n" + huge + strings.Repeat(" ", chunkSize), 2},
		{"huge line, last", okLine + "\n" + huge, 2},
		{"huge line, then more", okLine + "\n" + huge + "\n" + okLine + "\n", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseInventory(t.Context(), strings.NewReader(tt.in), "inv", ReadOptions{})
			if le, ok := errors.AsType[*LineError](err); !ok || le.Line != tt.line || !strings.Contains(err.Error(), "longer than") {
				t.Errorf("ParseInventory = %v, want line %d longer than the bound", err, tt.line)
			}
		})
	}
	t.Run("a line at the bound", func(t *testing.T) {
		line := okLine[:len(okLine)-1] + `,"pad":"` + strings.Repeat("x", MaxLine-len(okLine)-9) + `"}`
		if len(line) != MaxLine {
			t.Fatalf("line of %d bytes", len(line))
		}
		if _, err := ParseInventory(t.Context(), strings.NewReader(line+"\n"), "inv", ReadOptions{}); err != nil {
			t.Errorf("a line of MaxLine bytes: %v", err)
		}
	})
	t.Run("too many hosts", func(t *testing.T) {
		line := `{"hosts":1099511627776,"kernel":"k","patches":[]}` + "\n"
		_, err := ParseInventory(t.Context(), strings.NewReader(line+line), "inv", ReadOptions{Workers: 1})
		if le, ok := errors.AsType[*LineError](err); !ok || le.Line != 2 || !strings.Contains(err.Error(), "hosts in all") {
			t.Errorf("ParseInventory = %v, want line 2: more hosts than the bound", err)
		}
	})
	t.Run("too many combinations", func(t *testing.T) {
		var b strings.Builder
		for i := range 20 {
			b.WriteString(`{"host":"a","kernel":"k` + string(rune('a'+i)) + `","patches":[]}` + "\n")
		}
		_, err := ParseInventory(t.Context(), strings.NewReader(b.String()), "inv", ReadOptions{MaxCombinations: 10})
		if !errors.Is(err, ErrTooManyCombinations) {
			t.Errorf("ParseInventory = %v, want ErrTooManyCombinations", err)
		}
		if _, err := ParseInventory(t.Context(), strings.NewReader(b.String()), "inv", ReadOptions{MaxCombinations: 20}); err != nil {
			t.Errorf("20 combinations at a bound of 20: %v", err)
		}
	})
}

// TestManifestErrors: a manifests directory that cannot be trusted is an
// input error naming the file.
func TestManifestErrors(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata/fleet/manifests/1.0-1/klp-patch-6.1.0-56-amd64_1.0-1.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(src, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	for _, tt := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"none", map[string][]byte{"plan.json": []byte("{}")}, "no manifest.json"},
		{"schema", map[string][]byte{"a/manifest.json": edit(func(m map[string]any) { m["schema"] = "x" })}, `schema "x"`},
		{"layer", map[string][]byte{"a/manifest.json": edit(func(m map[string]any) { m["layer"] = "x" })}, `layer "x"`},
		{"no module", map[string][]byte{"a/manifest.json": edit(func(m map[string]any) { delete(m, "module") })}, "no module record"},
		{"bad json", map[string][]byte{"a/manifest.json": []byte(`{"schema":`)}, "a/manifest.json"},
		{"two different", map[string][]byte{
			"a/manifest.json": src,
			"b/manifest.json": edit(func(m map[string]any) { m["module"].(map[string]any)["sha256"] = strings.Repeat("0", 64) }),
		}, "describe it differently"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range tt.files {
				p := filepath.Join(dir, name)
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ms, err := LoadManifests(t.Context(), dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadManifests = %v, %v; want an error with %q", ms, err, tt.want)
			}
		})
	}
	t.Run("same twice", func(t *testing.T) {
		dir := t.TempDir()
		for _, d := range []string{"dist", "usr/lib/klpack/6.1.0-56-amd64/klp-patch-6.1.0-56-amd64"} {
			os.MkdirAll(filepath.Join(dir, d), 0o755)
		}
		os.WriteFile(filepath.Join(dir, "dist/klp-patch-6.1.0-56-amd64_1.0-1.manifest.json"), src, 0o644)
		os.WriteFile(filepath.Join(dir, "usr/lib/klpack/6.1.0-56-amd64/klp-patch-6.1.0-56-amd64/manifest.json"), src, 0o644)
		ms, err := LoadManifests(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"1.0-1", "1.0_1-1"} {
			if m := ms.Lookup("klp-patch-6.1.0-56-amd64", v); m == nil || m.Module.Name != "lp_replace" {
				t.Errorf("Lookup(%s) = %v, want lp_replace's manifest", v, m)
			}
		}
	})
}
