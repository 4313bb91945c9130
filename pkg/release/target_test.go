package release

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/pkg/klp"
)

// TestLoadTarget: klpack.yaml's target is read once, for the modules the
// release's patches patch, and pins the packages and the check alike.
func TestLoadTarget(t *testing.T) {
	// Any ELF with a build-id stands for vmlinux: only its notes are read.
	copyKo := func(t *testing.T, from, to string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(koDir, from))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(to), 0o755)
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		body func(target string) string
		want *klp.Target
	}{{
		name: "outside the release, absolute",
		body: func(target string) string {
			return "target: " + target + "\nmodules:\n  - path: ko/lp_multiobj.ko\n    layer: cumulative\n"
		},
		want: &klp.Target{BuildID: "6b874e05ee8d3f0849ff367e4387c6edd6083414",
			Modules: []klp.TargetModule{{Name: "klpack_target", BuildID: "373d6929f701bca968f0067e0495cd52693c8513"}}},
	}, {
		name: "none",
		body: func(string) string { return "modules:\n  - path: ko/lp_multiobj.ko\n    layer: cumulative\n" },
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := t.TempDir()
			copyKo(t, "klp_user.ko", filepath.Join(target, "vmlinux"))
			copyKo(t, "klpack_target.ko", filepath.Join(target, "extra", "klpack_target.ko"))
			dir := project(t, []string{"lp_multiobj.ko"}, tt.body(target))
			r, err := Load(context.Background(), filepath.Join(dir, "klpack.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, r.Pack.Target); d != "" {
				t.Errorf("Pack.Target (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.want, r.CheckInput(r.Candidates()).Target); d != "" {
				t.Errorf("CheckInput().Target (-want +got):\n%s", d)
			}
		})
	}
	// A target without vmlinux stops the release, naming the key.
	dir := project(t, []string{"lp_multiobj.ko"}, "target: ko\nmodules:\n  - path: ko/lp_multiobj.ko\n    layer: cumulative\n")
	if _, err := Load(context.Background(), filepath.Join(dir, "klpack.yaml")); err == nil || !strings.Contains(err.Error(), "target: target ") {
		t.Errorf("Load(target without vmlinux) = %v, want an error naming target", err)
	}
}
