package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOf(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name          string
		bi            *debug.BuildInfo
		linked        string
		version, text string
	}{
		{"no build info", nil, "", "devel", ""},
		{"go build of a clean checkout",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("9cbfc0c1f4db", "false")},
			"", "devel", "klpack devel\ncommit 9cbfc0c1f4db\ngo     go1.26.8\n"},
		{"go build of a modified checkout",
			&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs("9cbfc0c1f4db", "true")},
			"", "devel", "klpack devel\ncommit 9cbfc0c1f4db+dirty\ngo     go1.26.8\n"},
		{"go install of a tag",
			&debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"}},
			"", "v1.4.0", "klpack v1.4.0\ncommit unknown\ngo     go1.26.1\n"},
		{"release build: the link-time version wins",
			&debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.4.0"}, Settings: vcs("abc", "false")},
			"v1.5.0-rc1", "v1.5.0-rc1", "klpack v1.5.0-rc1\ncommit abc\ngo     go1.26.1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := versionOf(tt.bi, tt.linked)
			if v.Version != tt.version || v.Schema != "klpack.version/v1" || v.Go == "" {
				t.Errorf("versionOf = %+v, want version %q", v, tt.version)
			}
			if tt.text == "" {
				return
			}
			var b strings.Builder
			if err := v.writeText(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.text {
				t.Errorf("versionOf(…).writeText = %q, want %q", b.String(), tt.text)
			}
		})
	}
}
