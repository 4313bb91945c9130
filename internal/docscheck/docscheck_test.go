package docscheck

import (
	"reflect"
	"slices"
	"testing"
)

type inner struct {
	A string `yaml:"a" json:"a"`
	B []int  `yaml:"b" json:"b,omitempty"`
}

type embedded struct {
	E string `json:"e"`
}

type item struct {
	Name string `yaml:"name" json:"name"`
	In   *inner `yaml:"in" json:"in"`
}

type stopped struct {
	Deep string `json:"deep"`
}

type doc struct {
	embedded
	Schema  string            `yaml:"schema" json:"schema"`
	Inner   inner             `yaml:"inner" json:"inner"`
	Items   []*item           `yaml:"items" json:"items"`
	Map     map[string]string `yaml:"map" json:"map"`
	Skip    string            `yaml:"-" json:"-"`
	Stopped *stopped          `yaml:"stopped" json:"stopped"`
	Inline  inner             `yaml:",inline" json:"inline"`
	private string
}

func TestKeys(t *testing.T) {
	for _, tt := range []struct {
		tag  string
		stop []reflect.Type
		want []string
	}{
		{"yaml", nil, []string{"a", "b", "inner", "inner.a", "inner.b", "items", "items[].in", "items[].in.a", "items[].in.b", "items[].name", "map", "schema", "stopped", "stopped.deep"}},
		{"json", []reflect.Type{reflect.TypeFor[stopped]()}, []string{"e", "inline", "inline.a", "inline.b", "inner", "inner.a", "inner.b", "items", "items[].in", "items[].in.a", "items[].in.b", "items[].name", "map", "schema", "stopped"}},
		{"json", nil, []string{"e", "inline", "inline.a", "inline.b", "inner", "inner.a", "inner.b", "items", "items[].in", "items[].in.a", "items[].in.b", "items[].name", "map", "schema", "stopped", "stopped.deep"}},
	} {
		if got := Keys(reflect.TypeFor[doc](), tt.tag, tt.stop...); !slices.Equal(got, tt.want) {
			t.Errorf("Keys(doc, %s, %v) =\n%q, want\n%q", tt.tag, tt.stop, got, tt.want)
		}
	}
}

const page = "# Title\n\n## One\n\nText `not-a-key`.\n\n| key | meaning |\n| --- | --- |\n| `a` | the a |\n| `b`, `c` | b and c |\n\n" +
	"| value | meaning |\n| --- | --- |\n| `v` | not a key |\n\n## Two\n\n| Key | meaning |\n|---|---|\n| `x` | x |\n"

func TestPageKeys(t *testing.T) {
	for _, tt := range []struct {
		page, section string
		want          []string
		err           bool
	}{
		{page, "One", []string{"a", "b", "c"}, false},
		{page, "Two", []string{"x"}, false},
		{page, "Three", nil, true},
		{"## One\n\n| key | m |\n|---|---|\n| a | unquoted |\n", "One", nil, true},
	} {
		got, err := PageKeys([]byte(tt.page), tt.section)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("PageKeys(%q) = %q, %v; want %q, error %v", tt.section, got, err, tt.want, tt.err)
		}
	}
}

func TestDiff(t *testing.T) {
	undoc, unknown := Diff([]string{"a", "b", "c"}, []string{"b", "c", "d"})
	if !slices.Equal(undoc, []string{"a"}) || !slices.Equal(unknown, []string{"d"}) {
		t.Errorf("Diff = %q, %q; want [a], [d]", undoc, unknown)
	}
}

func TestBlocksAndYAMLKeys(t *testing.T) {
	page := "## Example\n\n```yaml\na: 1\nb:\n  c: [x]\n  d:\n    - e: 1\n      f: 2\n```\n\n```sh\nls\n```\n\n## Other\n\n```yaml\nz: 1\n```\n"
	blocks := Blocks([]byte(page), "Example", "yaml")
	if len(blocks) != 1 {
		t.Fatalf("Blocks = %q, want one block", blocks)
	}
	keys, err := YAMLKeys([]byte(blocks[0]))
	if want := []string{"a", "b", "b.c", "b.d", "b.d[].e", "b.d[].f"}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("YAMLKeys = %q, %v; want %q", keys, err, want)
	}
}
