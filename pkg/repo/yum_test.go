package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klpack/klpack/internal/testutil"
)

// yumRepo writes the rpms of pkgs into a new directory, some in a
// subdirectory, and returns it.
func yumRepo(t testing.TB, pkgs ...testPkg) string {
	t.Helper()
	testutil.NeedTool(t, "createrepo_c")
	dir := t.TempDir()
	for i, p := range pkgs {
		sub := dir
		if i%2 == 1 {
			sub = filepath.Join(dir, "x86_64")
		}
		p.writeRPM(t, sub)
	}
	return dir
}

// TestYumInstall: the real dnf, with repo_gpgcheck=1 and the exported
// public key as gpgkey, reads the repository Yum made and installs the
// newest release of a package into an installroot; gpgv verifies
// repomd.xml.asc.
func TestYumInstall(t *testing.T) {
	dir := yumRepo(t, pkgA1, pkgA2, pkgB)
	k := newKey(t, t.TempDir(), "repo")
	got, err := Yum(context.Background(), dir, YumOptions{Date: epoch, Sign: k.sign.Detached})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, f := range got {
		if !strings.HasPrefix(f, "repodata/") {
			t.Errorf("Yum wrote %s outside repodata/", f)
		}
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
		kinds = append(kinds, f[strings.LastIndexAny(f, "-/")+1:])
	}
	if want := "other.xml.gz primary.xml.gz filelists.xml.gz repomd.xml repomd.xml.asc"; strings.Join(kinds, " ") != want {
		t.Errorf("Yum wrote %q, want %s", got, want)
	}
	repodata := filepath.Join(dir, "repodata")
	if out, err := gpgv(t, k.public, filepath.Join(repodata, "repomd.xml.asc"), filepath.Join(repodata, "repomd.xml")); err != nil {
		t.Errorf("gpgv repomd.xml.asc: %v\n%s", err, out)
	}
	c := newDnfClient(t, dir, k.public)
	out, err := c.run("install", "klp-test-a", "klp-test-b")
	if err != nil {
		t.Fatalf("dnf install: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(c.installroot(), "opt/klp-test/klp-test-a.txt"))
	if err != nil || string(b) != "payload of klp-test-a 2.0\n" {
		t.Errorf("installed klp-test-a.txt = %q, %v; want the 2.0 payload\n%s", b, err, out)
	}
	q, err := exec.Command("rpm", "--root", c.installroot(), "-q", "klp-test-a", "klp-test-b").CombinedOutput()
	if err != nil || string(q) != "klp-test-a-2.0-1.x86_64\nklp-test-b-1.0-1.x86_64\n" {
		t.Errorf("rpm -q = %q, %v", q, err)
	}
}

// TestYumRefused: dnf with repo_gpgcheck=1 refuses a repository whose
// repomd.xml signature is missing, corrupt or another key's, and one
// whose primary metadata does not match repomd.xml.
func TestYumRefused(t *testing.T) {
	k := newKey(t, t.TempDir(), "repo")
	other := newKey(t, t.TempDir(), "other")
	tests := []struct {
		name   string
		sign   *testKey
		break_ func(t *testing.T, dir string)
		want   string
	}{
		{name: "unsigned", want: "GPG signature is not available"},
		{name: "signed by another key", sign: other, want: "repomd.xml GPG signature verification error"},
		{name: "signature changed", sign: k, break_: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "repodata/repomd.xml.asc")
			b, _ := os.ReadFile(p)
			lines := strings.Split(string(b), "\n")
			// A character in the middle of the signature's base64.
			l := []byte(lines[3])
			l[10] ^= 1
			lines[3] = string(l)
			writeAt(t, p, []byte(strings.Join(lines, "\n")))
		}, want: "repomd.xml GPG signature verification error"},
		{name: "primary changed and repomd.xml not re-signed", sign: k, break_: func(t *testing.T, dir string) {
			m, _ := filepath.Glob(filepath.Join(dir, "repodata/*-primary.xml.gz"))
			b, _ := os.ReadFile(m[0])
			z, _ := gzip.NewReader(bytes.NewReader(b))
			x, _ := io.ReadAll(z)
			nx := bytes.Replace(x, []byte(`ver="2.0"`), []byte(`ver="2.1"`), 1)
			if bytes.Equal(x, nx) {
				t.Fatal("nothing to tamper with")
			}
			var gz bytes.Buffer
			w := gzip.NewWriter(&gz)
			w.Write(nx)
			w.Close()
			writeAt(t, m[0], gz.Bytes())
		}, want: "checksum doesn't match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := yumRepo(t, pkgA1, pkgA2)
			o := YumOptions{Date: epoch}
			if tt.sign != nil {
				o.Sign = tt.sign.sign.Detached
			}
			if _, err := Yum(context.Background(), dir, o); err != nil {
				t.Fatal(err)
			}
			if tt.break_ != nil {
				tt.break_(t, dir)
			}
			c := newDnfClient(t, dir, k.public)
			out, err := c.run("install", "klp-test-a")
			if err == nil || strings.Contains(out, "no enabled repositories") {
				t.Fatalf("dnf install succeeded, want it refused:\n%s", out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("dnf install output lacks %q:\n%s", tt.want, out)
			}
			if _, err := os.Stat(filepath.Join(c.installroot(), "opt/klp-test/klp-test-a.txt")); err == nil {
				t.Error("the package was installed")
			}
		})
	}
}

