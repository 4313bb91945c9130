package elfscan

import (
	"path/filepath"
	"testing"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// TestReplaceableField reads klp_patch.replaceable from modules that
// scripts/e2e/prepare.sh built for the hybrid test kernel, whose
// struct klp_patch has the field (the kernel holds a patch that leaves it 0
// as not replaceable), and for Debian's 6.1, whose struct has not.
func TestReplaceableField(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(testutil.CacheDir(), "e2e", "modules", "test-*-hybrid"))
	old := filepath.Join(testutil.CacheDir(), "e2e", "modules", "6.1.0-56-amd64")
	if len(dirs) != 1 {
		testutil.Missing(t, "the e2e modules of the hybrid test kernel (make e2e-prepare)")
	}
	for _, tt := range []struct {
		path   string
		want   *bool
		source string
	}{
		// No klpack header: the static initializer's 0.
		{filepath.Join(dirs[0], "e2e_unset.ko"), new(false), klp.ReplaceStatic},
		// klpack_enable_patch stores !__klpack_non_replaceable.
		{filepath.Join(dirs[0], "e2e_b.ko"), new(true), klp.ReplaceInit},
		{filepath.Join(dirs[0], "e2e_nr.ko"), new(false), klp.ReplaceInit},
		{filepath.Join(dirs[0], "e2e_rl.ko"), new(true), klp.ReplaceInit},
		// No such field: only the modinfo tags declare it.
		{filepath.Join(old, "e2e_b.ko"), nil, ""},
		{filepath.Join(old, "e2e_nr.ko"), new(false), klp.ReplaceModinfo},
	} {
		m, err := Open(tt.path, nil)
		if err != nil {
			testutil.Missing(t, err.Error())
			continue
		}
		p := m.Patches[0]
		if (p.Replaceable == nil) != (tt.want == nil) || p.Replaceable != nil && *p.Replaceable != *tt.want || p.ReplaceableSource != tt.source {
			t.Errorf("%s: replaceable %v (%q), want %v (%q)", tt.path, deref(p.Replaceable), p.ReplaceableSource, deref(tt.want), tt.source)
		}
	}
}
