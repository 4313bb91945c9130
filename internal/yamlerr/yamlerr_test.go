package yamlerr

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type doc struct {
	Name  string   `yaml:"name"`
	Count int      `yaml:"count"`
	Flag  *bool    `yaml:"flag"`
	Items []string `yaml:"items"`
	Sub   struct {
		A string `yaml:"a"`
	} `yaml:"sub"`
}

// TestMessage: yaml.v3's real errors, worded without Go types.
func TestMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"- a\n- b\n", "line 1: a list where a mapping belongs"},
		{"count: many\n", `line 1: a string ("many") where a whole number belongs`},
		{"flag: maybe\n", `line 1: a string ("maybe") where true or false belongs`},
		{"items: x\n", `line 1: a string ("x") where a list belongs`},
		{"sub: [1]\n", "line 1: a list where a mapping belongs"},
		{"name: a\nnmae: b\n", "line 2: field nmae not found"},
		{"count: x\nitems: {a: 1}\n", `line 1: a string ("x") where a whole number belongs; line 2: a mapping where a list belongs`},
	}
	for _, tt := range tests {
		dec := yaml.NewDecoder(strings.NewReader(tt.in))
		dec.KnownFields(true)
		var d doc
		te, ok := errors.AsType[*yaml.TypeError](dec.Decode(&d))
		if !ok {
			t.Fatalf("%q: no type error", tt.in)
		}
		got := Message(te)
		if got != tt.want {
			t.Errorf("%q: %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "yamlerr.") || strings.Contains(got, "[]string") {
			t.Errorf("%q: a Go type in %q", tt.in, got)
		}
	}
}

// TestDecode: every error of a first Decode, from real yaml.v3 runs,
// worded for the author: empty, ELF, type, syntax.
func TestDecode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty: no YAML document"},
		{"\n\n  \n", "empty: no YAML document"},
		{"# only a comment\n", "empty: no YAML document"},
		{"\x7fELF\x02\x01\x01\x00\x00\x00", "an ELF file, not a YAML document"},
		{"- a\n- b\n", "line 1: a list where a mapping belongs"},
		{"name: [\n", "line 1: did not find expected node content"},
		{"bogus: 1\n", "line 1: field bogus not found"},
	}
	for _, tt := range tests {
		dec := yaml.NewDecoder(strings.NewReader(tt.in))
		dec.KnownFields(true)
		var d doc
		err := dec.Decode(&d)
		if err == nil {
			t.Fatalf("Decode(%q) = nil, want an error", tt.in)
		}
		if got := Decode([]byte(tt.in), err); got != tt.want {
			t.Errorf("Decode(%q, %v) = %q, want %q", tt.in, err, got, tt.want)
		}
	}
}
