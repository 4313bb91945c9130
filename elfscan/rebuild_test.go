package elfscan

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// TestRebuildScansIdentically rebuilds the sample modules with Kbuild
// (testdata/build.sh) and checks that every rebuilt file scans exactly like
// the committed one, so sources and binaries cannot drift apart.
func TestRebuildScansIdentically(t *testing.T) {
	testutil.Slow(t, "rebuilds kernel modules")
	for _, k := range kernels {
		if _, err := os.Stat(filepath.Join("/usr/src", "linux-headers-"+k, "Makefile")); err != nil {
			testutil.Missing(t, "linux-headers-"+k+" not installed (make install-deps)")
		}
	}
	for _, tool := range []string{"make", "gcc", "strip", "xz", "zstd", "gzip"} {
		testutil.NeedTool(t, tool)
	}
	out := t.TempDir()
	cmd := exec.Command("sh", filepath.Join("..", "testdata", "build.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testdata/build.sh: %v\n%s", err, b)
	}
	for _, k := range kernels {
		committed, err := Expand([]string{filepath.Join(koDir, k)})
		if err != nil {
			t.Fatal(err)
		}
		rebuilt, err := Expand([]string{filepath.Join(out, k)})
		if err != nil {
			t.Fatal(err)
		}
		if len(committed) != len(rebuilt) {
			t.Fatalf("%s: %d committed files, %d rebuilt", k, len(committed), len(rebuilt))
		}
		a := ScanFiles(context.Background(), committed, nil, nil)
		b := ScanFiles(context.Background(), rebuilt, nil, nil)
		for i := range a {
			if a[i].Err != nil || b[i].Err != nil {
				t.Fatalf("scan: %v, %v", a[i].Err, b[i].Err)
			}
			if filepath.Base(a[i].Path) != filepath.Base(b[i].Path) {
				t.Fatalf("file lists differ: %s vs %s", a[i].Path, b[i].Path)
			}
			// The path and the file's hash are not facts of the scan.
			ignore := cmpopts.IgnoreFields(klp.Module{}, "Path", "SHA256")
			if diff := cmp.Diff(a[i].Module, b[i].Module, ignore); diff != "" {
				t.Errorf("%s/%s scans differently after a rebuild (-committed +rebuilt):\n%s", k, filepath.Base(a[i].Path), diff)
			}
		}
	}
}
