package main

import (
	"slices"
	"testing"

	"github.com/spf13/cobra"

	"github.com/klpack/klpack/pkg/check"
	"github.com/klpack/klpack/pkg/deploy"
)

func TestArgNames(t *testing.T) {
	tests := []struct {
		use  string
		want []string
	}{
		{"show [--json] STATE", []string{"STATE"}},
		{"scan [--json] PATH...", []string{"PATH"}},
		{"sign --key KEY [--cert CERT] [flags] MODULE", []string{"MODULE"}},
		{"set FUNC --cgroup DIR --value N", []string{"FUNC"}},
		{"package [flags] RELEASE | package -f klpack.yaml [flags]", []string{"RELEASE"}},
		{"simulate [--json] [--kernel-model M] SCENARIO", []string{"SCENARIO"}},
		{"capture --sysfs DIR [--root DIR] [--modules DIR...] [-o FILE]", nil},
		{"copy SRC DST", []string{"SRC", "DST"}},
		{"version [--json]", nil},
	}
	for _, tt := range tests {
		if got := argNames(tt.use); !slices.Equal(got, tt.want) {
			t.Errorf("argNames(%q) = %q, want %q", tt.use, got, tt.want)
		}
	}
}

// TestEnumValues pins the values the flags list to what the packages
// that own them accept.
func TestEnumValues(t *testing.T) {
	for _, m := range kernelModels {
		if !deploy.ValidModel(m) {
			t.Errorf("--kernel-model lists %q, which deploy.ValidModel refuses", m)
		}
	}
	for _, s := range severities {
		if _, err := check.ParseSeverity(s); err != nil {
			t.Errorf("--fail-on lists %q: %v", s, err)
		}
	}
	if _, err := check.ParseSeverity("fatal"); err == nil {
		t.Errorf("check.ParseSeverity(fatal) = nil error: is the list stale?")
	}
	if len(severities) != 3 || len(kernelModels) != 3 {
		t.Errorf("severities %q, kernel models %q: want three each", severities, kernelModels)
	}
}

func TestEnumValueSet(t *testing.T) {
	tests := []struct {
		values []string
		list   bool
		in     string
		want   string
		err    string
	}{
		{kernelModels, false, "hybrid", "hybrid", ""},
		{kernelModels, false, "Replace-Set", "replace-set", ""},
		{kernelModels, false, "mainlin", "", "want mainline, hybrid or replace-set"},
		{kernelModels, false, "", "", "want mainline, hybrid or replace-set"},
		{[]string{"rpm", "deb"}, true, "DEB,rpm", "deb,rpm", ""},
		{[]string{"rpm", "deb"}, true, "rpm,", "", `"": want rpm or deb, comma-separated`},
		{[]string{"rpm", "deb"}, false, "rpm,deb", "", "want rpm or deb"},
	}
	for _, tt := range tests {
		got := "unset"
		err := (&enumValue{target: &got, values: tt.values, list: tt.list}).Set(tt.in)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("Set(%q) = %v, want error %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("Set(%q) = %v, value %q; want %q", tt.in, err, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"json", "json", 0},
		{"jsn", "json", 1},
		{"jsno", "json", 2},
		{"", "json", 4},
		{"output", "", 6},
		{"fial-on", "fail-on", 2},
		{"deploy", "deployed", 2},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}

// TestFlagSuggestions: a command's flags and those it inherits, within
// two edits, closest first; never a hidden one.
func TestFlagSuggestions(t *testing.T) {
	root := &cobra.Command{Use: "root"}
	root.PersistentFlags().String("color", "", "")
	child := &cobra.Command{Use: "child", Run: func(*cobra.Command, []string) {}}
	root.AddCommand(child)
	child.Flags().Bool("json", false, "")
	child.Flags().String("output", "", "")
	child.Flags().String("outputs", "", "")
	child.Flags().String("secret", "", "")
	child.Flags().MarkHidden("secret")
	// What cobra does before it parses the flags.
	if err := child.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typed string
		want  []string
	}{
		{"jsn", []string{"--json"}},
		{"JSON", []string{"--json"}},
		{"colr", []string{"--color"}},
		{"outptu", []string{"--output", "--outputs"}},
		{"outputs", []string{"--outputs", "--output"}},
		{"output=x", []string{"--output", "--outputs"}},
		{"secrt", nil},
		// Three edits from json: too far to be a typo of it.
		{"jxyz", nil},
		{"frobnicate", nil},
	}
	for _, tt := range tests {
		if got := flagSuggestions(child, tt.typed); !slices.Equal(got, tt.want) {
			t.Errorf("flagSuggestions(%q) = %q, want %q", tt.typed, got, tt.want)
		}
	}
}
