package elfscan

import (
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// TestStrippedTwins strips a copy of every generated module (kpatch-build
// and klp-build) with strip --strip-unneeded and checks that it reads
// replace, its source and the patches exactly as the unstripped twin.
func TestStrippedTwins(t *testing.T) {
	strip := testutil.NeedTool(t, "strip")
	for _, path := range slices.Concat(kpatchModules(t), klpBuildModules(t)) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			stripped := filepath.Join(t.TempDir(), filepath.Base(path))
			if b, err := exec.Command(strip, "--strip-unneeded", "-o", stripped, path).CombinedOutput(); err != nil {
				t.Fatalf("strip --strip-unneeded %s: %v\n%s", path, err, b)
			}
			want, err := Open(path, nil)
			if err != nil {
				t.Fatalf("Open(%q) = %v", path, err)
			}
			got, err := Open(stripped, nil)
			if err != nil {
				t.Fatalf("Open(%q) = %v", stripped, err)
			}
			if len(got.Patches) != len(want.Patches) {
				t.Fatalf("Open(stripped) = %d patches, want %d", len(got.Patches), len(want.Patches))
			}
			for i, w := range want.Patches {
				g := got.Patches[i]
				if g.Replace != w.Replace || g.ReplaceSource != w.ReplaceSource {
					t.Errorf("Open(stripped) replace = %v from %q (%s), want %v from %q", g.Replace, g.ReplaceSource, g.ReplaceHint, w.Replace, w.ReplaceSource)
				}
			}
			// A local function's name may become <section>+<offset>.
			name := func(a, b string) bool { return a == b || sameSym(a, b, true) }
			opts := []cmp.Option{
				cmp.Comparer(func(a, b klp.Func) bool {
					return a.OldName == b.OldName && a.OldSympos == b.OldSympos && name(a.NewFunc, b.NewFunc)
				}),
				cmp.Comparer(func(a, b klp.Callbacks) bool {
					return name(a.PrePatch, b.PrePatch) && name(a.PostPatch, b.PostPatch) &&
						name(a.PreUnpatch, b.PreUnpatch) && name(a.PostUnpatch, b.PostUnpatch)
				}),
			}
			if diff := cmp.Diff(want.Patches, got.Patches, opts...); diff != "" {
				t.Errorf("stripped twin reads patches differently (-unstripped +stripped):\n%s", diff)
			}
		})
	}
}
