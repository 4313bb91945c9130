package release

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/docscheck"
	"github.com/klpack/klpack/internal/testutil"
)

// TestKlpackYAMLDocs checks docs/klpack-yaml.md against Config: every key
// documented, no key documented that klpack.yaml lacks.
func TestKlpackYAMLDocs(t *testing.T) {
	docscheck.Check(t, filepath.Join(testutil.Root(), "docs", "klpack-yaml.md"), "Keys",
		docscheck.Keys(reflect.TypeFor[Config](), "yaml"))
}

// TestKlpackYAMLExample parses the page's example with ParseConfig; the
// fragments after it must decode into a Config with every key known, and
// all of them together use every key, as the page says.
func TestKlpackYAMLExample(t *testing.T) {
	path := filepath.Join(testutil.Root(), "docs", "klpack-yaml.md")
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := docscheck.Blocks(page, "Example", "yaml")
	if len(blocks) == 0 {
		t.Fatalf("%s: no yaml block under ## Example", path)
	}
	c, err := ParseConfig([]byte(blocks[0]), path+" example")
	if err != nil {
		t.Fatalf("the example does not parse: %v", err)
	}
	if c.Package.Timeout != 120 || len(c.Modules) != 3 || c.Sign.Modules == nil || c.Sign.Modules.Hash != "sha256" {
		t.Errorf("the example parsed as %+v: not the page's", c)
	}
	var used []string
	for i, b := range blocks {
		dec := yaml.NewDecoder(bytes.NewReader([]byte(b)))
		dec.KnownFields(true)
		var c Config
		if err := dec.Decode(&c); err != nil {
			t.Errorf("example block %d: %v", i+1, err)
		}
		keys, err := docscheck.YAMLKeys([]byte(b))
		if err != nil {
			t.Fatal(err)
		}
		used = append(used, keys...)
	}
	slices.Sort(used)
	unused, _ := docscheck.Diff(docscheck.Keys(reflect.TypeFor[Config](), "yaml"), slices.Compact(used))
	if len(unused) > 0 {
		t.Errorf("the examples, said to use every key between them, lack %q", unused)
	}
}
