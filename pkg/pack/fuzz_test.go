package pack

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

// FuzzReleaseManifest: a manifest the parser accepts marshals back to
// YAML that parses to the same value; one it refuses is refused by
// ReadRelease with an error that names the file and matches
// ErrBadRelease or ErrOutsideRoot.
func FuzzReleaseManifest(f *testing.F) {
	for _, name := range []string{"release-6.1", "release-6.1-v2", "release-6.1-overlap", "release-6.1-hookpoints"} {
		f.Add(mustRead(f, filepath.Join(testutil.Root(), "testdata", name+".yaml")))
	}
	head := "kernel: " + testKernel + "\nversion: \"1\"\n"
	for _, s := range []string{
		head + "modules: [{file: lp.ko, layer: off-band, hooks: [h/f.bpf.o], hook_points: [f], replace: true}]",
		head + "root: r\nplan: p.json\nkernel_deb: \"linux-image-x | linux-image-y (>= 1)\"\nkernel_rpm: kernel-uname-r = 6.1\nmodules: [{file: a.ko, layer: cumulative}]",
		`{"kernel": "6.1", "version": "1", "modules": [{"file": "a.ko", "layer": "off-band"}]}`,
		head + "modules: [{file: a.ko, layer: off-band}]\n---\nkernel: 6.2\n",
		head + "maintainer: \"a\\nEssential: yes\"\nmodules: [{file: a.ko, layer: off-band}]",
		head + "plan: /dev/zero\nmodules: [{file: a.ko, layer: off-band}]",
	} {
		f.Add([]byte(s))
	}
	file := filepath.Join(f.TempDir(), "release.yaml")
	noScan := func(string, []string) (*klp.Module, error) { return nil, errors.New("no scan in the fuzzer") }
	f.Fuzz(func(t *testing.T, b []byte) {
		rf, err := parseRelease(b)
		if err == nil {
			out, err := yaml.Marshal(rf)
			if err != nil {
				t.Fatalf("marshal of an accepted manifest: %v", err)
			}
			again, err := parseRelease(out)
			if err != nil {
				t.Fatalf("the accepted manifest, marshalled, is refused: %v\n%s", err, out)
			}
			if diff := cmp.Diff(rf, again, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("the accepted manifest, marshalled and parsed, differs (-first +again):\n%s", diff)
			}
		} else if !errors.Is(err, ErrBadRelease) && !errors.Is(err, ErrOutsideRoot) {
			t.Fatalf("parseRelease() = %v, want %v or %v", err, ErrBadRelease, ErrOutsideRoot)
		}
		// No module file exists and no scan succeeds: ReadRelease fails
		// either way, and says where.
		if err := os.WriteFile(file, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadRelease(file, noScan); err == nil || !strings.Contains(err.Error(), file) {
			t.Fatalf("ReadRelease() = %v, want an error naming %s", err, file)
		}
	})
}
