package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/sim"
)

func TestCheckPrebuiltUse(t *testing.T) {
	prebuilt := map[string]string{"klpb_replace.ko": "/x/klpb_replace.ko"}
	load := func(kernels ...string) *sim.Scenario {
		return &sim.Scenario{Kernels: kernels, Steps: []sim.ScenarioStep{{Load: "e2e_a.ko"}, {Load: "klpb_replace.ko"}}}
	}
	tests := []struct {
		name    string
		sc      *sim.Scenario
		wantErr bool
		runs    map[string]bool
	}{
		{"limited to test", load("test"), false, map[string]bool{"test": true, "6.1": false}},
		{"every kernel", load(), true, map[string]bool{"test": true, "6.1": true}},
		{"another kernel too", load("test", "7.2"), true, map[string]bool{"test": true, "7.2": true, "6.12": false}},
		{"another kernel only", load("6.12"), true, map[string]bool{"test": false, "6.12": true}},
		{"no prebuilt module", &sim.Scenario{Steps: []sim.ScenarioStep{{Load: "e2e_a.ko"}}}, false, map[string]bool{"6.1": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPrebuiltUse(tt.sc, prebuilt)
			if (err != nil) != tt.wantErr {
				t.Errorf("CheckPrebuiltUse = %v, want error %t", err, tt.wantErr)
			}
			for k, want := range tt.runs {
				if got := RunsOn(tt.sc, k); got != want {
					t.Errorf("RunsOn(%s) = %t, want %t", k, got, want)
				}
			}
		})
	}
}

// TestPrebuiltScenarios checks the committed scenarios against the
// committed prebuilt modules: each prebuilt load is limited to the test
// kernel, and every prebuilt module a scenario names exists.
func TestPrebuiltScenarios(t *testing.T) {
	root := testutil.Root()
	prebuilt, err := PrebuiltModules(root)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(root, "testdata", "e2e", "scenarios", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := sim.ParseScenario(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := CheckPrebuiltUse(sc, prebuilt); err != nil {
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
		// The tools' scenarios are named after them and load their modules.
		base := filepath.Base(p)
		for prefix, dir := range map[string]string{"klpbuild-": "klp-build", "kpatchbuild-": "kpatch-build"} {
			if !strings.HasPrefix(base, prefix) {
				continue
			}
			for i, st := range sc.Steps {
				if st.Load == "" || strings.HasPrefix(st.Load, "e2e") || st.Load == "kobject-example.ko" {
					continue
				}
				if path, ok := prebuilt[st.Load]; !ok || filepath.Base(filepath.Dir(filepath.Dir(path))) != dir {
					t.Errorf("%s: steps[%d]: load %s: not a module of testdata/gen/%s/ko", base, i, st.Load, dir)
				}
			}
		}
	}
}

func TestInitramfsExtraClash(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.ko", "busybox", "klpack"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	other := filepath.Join(t.TempDir(), "a.ko")
	if err := os.WriteFile(other, []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := &Initramfs{Busybox: filepath.Join(dir, "busybox"), Klpack: filepath.Join(dir, "klpack"), Modules: dir, Extra: []string{other}}
	var b bytes.Buffer
	if err := in.Write(&b); err == nil || !strings.Contains(err.Error(), "a.ko twice") {
		t.Fatalf("Write with a clashing extra module = %v, want an error naming it", err)
	}
	in.Extra = nil
	if err := in.Write(&b); err != nil {
		t.Fatalf("Write = %v", err)
	}
}

// TestPrebuiltFragment: tool-built modules whose README records the test
// kernel's config fragment they were built for must match today's
// fragment; a module built for another configuration may load and still
// disagree with the kernel for reasons no scenario is about.
func TestPrebuiltFragment(t *testing.T) {
	root := testutil.Root()
	frag, err := os.ReadFile(filepath.Join(root, "testdata", "e2e", "testkernel.config"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(frag)
	want := hex.EncodeToString(sum[:])[:16]
	readmes, err := filepath.Glob(filepath.Join(root, "testdata", "gen", "*", "ko", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	const marker = "fragment sha256 "
	for _, p := range readmes {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(string(b), marker)
		if !ok {
			continue
		}
		if got, _, _ := strings.Cut(rest, "."); got != want {
			t.Errorf("%s: built for fragment %s, testdata/e2e/testkernel.config is now %s: regenerate them (make testdata-gen)", p, got, want)
		}
	}
}
