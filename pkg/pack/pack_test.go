package pack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/rpm"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
)

const testKernel = "6.1.0-56-amd64"

var epoch = time.Unix(1700000000, 0).UTC()

func scan(p string, hookPoints []string) (*klp.Module, error) {
	return elfscan.Open(p, &elfscan.Options{Hooks: hookPoints})
}

// TestManifestHookPoints: hook points a release manifest declares reach
// the scan record, with their source, and one without an error-injection
// entry is flagged.
func TestManifestHookPoints(t *testing.T) {
	r := release(t, "release-6.1-hookpoints")
	hooks := r.Modules[0].Record.Patches[0].Hooks
	want := []klp.Hook{{Object: "lp_noreplace", Func: "lp_noreplace_version_proc_show", Source: klp.HookManifest, NoErrorInjection: true}}
	if !slices.Equal(hooks, want) {
		t.Errorf("hooks = %+v, want %+v", hooks, want)
	}
}

// release reads testdata/<name>.yaml.
func release(t *testing.T, name string) *Release {
	t.Helper()
	r, err := ReadRelease(filepath.Join(testutil.Root(), "testdata", name+".yaml"), scan)
	if err != nil {
		t.Fatal(err)
	}
	r.MTime = epoch
	return r
}

// build writes the release's packages into a new directory and returns
// their paths by format and package name.
func build(t *testing.T, r *Release, o Options) map[string]string {
	t.Helper()
	out := t.TempDir()
	arts, err := Build(context.Background(), r, out, o)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, a := range arts {
		m[a.Format+":"+a.Package] = a.Path
	}
	return m
}

func TestSpecs(t *testing.T) {
	r := release(t, "release-6.1")
	var got []string
	for _, s := range r.Specs() {
		got = append(got, s.Name+" "+s.Module.Record.Name)
	}
	want := []string{"klp-patch-6.1.0-56-amd64 lp_replace", "klp-patch-6.1.0-56-amd64-lp-noreplace lp_noreplace"}
	if !slices.Equal(got, want) {
		t.Errorf("Specs() = %q, want %q (the plan's order)", got, want)
	}
	s := r.Specs()[0]
	if s.RPMVersion() != "1.0_1" || s.RPMEVR() != "1.0_1-1" || s.DebVersion() != "1.0-1" {
		t.Errorf("versions rpm %s (%s), deb %s; want 1.0_1 (1.0_1-1), 1.0-1", s.RPMVersion(), s.RPMEVR(), s.DebVersion())
	}
}

func TestDebName(t *testing.T) {
	tests := map[string]string{
		"cmdline_proc_show": "cmdline-proc-show",
		"Foo_bar":           "+foo-bar",
		"x,1":               "x++2c1",
		"foo.isra.0":        "foo.isra.0",
		"6.1.0-56-amd64":    "6.1.0-56-amd64",
	}
	for in, want := range tests {
		if got := debName(in); got != want {
			t.Errorf("debName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestManifest pins the manifest each package carries.
func TestManifest(t *testing.T) {
	arts := build(t, release(t, "release-6.1"), Options{Formats: []string{FormatDeb}})
	for _, name := range []string{"klp-patch-6.1.0-56-amd64", "klp-patch-6.1.0-56-amd64-lp-noreplace"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(arts["manifest:"+name])
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, b)
			// The package carries the plan the release was ordered by.
			var man Manifest
			if err := json.Unmarshal(b, &man); err != nil {
				t.Fatal(err)
			}
			if man.Plan == nil || !slices.Equal(man.Plan.Loads(), []string{"lp_replace", "lp_noreplace"}) {
				t.Errorf("manifest plan = %+v, want the release's plan loading lp_replace then lp_noreplace", man.Plan)
			}
		})
	}
}

// TestReproducible builds the release twice: with the same
// SOURCE_DATE_EPOCH, the unsigned packages are byte-identical.
func TestReproducible(t *testing.T) {
	a := build(t, release(t, "release-6.1"), Options{})
	b := build(t, release(t, "release-6.1"), Options{})
	// Two patch packages and the loader package in each format, and a
	// manifest per patch package.
	if len(a) != 8 {
		t.Fatalf("built %d files, want 8: %v", len(a), a)
	}
	for k, pa := range a {
		x, _ := os.ReadFile(pa)
		y, _ := os.ReadFile(b[k])
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s: two builds differ (%d and %d bytes)", k, len(x), len(y))
		}
	}
}

