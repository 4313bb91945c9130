package fleet

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
)

// FuzzLine checks the hand-written line decoder against encoding/json:
// whatever it accepts, encoding/json accepts too and reads the same
// values from. It never panics, whatever the bytes.
func FuzzLine(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata/fleet/inventory.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, MaxLine)
	for sc.Scan() {
		f.Add(bytes.Clone(sc.Bytes()))
	}
	f.Add([]byte(`{"host":"\ud83d\ude00 \u00e9\"","kernel":"k\n","build_id":null,"patches":[],"x":[1e5,-0.5,{"y":null}]}`))
	f.Add([]byte(`{"host":"\ud800","kernel":"\ud800\u0041","patches":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p parser
		if err := p.parse(b); err != nil {
			return
		}
		var std struct {
			Host    *string          `json:"host"`
			Hosts   *int64           `json:"hosts"`
			Kernel  *string          `json:"kernel"`
			BuildID *string          `json:"build_id"`
			State   json.RawMessage  `json:"state"`
			Patches []map[string]any `json:"patches"`
		}
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("the decoder accepted %q, encoding/json refuses it: %v", b, err)
		}
		l := &p.l
		str := func(name string, got []byte, has bool, want *string) {
			if has != (want != nil) || want != nil && string(got) != *want {
				t.Fatalf("%s: decoder %q (%v), encoding/json %v in %q", name, got, has, want, b)
			}
		}
		str("host", l.host, l.hasHost, std.Host)
		str("kernel", l.kernel, l.hasKernel, std.Kernel)
		str("build_id", l.buildID, l.hasBuild, std.BuildID)
		if l.hasHosts != (std.Hosts != nil) || std.Hosts != nil && *std.Hosts != l.hosts {
			t.Fatalf("hosts: decoder %d, encoding/json %v in %q", l.hosts, std.Hosts, b)
		}
		if l.hasState && !bytes.Equal(l.state, std.State) {
			t.Fatalf("state: decoder %q, encoding/json %q", l.state, std.State)
		}
		if len(l.patches) != len(std.Patches) {
			t.Fatalf("patches: decoder %d, encoding/json %d in %q", len(l.patches), len(std.Patches), b)
		}
		for i, rp := range l.patches {
			sp := std.Patches[i]
			for _, kv := range []struct {
				key string
				got []byte
			}{{"module", rp.module}, {"package", rp.pkg}, {"version", rp.version}} {
				if s, ok := sp[kv.key].(string); ok && s != string(kv.got) {
					t.Fatalf("patches[%d].%s: decoder %q, encoding/json %q", i, kv.key, kv.got, s)
				}
			}
			if v, ok := sp["enabled"].(bool); ok && v != rp.enabled {
				t.Fatalf("patches[%d].enabled differs", i)
			}
			if v, ok := sp["load_order"].(float64); ok && v != float64(rp.loadOrder) {
				t.Fatalf("patches[%d].load_order: decoder %d, encoding/json %v", i, rp.loadOrder, v)
			}
		}
		// The whole read path takes the line too, or says why: a result or
		// an error, never both, and the result marshals.
		inv, err := ParseInventory(t.Context(), bytes.NewReader(b), "fuzz", ReadOptions{Workers: 1})
		if (err == nil) == (inv == nil) {
			t.Fatalf("ParseInventory = %v, %v: want one of them", inv, err)
		}
		if inv != nil {
			if _, err := json.Marshal(inv); err != nil {
				t.Fatalf("the inventory does not marshal: %v", err)
			}
		}
	})
}
