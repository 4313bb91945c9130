package pack

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	hookbuild "github.com/klpack/klpack/build"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/klp"
	"github.com/klpack/klpack/templates"
)

// packageFiles reads the files a built package installs, by installed
// path, with the formats' own tools.
// debField is a control field of a deb.
func debField(t *testing.T, pkg, field string) string {
	t.Helper()
	out, err := exec.Command(testutil.NeedTool(t, "dpkg-deb"), "-f", pkg, field).Output()
	if err != nil {
		t.Fatalf("dpkg-deb -f %s %s: %v", pkg, field, err)
	}
	return strings.TrimSpace(string(out))
}

// rpmRequires lists an rpm's requirements without rpmlib's own.
func rpmRequires(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command(testutil.NeedTool(t, "rpm"), "-qp", "--nosignature", "--requires", pkg).Output()
	if err != nil {
		t.Fatalf("rpm -qp --requires %s: %v", pkg, err)
	}
	var reqs []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "rpmlib(") {
			reqs = append(reqs, strings.TrimSpace(l))
		}
	}
	return reqs
}

func packageFiles(t *testing.T, format, pkg string) map[string][]byte {
	t.Helper()
	var cmd *exec.Cmd
	if format == FormatDeb {
		cmd = exec.Command(testutil.NeedTool(t, "dpkg-deb"), "--fsys-tarfile", pkg)
	} else {
		cmd = exec.Command(testutil.NeedTool(t, "rpm2archive"), "-n", "-")
		f, err := os.Open(pkg)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files["/"+strings.TrimPrefix(strings.TrimPrefix(h.Name, "."), "/")] = b
	}
	return files
}

// releaseDir writes files into a new release directory and returns it.
func releaseDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testKo(t *testing.T, name string) []byte {
	t.Helper()
	return mustRead(t, filepath.Join(testutil.Root(), "testdata", "ko", testKernel, name))
}

// TestShippedIsScanned: a module file whose name holds glob characters
// ships as itself, not as the file the pattern would match.
func TestShippedIsScanned(t *testing.T) {
	scanned := testKo(t, "lp_noreplace.ko")
	dir := releaseDir(t, map[string][]byte{
		"lp[_]x.ko": scanned,
		"lp_x.ko":   testKo(t, "lp_replace.ko"), // what the pattern lp[_]x.ko matches
		"rel.yaml":  []byte("kernel: " + testKernel + "\nversion: \"1\"\nmodules: [{file: 'lp[_]x.ko', layer: off-band}]\n"),
	})
	r, err := ReadRelease(filepath.Join(dir, "rel.yaml"), scan)
	if err != nil {
		t.Fatal(err)
	}
	r.MTime = epoch
	pkgs := build(t, r, Options{})
	const name = "klp-patch-" + testKernel + "-lp-noreplace"
	dest := LibDir + "/" + testKernel + "/" + name + "/lp_noreplace.ko"
	for _, f := range []string{FormatDeb, FormatRPM} {
		got, ok := packageFiles(t, f, pkgs[f+":"+name])[dest]
		if !ok || !bytes.Equal(got, scanned) {
			t.Errorf("%s ships %s as %d bytes, want the %d bytes of lp[_]x.ko that were scanned", f, dest, len(got), len(scanned))
		}
	}
}

// TestGlobOutputDir: an output directory whose name holds glob
// characters builds, and so does every staged source path inside it:
// nfpm takes each source as a path, never a pattern (globbing off).
func TestGlobOutputDir(t *testing.T) {
	dir := releaseDir(t, map[string][]byte{
		"lp.ko":    testKo(t, "lp_noreplace.ko"),
		"rel.yaml": []byte("kernel: " + testKernel + "\nversion: \"1\"\nmodules: [{file: lp.ko, layer: off-band}]\n"),
	})
	r, err := ReadRelease(filepath.Join(dir, "rel.yaml"), scan)
	if err != nil {
		t.Fatal(err)
	}
	r.MTime = epoch
	out := filepath.Join(t.TempDir(), "out[1]*?")
	arts, err := Build(context.Background(), r, out, Options{})
	if err != nil || len(arts) == 0 {
		t.Fatalf("Build(%s) = %v, %v; want packages", out, arts, err)
	}
}