func TestReadReleaseErrors(t *testing.T) {
	dir := t.TempDir()
	ko := filepath.Join(testutil.Root(), "testdata", "ko", testKernel)
	good, _ := os.ReadFile(filepath.Join(ko, "lp_noreplace.ko"))
	os.WriteFile(filepath.Join(dir, "lp_noreplace.ko"), good, 0o644)
	os.WriteFile(filepath.Join(dir, "corrupt.ko"), good[:4000], 0o644)
	os.WriteFile(filepath.Join(dir, "target.ko"), mustRead(t, filepath.Join(ko, "klpack_target.ko")), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link.ko"))
	os.Mkdir(filepath.Join(dir, "hooks"), 0o755)
	os.WriteFile(filepath.Join(dir, "hooks", "text.bpf.o"), []byte("root:*:19000:0:99999:7:::\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "hooks", "x86.bpf.o"), good, 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "hooks", "link.bpf.o"))
	os.WriteFile(filepath.Join(dir, "plan.json"), []byte(`{"schema": "klpack.plan/v1", "ok": true}`), 0o644)
	head := "kernel: " + testKernel + "\nversion: \"1\"\n"
	mod := "modules: [{file: lp_noreplace.ko, layer: off-band}]"
	tests := []struct {
		name, yaml string
		wantErr    error
		wantMsg    string
	}{
		{"missing ko", head + "modules: [{file: nope.ko, layer: off-band}]", ErrBadRelease, "nope.ko"},
		{"corrupt ko", head + "modules: [{file: corrupt.ko, layer: off-band}]", ErrBadRelease, "corrupt.ko"},
		{"not a livepatch", head + "modules: [{file: target.ko, layer: off-band}]", ErrBadRelease, "target.ko is not a livepatch module"},
		{"dot-dot", head + "modules: [{file: ../x.ko, layer: off-band}]", ErrOutsideRoot, "../x.ko"},
		{"absolute", head + "modules: [{file: /etc/passwd, layer: off-band}]", ErrOutsideRoot, "/etc/passwd"},
		{"symlink out", head + "modules: [{file: link.ko, layer: off-band}]", ErrOutsideRoot, "link.ko"},
		{"hook outside", head + "modules: [{file: lp_noreplace.ko, layer: off-band, hooks: [../../h.o]}]", ErrOutsideRoot, "../../h.o"},
		{"bad layer", head + "modules: [{file: lp_noreplace.ko, layer: sideways}]", ErrBadRelease, `layer "sideways"`},
		{"bad version", "kernel: " + testKernel + "\nversion: v1\nmodules: [{file: lp_noreplace.ko, layer: off-band}]", ErrBadRelease, `version "v1"`},
		{"wrong kernel", "kernel: 6.1.0-57-amd64\nversion: \"1\"\nmodules: [{file: lp_noreplace.ko, layer: off-band}]", ErrBadRelease, "is not for kernel 6.1.0-57-amd64"},
		{"unknown field", head + "modulez: []", ErrBadRelease, "modulez"},
		{"unknown module field", head + "modules: [{file: lp_noreplace.ko, layer: off-band, hook: [x]}]", ErrBadRelease, "field hook not found"},
		{"duplicate key", head + "kernel: " + testKernel + "\n" + mod, ErrBadRelease, `mapping key "kernel" already defined`},
		{"second document", head + mod + "\n---\n" + head + "modules: [{file: target.ko, layer: off-band}]", ErrBadRelease, "line 4: a second YAML document"},
		{"empty second document", head + mod + "\n---\n", ErrBadRelease, "line 4: a second YAML document"},
		{"empty", "", ErrBadRelease, "empty: no YAML document"},
		// Paths leave neither the manifest's directory nor the root.
		{"root climbs", head + "root: ../../..\nmodules: [{file: lp_noreplace.ko, layer: off-band, hooks: [etc/shadow]}]", ErrOutsideRoot, "root: ../../.."},
		{"root absolute", head + "root: /\n" + mod, ErrOutsideRoot, "root: /: an absolute path"},
		{"plan absolute", head + "plan: /dev/zero\n" + mod, ErrOutsideRoot, "plan: /dev/zero: an absolute path"},
		{"plan climbs", head + "plan: ../plan.json\n" + mod, ErrOutsideRoot, "plan: ../plan.json"},
		{"plan symlink out", head + "plan: link.ko\n" + mod, ErrOutsideRoot, "link.ko"},
		{"hook symlink out", head + "modules: [{file: lp_noreplace.ko, layer: off-band, hooks: [hooks/link.bpf.o]}]", ErrOutsideRoot, "hooks/link.bpf.o"},
		// Hook files are BPF hook objects named for their function.
		{"hook not so named", head + "modules: [{file: lp_noreplace.ko, layer: off-band, hooks: [etc/shadow]}]", ErrBadRelease, "hook etc/shadow: want a file named <hook function>.bpf.o"},
		{"hook glob", head + "modules: [{file: lp_noreplace.ko, layer: off-band, hooks: ['**']}]", ErrBadRelease, "hook **: want a file named"},
		{"hook glob function", head + "modules: [{file: lp_noreplace.ko, layer: off-band, hooks: ['hooks/*.bpf.o']}]", ErrBadRelease, "hook hooks/*.bpf.o: symbol name"},
		{"hook not ELF", head + "modules: [{file: lp_noreplace.ko, layer: off-band, hooks: [hooks/text.bpf.o]}]", ErrBadRelease, "hook hooks/text.bpf.o: not an ELF file"},
		{"hook not BPF", head + "modules: [{file: lp_noreplace.ko, layer: off-band, hooks: [hooks/x86.bpf.o]}]", ErrBadRelease, "hook hooks/x86.bpf.o: ELF machine 62, not a BPF object"},
		{"hook point not an identifier", head + "modules: [{file: lp_noreplace.ko, layer: off-band, hook_points: ['a, b']}]", ErrBadRelease, "hook_points"},
		// Free text and relations cannot start another control field or tag.
		{"maintainer newline", head + "maintainer: \"x\\nEssential: yes\"\n" + mod, ErrBadRelease, "maintainer: "},
		{"vendor newline", head + "vendor: \"x\\nPre-Depends: evil\"\n" + mod, ErrBadRelease, "vendor: "},
		{"vendor escape", head + "vendor: \"x\\e[31m\"\n" + mod, ErrBadRelease, "vendor: "},
		{"kernel_deb newline", head + "kernel_deb: \"linux-image-x\\nPre-Depends: evil\"\n" + mod, ErrBadRelease, "kernel_deb: "},
		{"kernel_rpm newline", head + "kernel_rpm: \"kernel\\nRequires: evil\"\n" + mod, ErrBadRelease, "kernel_rpm: "},
		{"kernel_deb two relations", head + "kernel_deb: \"linux-image-x, evil\"\n" + mod, ErrBadRelease, "kernel_deb \"linux-image-x, evil\" is not a deb relation"},
		{"kernel_rpm two relations", head + "kernel_rpm: \"kernel, evil\"\n" + mod, ErrBadRelease, "kernel_rpm \"kernel, evil\" is not an rpm relation"},
		{"prefix newline", head + "prefix: \"klp\\nx\"\n" + mod, ErrBadRelease, "prefix"},
		{"file newline", head + "modules: [{file: \"lp\\n.ko\", layer: off-band}]", ErrBadRelease, "file: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			os.WriteFile(p, []byte(tt.yaml), 0o644)
			_, err := ReadRelease(p, scan)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), p) {
				t.Errorf("ReadRelease() = %v, want %v naming %q and the manifest", err, tt.wantErr, tt.wantMsg)
			}
		})
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// snapshot returns every entry of dir with its mode and contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		st, _ := os.Lstat(p)
		b, _ := os.ReadFile(p)
		m[e.Name()] = st.Mode().String() + " " + string(b)
	}
	return m
}

