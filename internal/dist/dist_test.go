package dist

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/internal/throwaway"
	"github.com/klpack/klpack/pkg/pack"
)

const testVersion = "1.2.3~rc1"

// klpackBinary builds the full klpack with testVersion linked in, as make
// dist does.
func klpackBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "klpack")
	cmd := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", bin, "./cmd/klpack")
	cmd.Dir = testutil.Root()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func options(t *testing.T, bin string) Options {
	return Options{
		Binary: bin, ManDir: filepath.Join(testutil.Root(), "docs/man"), Version: testVersion, Arch: "amd64",
		Maintainer: "m <m@example.com>", MTime: time.Unix(1700000000, 0), Output: t.TempDir(),
	}
}

// TestBuild installs both packages with the real dpkg and rpm into empty
// roots and runs what they installed: the binary says the packages'
// version, every man page of docs/man is there and is roff, and bash
// loads the completion.
func TestBuild(t *testing.T) {
	dpkg, rpm := testutil.NeedTool(t, "dpkg"), testutil.NeedTool(t, "rpm")
	bash := testutil.NeedTool(t, "bash")
	bin := klpackBinary(t)
	o := options(t, bin)
	keys := t.TempDir()
	if err := throwaway.Write(keys); err != nil {
		t.Fatal(err)
	}
	sign, err := pack.OpenPGPSigner(filepath.Join(keys, throwaway.PGPSecret), nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Sign = sign
	out, err := Build(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(o.Output, "klpack-1.2.3~rc1-1.x86_64.rpm"), filepath.Join(o.Output, "klpack_1.2.3~rc1_amd64.deb")}
	if strings.Join(out, " ") != strings.Join(want, " ") {
		t.Fatalf("Build wrote %q, want %q", out, want)
	}
	pages, _ := filepath.Glob(filepath.Join(o.ManDir, "*.1"))
	if len(pages) < 10 {
		t.Fatalf("docs/man has %d pages, want one per command", len(pages))
	}

	for _, tt := range []struct {
		format, zsh string
		install     func(root, pkg string) ([]byte, error)
	}{
		{pack.FormatDeb, "usr/share/zsh/vendor-completions/_klpack", func(root, pkg string) ([]byte, error) {
			for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates"} {
				os.MkdirAll(filepath.Join(root, d), 0o755)
			}
			os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644)
			return exec.Command(dpkg, "--root="+root, "--log=/dev/null", "--force-not-root", "-i", pkg).CombinedOutput()
		}},
		{pack.FormatRPM, "usr/share/zsh/site-functions/_klpack", func(root, pkg string) ([]byte, error) {
			if b, err := exec.Command(rpm, "--root", root, "--initdb").CombinedOutput(); err != nil {
				return b, err
			}
			// The signature is checked: the key imported into the root
			// is the one that signed.
			if b, err := exec.Command(testutil.NeedTool(t, "rpmkeys"), "--root", root, "--import", filepath.Join(keys, throwaway.PGPPublic)).CombinedOutput(); err != nil {
				return b, err
			}
			if b, err := exec.Command(testutil.NeedTool(t, "rpmkeys"), "--root", root, "--checksig", pkg).CombinedOutput(); err != nil || !bytes.Contains(b, []byte("signatures OK")) {
				return b, errors.Join(err, errors.New("signature not OK"))
			}
			return exec.Command(rpm, "--root", root, "-i", "--nodeps", pkg).CombinedOutput()
		}},
	} {
		pkg := want[0]
		if tt.format == pack.FormatDeb {
			pkg = want[1]
		}
		root := t.TempDir()
		testutil.BusyboxRoot(t, root)
		if b, err := tt.install(root, pkg); err != nil {
			t.Fatalf("%s: install %s: %v\n%s", tt.format, pkg, err, b)
		}
		v, err := exec.Command(filepath.Join(root, "usr/bin/klpack"), "version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(v), "klpack "+testVersion) {
			t.Errorf("%s: installed klpack version = %q, %v; want klpack %s", tt.format, v, err, testVersion)
		}
		for _, p := range pages {
			gz := filepath.Join(root, "usr/share/man/man1", filepath.Base(p)+".gz")
			got, err := gunzip(gz)
			src, _ := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, src) {
				t.Errorf("%s: %s: %v, want %s gzipped", tt.format, gz, err, p)
			}
		}
		comp := filepath.Join(root, "usr/share/bash-completion/completions/klpack")
		if b, err := exec.Command(bash, "-c", `. "$1" && complete -p klpack`, "bash", comp).CombinedOutput(); err != nil || !bytes.Contains(b, []byte("klpack")) {
			t.Errorf("%s: bash cannot load %s: %v\n%s", tt.format, comp, err, b)
		}
		for _, f := range []string{tt.zsh, "usr/share/fish/vendor_completions.d/klpack.fish"} {
			if b, err := os.ReadFile(filepath.Join(root, f)); err != nil || !bytes.Contains(b, []byte("klpack")) {
				t.Errorf("%s: %s: %v", tt.format, f, err)
			}
		}
	}
	fields, err := exec.Command(testutil.NeedTool(t, "dpkg-deb"), "-f", want[1], "Package", "Version", "Architecture", "Suggests").Output()
	if err != nil || string(fields) != "Package: klpack\nVersion: 1.2.3~rc1\nArchitecture: amd64\nSuggests: clang, llvm, createrepo-c\n" {
		t.Errorf("deb fields:\n%s(%v)", fields, err)
	}
}