// TestYumMissingTool: without createrepo_c, Yum fails with a ToolError
// that names the program and the Debian package, and writes nothing.
func TestYumMissingTool(t *testing.T) {
	tests := []struct {
		name, tool, path string
	}{
		{"not on $PATH", "", t.TempDir()},
		{"named program missing", "/nonexistent/createrepo_c", os.Getenv("PATH")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("PATH", tt.path)
			_, err := Yum(context.Background(), dir, YumOptions{Date: epoch, Createrepo: tt.tool})
			te, ok := errors.AsType[*ToolError](err)
			if !ok || !errors.Is(err, ErrToolMissing) || te.Package != "createrepo-c" {
				t.Fatalf("Yum() = %v, want a ToolError for createrepo-c", err)
			}
			if !strings.Contains(err.Error(), "createrepo_c") || !strings.Contains(err.Error(), "createrepo-c") {
				t.Errorf("Yum() = %q, want the program and the Debian package named", err)
			}
			mustNotExist(t, filepath.Join(dir, "repodata"))
		})
	}
}

// TestYumHostile: a .rpm that is no rpm, no regular file or has a name
// the metadata cannot carry is refused naming it; an rpm createrepo_c
// cannot read is caught by the package count.
func TestYumHostile(t *testing.T) {
	good := func(t *testing.T) []byte {
		b, _ := os.ReadFile(pkgB.writeRPM(t, t.TempDir()))
		return b
	}
	tests := []struct {
		name    string
		file    string
		data    func(t *testing.T) []byte
		special func(t *testing.T, path string)
		wantErr error
		wantMsg string
	}{
		{name: "garbage", file: "g.rpm", data: func(*testing.T) []byte { return bytes.Repeat([]byte("garbage!"), 100) },
			wantErr: ErrBadPackage, wantMsg: "file g.rpm: not an rpm package"},
		{name: "truncated lead", file: "t.rpm", data: func(t *testing.T) []byte { return good(t)[:50] },
			wantErr: ErrBadPackage, wantMsg: "file t.rpm: truncated rpm lead"},
		{name: "truncated header", file: "h.rpm", data: func(t *testing.T) []byte { return good(t)[:400] },
			wantErr: ErrTool, wantMsg: "lists 1 packages, the directory has 2"},
		{name: "FIFO", file: "fifo.rpm", special: func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrBadPackage, wantMsg: "fifo.rpm: not a regular file"},
		{name: "symbolic link", file: "link.rpm", special: func(t *testing.T, p string) {
			if err := os.Symlink(pkgB.writeRPM(t, t.TempDir()), p); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrBadPackage, wantMsg: "link.rpm: not a regular file"},
		{name: "escape in the name", file: "x\x1b]0;pwned\a.rpm", data: good, wantErr: ErrBadName, wantMsg: strconv.Quote("x\x1b]0;pwned\a.rpm")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := yumRepo(t, pkgA1)
			p := filepath.Join(dir, tt.file)
			if tt.special != nil {
				tt.special(t, p)
			} else {
				writeAt(t, p, tt.data(t))
			}
			_, err := Yum(context.Background(), dir, YumOptions{Date: epoch})
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Yum() = %v, want %v saying %q", err, tt.wantErr, tt.wantMsg)
			}
			if tt.wantErr != ErrTool {
				mustNotExist(t, filepath.Join(dir, "repodata"))
			}
		})
	}
}

// TestYumDeterministic: the same rpms, copied at other times into another
// directory, give byte-identical repodata.
func TestYumDeterministic(t *testing.T) {
	a := yumRepo(t, pkgA1, pkgA2, pkgB)
	b := t.TempDir()
	later := time.Now().Add(1000 * time.Hour)
	filepath.WalkDir(a, func(p string, d fs.DirEntry, _ error) error {
		if d.Type().IsRegular() {
			x, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(a, p)
			writeAt(t, filepath.Join(b, rel), x)
			os.Chtimes(filepath.Join(b, rel), later, later)
		}
		return nil
	})
	ga, err := Yum(context.Background(), a, YumOptions{Date: epoch})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		gb, err := Yum(context.Background(), b, YumOptions{Date: epoch})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(ga, " ") != strings.Join(gb, " ") {
			t.Errorf("Yum wrote %q, then %q", ga, gb)
		}
	}
	for _, f := range ga {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs over the same packages (%v)", f, err)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(b, "repodata/*")); len(m) != len(ga) {
		t.Errorf("repodata holds %d files after two runs, want %d: %q", len(m), len(ga), m)
	}
}