// TestBuildFailureKeepsOldBuild rebuilds into a directory holding a good
// build, with a signer that fails on the second package, after the first
// one's packages are built: the old build is left byte for byte, and the
// staging directory and temporary file a killed run left are gone, and
// were never listed.
func TestBuildFailureKeepsOldBuild(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing")) // nothing may go to /tmp
	dir, _ := testKey(t)
	good, err := OpenPGPSigner(filepath.Join(dir, "key.asc"), []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "new", "out") // created by Build
	arts0, err := Build(context.Background(), release(t, "release-6.1"), out, Options{Sign: good})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts0) != 8 {
		t.Fatalf("Build wrote %d files, want 8", len(arts0))
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("output directory: %v, %v, want 0755", st, err)
	}
	before := snapshot(t, out)
	for _, a := range arts0 {
		if st, _ := os.Stat(a.Path); st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", a.Path, st.Mode())
		}
	}
	// What a run killed by SIGKILL leaves.
	os.Mkdir(filepath.Join(out, ".klpack-staging-123"), 0o700)
	os.WriteFile(filepath.Join(out, ".klpack-staging-123", "half.rpm"), []byte("half"), 0o600)
	var calls atomic.Int32
	failing := SignFunc(func(r io.Reader) ([]byte, error) {
		// rpm signs twice, deb once: the fourth call is the second package's.
		if calls.Add(1) > 3 {
			return nil, errors.New("hsm unavailable")
		}
		return good(r)
	})
	arts, err := Build(context.Background(), release(t, "release-6.1"), out, Options{Sign: failing})
	if !errors.Is(err, ErrSign) || !strings.Contains(err.Error(), "hsm unavailable") || arts != nil {
		t.Fatalf("Build() = %v, %v, want ErrSign", arts, err)
	}
	if got := calls.Load(); got < 4 {
		t.Fatalf("the signer ran %d times: the failure came before the first package was built", got)
	}
	if diff := cmp.Diff(before, snapshot(t, out)); diff != "" {
		t.Errorf("a failed rebuild changed the good build (-before +after):\n%s", diff)
	}
	// A good rebuild replaces the set and removes what a killed run left.
	os.Mkdir(filepath.Join(out, ".klpack-staging-456"), 0o700)
	stale := "." + filepath.Base(arts0[0].Path) + ".tmp-789"
	os.WriteFile(filepath.Join(out, stale), []byte("half"), 0o600)
	arts, err = Build(context.Background(), release(t, "release-6.1"), out, Options{Sign: good})
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, a := range arts {
		want = append(want, filepath.Base(a.Path))
	}
	for name := range snapshot(t, out) {
		got = append(got, name)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("after a good rebuild the directory holds %q, want %q", got, want)
	}
}

// standIn builds a stand-in kernel package that provides what a real
// kernel package of release k does: kernel-uname-r = k (rpm), the package
// linux-image-k (deb).
func standIn(t *testing.T, format, k string) string {
	t.Helper()
	info := nfpm.WithDefaults(&nfpm.Info{
		Name: "linux-image-" + k, Arch: "amd64", Platform: "linux", Version: "1", VersionSchema: "none",
		Description: "stand-in kernel package for klpack tests", Maintainer: "klpack tests", MTime: epoch,
	})
	var p nfpm.Packager = deb.Default
	if format == FormatRPM {
		info.Name = "kernel-core-" + strings.ReplaceAll(k, "-", "_")
		info.Provides = []string{"kernel-uname-r = " + k}
		info.Release = "1"
		p = rpm.DefaultRPM
	}
	path := filepath.Join(t.TempDir(), info.Name+"."+format)
	var b bytes.Buffer
	if err := p.Package(info, &b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