func gunzip(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		return nil, errors.New("the gzip header names a file or a time")
	}
	return io.ReadAll(zr)
}

// TestReproducible: the same inputs make the same unsigned packages.
func TestReproducible(t *testing.T) {
	bin := klpackBinary(t)
	o := options(t, bin)
	first, err := Build(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	o2 := o
	o2.Output = t.TempDir()
	second, err := Build(t.Context(), o2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range first {
		a, _ := os.ReadFile(first[i])
		b, _ := os.ReadFile(second[i])
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s and %s differ", first[i], second[i])
		}
	}
}

// TestRefused: what Build refuses it refuses before writing a package.
func TestRefused(t *testing.T) {
	bin := klpackBinary(t)
	notRoff := t.TempDir()
	os.WriteFile(filepath.Join(notRoff, "klpack.1"), []byte("# markdown\n"), 0o644)
	for _, tt := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"version with dash", func(o *Options) { o.Version = "1.0-1" }, `version "1.0-1"`},
		{"version not a number", func(o *Options) { o.Version = "devel" }, `version "devel"`},
		{"arch", func(o *Options) { o.Arch = "386" }, `arch "386"`},
		{"maintainer", func(o *Options) { o.Maintainer = "" }, "no maintainer"},
		{"maintainer with a newline", func(o *Options) { o.Maintainer = "m <m@x>\nPre-Depends: evil" }, "a control character"},
		{"no binary", func(o *Options) { o.Binary = filepath.Join(o.Output, "nope") }, "binary: stat"},
		{"binary a directory", func(o *Options) { o.Binary = o.ManDir }, "not a regular file"},
		{"no man pages", func(o *Options) { o.ManDir = t.TempDir() }, "no *.1 in"},
		{"man page not roff", func(o *Options) { o.ManDir = notRoff }, "klpack.1: not roff"},
	} {
		o := options(t, bin)
		o.Output = filepath.Join(t.TempDir(), "out")
		tt.edit(&o)
		out, err := Build(t.Context(), o)
		if err == nil || !strings.Contains(err.Error(), tt.want) || len(out) != 0 {
			t.Errorf("%s: Build = %q, %v; want an error with %q", tt.name, out, err, tt.want)
		}
		if _, err := os.Stat(o.Output); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the output directory exists after a refusal", tt.name)
		}
	}
}
