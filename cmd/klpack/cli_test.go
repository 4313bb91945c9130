package main

import (
	"slices"
	"testing"
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