// TestChangedSinceScan: a module replaced between the scan and the build
// is refused, not shipped under the old scan's name.
func TestChangedSinceScan(t *testing.T) {
	dir := releaseDir(t, map[string][]byte{
		"lp.ko":    testKo(t, "lp_noreplace.ko"),
		"rel.yaml": []byte("kernel: " + testKernel + "\nversion: \"1\"\nmodules: [{file: lp.ko, layer: off-band}]\n"),
	})
	r, err := ReadRelease(filepath.Join(dir, "rel.yaml"), scan)
	if err != nil {
		t.Fatal(err)
	}
	r.MTime = epoch
	if err := os.WriteFile(filepath.Join(dir, "lp.ko"), testKo(t, "lp_param.ko"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	_, err = Build(context.Background(), r, out, Options{})
	if !errors.Is(err, ErrBadRelease) || !strings.Contains(err.Error(), "changed since it was scanned") {
		t.Errorf("Build() = %v, want %v: changed since it was scanned", err, ErrBadRelease)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("Build() failed but wrote %v", ents)
	}
}

// TestHooks builds real hook objects for lp_hook: one for a hook point
// ships byte for byte under its function's name; one whose name and
// program disagree, or for a function that is no hook point, is refused.
func TestHooks(t *testing.T) {
	testutil.NeedTool(t, "clang")
	ko := testKo(t, "lp_hook.ko")
	rec, err := scan(filepath.Join(testutil.Root(), "testdata", "ko", testKernel, "lp_hook.ko"), nil)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := hookbuild.Build(t.Context(), []*klp.Module{rec}, nil)
	if err != nil {
		t.Fatal(err)
	}
	obj := map[string][]byte{}
	for _, o := range objs {
		obj[o.Hook.Func] = o.ELF
	}
	const fn, other = "lp_hook_meminfo_allowed", "lp_hook_meminfo_extra"
	if obj[fn] == nil || obj[other] == nil {
		t.Fatalf("built hooks for %v, want %s and %s", objs, fn, other)
	}
	head := "kernel: " + testKernel + "\nversion: \"1\"\nmodules: [{file: lp_hook.ko, layer: off-band, hooks: "
	dir := releaseDir(t, map[string][]byte{
		"lp_hook.ko":                        ko,
		"hooks/" + fn + ".bpf.o":            obj[fn],
		"swapped/" + fn + ".bpf.o":          obj[other],
		"elsewhere/version_proc_show.bpf.o": obj[fn],
		"good.yaml":                         []byte(head + "[hooks/" + fn + ".bpf.o]}]\n"),
		"swapped.yaml":                      []byte(head + "[swapped/" + fn + ".bpf.o]}]\n"),
		"nohookpoint.yaml":                  []byte(head + "[elsewhere/version_proc_show.bpf.o]}]\n"),
	})
	for _, tt := range []struct{ file, want string }{
		{"swapped.yaml", "attach target"},
		{"nohookpoint.yaml", "version_proc_show is not a hook point of module lp_hook"},
	} {
		p := filepath.Join(dir, tt.file)
		if _, err := ReadRelease(p, scan); !errors.Is(err, ErrBadRelease) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("ReadRelease(%s) = %v, want %v naming the file and %q", tt.file, err, ErrBadRelease, tt.want)
		}
	}
	r, err := ReadRelease(filepath.Join(dir, "good.yaml"), scan)
	if err != nil {
		t.Fatal(err)
	}
	r.MTime = epoch
	// Without a host binary the patch package with hooks depends on the
	// klpack package, in both formats, and the loader runs klpack from
	// PATH; the patch packages without hooks do not.
	const name = "klp-patch-" + testKernel + "-lp-hook"
	pkgs := build(t, r, Options{})
	if got := debField(t, pkgs[FormatDeb+":"+name], "Depends"); !slices.Contains(strings.Split(got, ", "), HostPackage) {
		t.Errorf("deb %s Depends: %s, want %s among them", name, got, HostPackage)
	}
	if got := rpmRequires(t, pkgs[FormatRPM+":"+name]); !slices.Contains(got, HostPackage) {
		t.Errorf("rpm %s requires %q, want %s among them", name, got, HostPackage)
	}
	if !bytes.Contains(packageFiles(t, FormatDeb, pkgs[FormatDeb+":"+LoaderName(testKernel)])[LoaderPath(testKernel)], []byte("KLPACK=${KLPACK_BIN:-'klpack'}")) {
		t.Errorf("the loader without a packaged klpack does not run klpack from PATH")
	}
	plainDeps := build(t, release(t, "release-6.1"), Options{})
	for key, p := range plainDeps {
		if strings.HasPrefix(key, FormatDeb+":klp-patch") && strings.Contains(debField(t, p, "Depends"), HostPackage+",") {
			t.Errorf("%s without hooks depends on %s", key, HostPackage)
		}
	}
	// The hooks need klpack on the host: the loader package ships the
	// binary given (any x86_64 ELF executable here) and its loader runs
	// it.
	host := filepath.Join(t.TempDir(), "klpack")
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(host, self, 0o755)
	if err := r.SetHostBinary(host); err != nil {
		t.Fatal(err)
	}
	pkgs = build(t, r, Options{})
	if got := debField(t, pkgs[FormatDeb+":"+name], "Depends"); slices.Contains(strings.Split(got, ", "), HostPackage) {
		t.Errorf("deb %s Depends: %s, want no %s: the loader package ships klpack", name, got, HostPackage)
	}
	if got := rpmRequires(t, pkgs[FormatRPM+":"+name]); slices.Contains(got, HostPackage) {
		t.Errorf("rpm %s requires %q, want no %s: the loader package ships klpack", name, got, HostPackage)
	}
	dest := LibDir + "/" + testKernel + "/" + name + "/hooks/" + fn + ".bpf.o"
	if got := packageFiles(t, FormatDeb, pkgs[FormatDeb+":"+name])[dest]; !bytes.Equal(got, obj[fn]) {
		t.Errorf("the deb ships %s as %d bytes, want the %d bytes of the hook object", dest, len(got), len(obj[fn]))
	}
	loaderFiles := packageFiles(t, FormatDeb, pkgs[FormatDeb+":"+LoaderName(testKernel)])
	if got := loaderFiles[HostBinaryPath(testKernel)]; !bytes.Equal(got, self) {
		t.Errorf("the loader package ships %s as %d bytes, want the %d of the host binary", HostBinaryPath(testKernel), len(got), len(self))
	}
	if !bytes.Contains(loaderFiles[LoaderPath(testKernel)], []byte("KLPACK=${KLPACK_BIN:-'"+HostBinaryPath(testKernel)+"'}")) {
		t.Errorf("the loader does not run the packaged klpack")
	}
	// Without hooks the binary stays out; a binary of another arch, or
	// no ELF file, is refused.
	plain := release(t, "release-6.1")
	if err := plain.SetHostBinary(host); err != nil {
		t.Fatal(err)
	}
	plainPkgs := build(t, plain, Options{Formats: []string{FormatDeb}})
	if _, ok := packageFiles(t, FormatDeb, plainPkgs[FormatDeb+":"+LoaderName(testKernel)])[HostBinaryPath(testKernel)]; ok {
		t.Errorf("a release without hooks ships the host binary")
	}
	arm := *plain
	arm.Arch = "aarch64"
	if err := arm.SetHostBinary(host); !errors.Is(err, ErrBadRelease) || !strings.Contains(err.Error(), "ELF machine 62, the release's aarch64 hosts run 183") {
		t.Errorf("SetHostBinary(x86_64 binary, aarch64 release) = %v", err)
	}
	if err := plain.SetHostBinary(filepath.Join(dir, "good.yaml")); !errors.Is(err, ErrBadRelease) || !strings.Contains(err.Error(), "not an ELF file") {
		t.Errorf("SetHostBinary(yaml) = %v", err)
	}

	// A hook swapped after it was validated is refused, not shipped.
	if err := os.WriteFile(filepath.Join(dir, "hooks", fn+".bpf.o"), obj[other], 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if _, err := Build(t.Context(), r, out, Options{Formats: []string{FormatDeb}}); !errors.Is(err, ErrBadRelease) || !strings.Contains(err.Error(), "changed since it was scanned") {
		t.Errorf("Build() after the hook changed = %v, want %v: changed since it was scanned", err, ErrBadRelease)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("Build() failed but wrote %v", ents)
	}
}

// TestTimeout: the loader's wait per transition is range-checked by the
// library, and the unit's start timeout follows it.
func TestTimeout(t *testing.T) {
	for _, timeout := range []int{-1, templates.MaxTimeout + 1, math.MaxInt} {
		out := t.TempDir()
		_, err := Build(context.Background(), release(t, "release-6.1"), out, Options{Timeout: timeout, Formats: []string{FormatDeb}})
		if !errors.Is(err, templates.ErrBadValue) || !strings.Contains(err.Error(), "timeout") {
			t.Errorf("Build(timeout %d) = %v, want %v naming the timeout", timeout, err, templates.ErrBadValue)
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Errorf("Build(timeout %d) failed but wrote %v", timeout, ents)
		}
	}
	pkgs := build(t, release(t, "release-6.1"), Options{Timeout: 30, Formats: []string{FormatDeb}})
	name := LoaderName(testKernel)
	unit := packageFiles(t, FormatDeb, pkgs[FormatDeb+":"+name])[UnitDir+"/"+name+".service"]
	// Two patches: the lock's wait, two loads and two rollbacks of 30 s,
	// and the margin.
	if want := "TimeoutStartSec=240\n"; !bytes.Contains(unit, []byte(want)) {
		t.Errorf("the unit says\n%s\nwant %q", unit, want)
	}
}

// TestFIFOs: a FIFO where the manifest names a file fails at once,
// naming it, instead of waiting for a writer.
func TestFIFOs(t *testing.T) {
	dir := releaseDir(t, map[string][]byte{"lp.ko": testKo(t, "lp_noreplace.ko")})
	for _, f := range []string{"fifo.ko", "plan.json", "hook.bpf.o", "manifest.yaml"} {
		if err := syscall.Mkfifo(filepath.Join(dir, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	head := "kernel: " + testKernel + "\nversion: \"1\"\n"
	tests := []struct{ name, yaml, want string }{
		{"module", head + "modules: [{file: fifo.ko, layer: off-band}]", "fifo.ko: not a regular file (a FIFO)"},
		{"plan", head + "plan: plan.json\nmodules: [{file: lp.ko, layer: off-band}]", "plan.json: not a regular file (a FIFO)"},
		{"hook", head + "modules: [{file: lp.ko, layer: off-band, hooks: [hook.bpf.o]}]", "hook.bpf.o: not a regular file (a FIFO)"},
		{"manifest", "", "manifest.yaml: not a regular file (a FIFO)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "manifest.yaml")
			if tt.yaml != "" {
				p = filepath.Join(dir, tt.name+".yaml")
				os.WriteFile(p, []byte(tt.yaml), 0o644)
			}
			done := make(chan error, 1)
			go func() {
				_, err := ReadRelease(p, scan)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrBadRelease) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
					t.Errorf("ReadRelease() = %v, want %v naming the manifest and %q", err, ErrBadRelease, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("ReadRelease() waits on a FIFO")
			}
		})
	}
}
