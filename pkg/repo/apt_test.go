package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAptInstall: the real apt-get, trusting only the key given with
// signed-by, updates from the repository Apt wrote and installs the
// newest release of a package into a scratch root (through dpkg --root),
// with both signatures and with only the detached one.
func TestAptInstall(t *testing.T) {
	tests := []struct {
		name      string
		clear     bool
		wantFiles []string
	}{
		{"InRelease and Release.gpg", true, []string{
			"dists/stable/main/binary-amd64/Packages", "dists/stable/main/binary-amd64/Packages.gz",
			"dists/stable/Release", "dists/stable/Release.gpg", "dists/stable/InRelease"}},
		{"Release.gpg only (a sign command)", false, []string{
			"dists/stable/main/binary-amd64/Packages", "dists/stable/main/binary-amd64/Packages.gz",
			"dists/stable/Release", "dists/stable/Release.gpg"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := aptRepo(t, pkgA1, pkgA2, pkgB, pkgAll)
			k := newKey(t, t.TempDir(), "repo")
			sign := k.sign
			if !tt.clear {
				sign.Clear = nil
			}
			got, err := Apt(context.Background(), dir, AptOptions{Date: epoch, Sign: sign})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != strings.Join(tt.wantFiles, " ") {
				t.Errorf("Apt wrote %q, want %q", got, tt.wantFiles)
			}
			if _, err := os.Stat(filepath.Join(dir, "dists/stable/InRelease")); tt.clear == os.IsNotExist(err) {
				t.Errorf("InRelease: %v, want it written: %v", err, tt.clear)
			}
			c := newAptClient(t, dir, k.public)
			if out, err := c.run("update"); err != nil || strings.Contains(out, "W: GPG") || strings.Contains(out, "not signed") {
				t.Fatalf("apt-get update: %v\n%s", err, out)
			}
			out, err := c.run("install", "klp-test-a", "klp-test-all")
			if err != nil {
				t.Fatalf("apt-get install: %v\n%s", err, out)
			}
			b, err := os.ReadFile(filepath.Join(c.root, "opt/klp-test/klp-test-a.txt"))
			if err != nil || string(b) != "payload of klp-test-a 2.0\n" {
				t.Errorf("installed klp-test-a.txt = %q, %v; want the 2.0 payload\n%s", b, err, out)
			}
			if _, err := os.Stat(filepath.Join(c.root, "opt/klp-test/klp-test-all.txt")); err != nil {
				t.Errorf("Architecture: all package not installed: %v", err)
			}
			q, err := exec.Command("dpkg-query", "--admindir="+filepath.Join(c.root, "var/lib/dpkg"), "-W", "klp-test-a").CombinedOutput()
			if err != nil || string(q) != "klp-test-a\t2.0-1\n" {
				t.Errorf("dpkg-query -W klp-test-a = %q, %v", q, err)
			}
		})
	}
}

// TestAptRefused: apt-get refuses a repository whose indexes do not match
// its signed Release, or whose Release is unsigned or signed by a key
// signed-by does not name.
func TestAptRefused(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, dir string, k *testKey) // after Apt
		opts   func(o *AptOptions, other *testKey)
		step   string // the apt-get command that must fail
		want   []string
	}{
		{name: "Packages changed, Release not re-signed", step: "update",
			break_: func(t *testing.T, dir string, _ *testKey) {
				p := filepath.Join(dir, "dists/stable/main/binary-amd64/Packages")
				b, _ := os.ReadFile(p)
				// One byte: the 2.0 release's size, so apt would fetch a
				// file the signature never covered.
				nb := bytes.Replace(b, []byte("Version: 2.0-1"), []byte("Version: 2.1-1"), 1)
				if bytes.Equal(b, nb) {
					t.Fatal("nothing to tamper with")
				}
				writeAt(t, p, nb)
				var gz bytes.Buffer
				z := gzip.NewWriter(&gz)
				z.Write(nb)
				z.Close()
				writeAt(t, p+".gz", gz.Bytes())
			},
			want: []string{"Hash Sum mismatch"}},
		{name: "unsigned", step: "update",
			opts: func(o *AptOptions, _ *testKey) { o.Sign = Signer{} },
			want: []string{"is not signed"}},
		{name: "signed by another key", step: "update",
			opts: func(o *AptOptions, other *testKey) { o.Sign = other.sign },
			want: []string{"NO_PUBKEY", "is not signed"}},
		{name: "Release changed after signing, InRelease gone", step: "update",
			break_: func(t *testing.T, dir string, _ *testKey) {
				p := filepath.Join(dir, "dists/stable/Release")
				b, _ := os.ReadFile(p)
				writeAt(t, p, bytes.Replace(b, []byte("Label: klpack"), []byte("Label: klpacK"), 1))
				os.Remove(filepath.Join(dir, "dists/stable/InRelease"))
			},
			want: []string{"BADSIG", "is not signed"}},
		{name: "InRelease text changed", step: "update",
			break_: func(t *testing.T, dir string, _ *testKey) {
				p := filepath.Join(dir, "dists/stable/InRelease")
				b, _ := os.ReadFile(p)
				writeAt(t, p, bytes.Replace(b, []byte("Label: klpack"), []byte("Label: klpacK"), 1))
			},
			want: []string{"BADSIG", "is not signed"}},
	}
	k := newKey(t, t.TempDir(), "repo")
	other := newKey(t, t.TempDir(), "other")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := aptRepo(t, pkgA1, pkgA2)
			o := AptOptions{Date: epoch, Sign: k.sign}
			if tt.opts != nil {
				tt.opts(&o, other)
			}
			if _, err := Apt(context.Background(), dir, o); err != nil {
				t.Fatal(err)
			}
			if tt.break_ != nil {
				tt.break_(t, dir, k)
			}
			c := newAptClient(t, dir, k.public)
			out, err := c.run("update")
			if tt.step == "install" {
				if err != nil {
					t.Fatalf("apt-get update: %v\n%s", err, out)
				}
				out, err = c.run("install", "klp-test-a")
			}
			if err == nil {
				t.Fatalf("apt-get %s succeeded, want it refused:\n%s", tt.step, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("apt-get %s output lacks %q:\n%s", tt.step, w, out)
				}
			}
			if _, err := os.Stat(filepath.Join(c.root, "opt/klp-test/klp-test-a.txt")); err == nil {
				t.Error("the package was installed")
			}
		})
	}
}

// stanza is the fields of one Packages or Release paragraph.
type stanza map[string]string

// parseStanzas reads deb822 paragraphs, continuation lines joined with
// "\n" as they are written.
func parseStanzas(t *testing.T, b []byte) []stanza {
	t.Helper()
	var out []stanza
	for _, para := range strings.Split(strings.TrimRight(string(b), "\n"), "\n\n") {
		s := stanza{}
		last := ""
		for _, line := range strings.Split(para, "\n") {
			if strings.HasPrefix(line, " ") {
				s[last] += "\n" + line
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("line %q is no field", line)
			}
			if _, dup := s[k]; dup {
				t.Fatalf("field %s twice in %q", k, para)
			}
			last, s[k] = k, strings.TrimPrefix(v, " ")
		}
		out = append(out, s)
	}
	return out
}

func fileSums(t *testing.T, path string) (size, md5sum, sha1sum, sha256sum string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, s1, s2 := md5.Sum(b), sha1.Sum(b), sha256.Sum256(b)
	return strconv.Itoa(len(b)), hex.EncodeToString(m[:]), hex.EncodeToString(s1[:]), hex.EncodeToString(s2[:])
}

// TestAptIndex: the Packages files list each package of its architecture
// and every Architecture: all package, sorted, with the deb's own control
// fields and the file's true location, size and sums; Release lists each
// index with its true size and sums; gpgv verifies Release.gpg and
// InRelease with the exported public key.
func TestAptIndex(t *testing.T) {
	dir := aptRepo(t, pkgB, pkgArm, pkgA2, pkgAll, pkgA1)
	k := newKey(t, t.TempDir(), "repo")
	o := AptOptions{Suite: "bookworm-klp", Component: "livepatch", Origin: "Example", Description: "livepatches", Date: epoch, Sign: k.sign}
	got, err := Apt(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"dists/bookworm-klp/livepatch/binary-amd64/Packages", "dists/bookworm-klp/livepatch/binary-amd64/Packages.gz",
		"dists/bookworm-klp/livepatch/binary-arm64/Packages", "dists/bookworm-klp/livepatch/binary-arm64/Packages.gz",
		"dists/bookworm-klp/Release", "dists/bookworm-klp/Release.gpg", "dists/bookworm-klp/InRelease",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Apt() = %q, want %q", got, want)
	}
	wantPkgs := map[string][]testPkg{
		"amd64": {pkgA1, pkgA2, pkgAll, pkgB},
		"arm64": {pkgArm, pkgAll},
	}
	suite := filepath.Join(dir, "dists/bookworm-klp")
	for arch, pkgs := range wantPkgs {
		p := filepath.Join(suite, "livepatch/binary-"+arch, "Packages")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		st := parseStanzas(t, b)
		if len(st) != len(pkgs) {
			t.Fatalf("%s: %d stanzas, want %d:\n%s", arch, len(st), len(pkgs), b)
		}
		for i, want := range pkgs {
			s := st[i]
			file := "pool/main/" + want.name[:1] + "/" + want.name + "/" + want.debName()
			size, m5, s1, s256 := fileSums(t, filepath.Join(dir, file))
			for f, v := range map[string]string{
				"Package": want.name, "Version": want.version + "-1", "Architecture": want.arch,
				"Maintainer":  "klpack tests <test@klpack.invalid>",
				"Description": "test package " + want.name + "\n second line of the description.",
				"Filename":    file, "Size": size, "MD5sum": m5, "SHA1": s1, "SHA256": s256,
			} {
				if s[f] != v {
					t.Errorf("%s stanza %d: %s = %q, want %q", arch, i, f, s[f], v)
				}
			}
		}
		gz, err := os.ReadFile(p + ".gz")
		if err != nil {
			t.Fatal(err)
		}
		z, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		if plain, err := io.ReadAll(z); err != nil || !bytes.Equal(plain, b) {
			t.Errorf("%s: Packages.gz does not hold Packages (%v)", arch, err)
		}
	}
	rel, err := os.ReadFile(filepath.Join(suite, "Release"))
	if err != nil {
		t.Fatal(err)
	}
	rs := parseStanzas(t, rel)
	if len(rs) != 1 {
		t.Fatalf("Release has %d paragraphs:\n%s", len(rs), rel)
	}
	for f, v := range map[string]string{
		"Origin": "Example", "Label": "Example", "Suite": "bookworm-klp", "Codename": "bookworm-klp",
		"Date": "Tue, 14 Nov 2023 22:13:20 UTC", "Architectures": "amd64 arm64", "Components": "livepatch",
		"Description": "livepatches",
	} {
		if rs[0][f] != v {
			t.Errorf("Release %s = %q, want %q", f, rs[0][f], v)
		}
	}
	indexes := []string{"livepatch/binary-amd64/Packages", "livepatch/binary-amd64/Packages.gz",
		"livepatch/binary-arm64/Packages", "livepatch/binary-arm64/Packages.gz"}
	for _, h := range []struct{ field string }{{"MD5Sum"}, {"SHA256"}} {
		lines := strings.Split(strings.TrimPrefix(rs[0][h.field], "\n"), "\n")
		if len(lines) != len(indexes) {
			t.Fatalf("Release %s lists %d files, want %d: %q", h.field, len(lines), len(indexes), lines)
		}
		for i, name := range indexes {
			size, m5, _, s256 := fileSums(t, filepath.Join(suite, name))
			sum := m5
			if h.field == "SHA256" {
				sum = s256
			}
			if f := strings.Fields(lines[i]); len(f) != 3 || f[0] != sum || f[1] != size || f[2] != name {
				t.Errorf("Release %s line %d = %q, want %s %s %s", h.field, i, lines[i], sum, size, name)
			}
		}
	}
	if out, err := gpgv(t, k.public, filepath.Join(suite, "Release.gpg"), filepath.Join(suite, "Release")); err != nil {
		t.Errorf("gpgv Release.gpg Release: %v\n%s", err, out)
	}
	if out, err := gpgv(t, k.public, filepath.Join(suite, "InRelease")); err != nil {
		t.Errorf("gpgv InRelease: %v\n%s", err, out)
	}
	in, _ := os.ReadFile(filepath.Join(suite, "InRelease"))
	if !bytes.Contains(in, rel) || !bytes.Contains(in, []byte("Hash: SHA256\n")) {
		t.Errorf("InRelease does not carry Release with a SHA256 signature:\n%s", in)
	}
}

// TestAptOptions: option values that would become bad paths or fields,
// and a repository whose architectures cannot be known, are refused.
func TestAptOptions(t *testing.T) {
	tests := []struct {
		name string
		pkgs []testPkg
		o    AptOptions
		ok   bool
	}{
		{"suite climbs out", []testPkg{pkgA1}, AptOptions{Suite: "../x", Date: epoch}, false},
		{"component with a slash", []testPkg{pkgA1}, AptOptions{Component: "main/x", Date: epoch}, false},
		{"no date", []testPkg{pkgA1}, AptOptions{}, false},
		{"origin with a newline", []testPkg{pkgA1}, AptOptions{Origin: "a\nSHA256:", Date: epoch}, false},
		{"label with a trailing blank", []testPkg{pkgA1}, AptOptions{Label: "x ", Date: epoch}, false},
		{"architecture all", []testPkg{pkgA1}, AptOptions{Architectures: []string{"all"}, Date: epoch}, false},
		{"only Architecture: all packages", []testPkg{pkgAll}, AptOptions{Date: epoch}, false},
		{"only Architecture: all packages, architectures given", []testPkg{pkgAll}, AptOptions{Architectures: []string{"amd64"}, Date: epoch}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := aptRepo(t, tt.pkgs...)
			_, err := Apt(context.Background(), dir, tt.o)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrBadOptions) {
				t.Errorf("Apt() = %v, want ErrBadOptions", err)
			}
			mustNotExist(t, filepath.Join(dir, "dists"))
		})
	}
}

// TestAptHostile: a pool file that is no valid deb, is no regular file,
// has a name the index cannot carry, or forges index fields is refused
// with an error naming it, and nothing is written.
func TestAptHostile(t *testing.T) {
	good := func(t *testing.T) []byte {
		p := filepath.Join(t.TempDir(), "x.deb")
		pkgB.writeDeb(t, p)
		b, _ := os.ReadFile(p)
		return b
	}
	control := func(extra string) []byte {
		return debControl("Package: klp-evil\nVersion: 1.0\nArchitecture: amd64\n" + extra)
	}
	bomb := func(*testing.T) []byte {
		var gz bytes.Buffer
		z, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		z.Write(make([]byte, maxControlTar+1))
		z.Close()
		return arFile(map[string][]byte{"debian-binary": []byte("2.0\n"), "control.tar.gz": gz.Bytes()}, "debian-binary", "control.tar.gz")
	}
	tests := []struct {
		name    string
		file    string // under pool/
		data    func(t *testing.T) []byte
		special func(t *testing.T, path string) // makes the file instead
		wantErr error
		wantMsg string
	}{
		{name: "truncated", file: "t.deb", data: func(t *testing.T) []byte { b := good(t); return b[:len(b)/2] },
			wantErr: ErrBadPackage, wantMsg: "past the end of the file"},
		{name: "garbage", file: "g.deb", data: func(*testing.T) []byte { return bytes.Repeat([]byte("garbage!"), 100) },
			wantErr: ErrBadPackage, wantMsg: "not an ar archive"},
		{name: "empty", file: "e.deb", data: func(*testing.T) []byte { return nil },
			wantErr: ErrBadPackage, wantMsg: "not an ar archive"},
		{name: "no control member", file: "n.deb", data: func(*testing.T) []byte {
			return arFile(map[string][]byte{"debian-binary": []byte("2.0\n"), "data.tar.gz": gzEmptyTar()}, "debian-binary", "data.tar.gz")
		}, wantErr: ErrBadPackage, wantMsg: "no control.tar member"},
		{name: "control tar bomb", file: "b.deb", data: bomb, wantErr: ErrBadPackage, wantMsg: "exceeds limit"},
		{name: "forged Filename", file: "f.deb", data: func(*testing.T) []byte { return control("Filename: pool/other.deb\n") },
			wantErr: ErrBadPackage, wantMsg: "field Filename belongs to the index"},
		{name: "forged SHA256", file: "s.deb", data: func(*testing.T) []byte { return control("SHA256: 00\n") },
			wantErr: ErrBadPackage, wantMsg: "field SHA256 belongs to the index"},
		{name: "second stanza", file: "p.deb", data: func(*testing.T) []byte { return control("\nPackage: klp-other\n") },
			wantErr: ErrBadPackage, wantMsg: "blank line"},
		{name: "escape in a field", file: "c.deb", data: func(*testing.T) []byte { return control("Description: a\x1b[2Jb\n") },
			wantErr: ErrBadPackage, wantMsg: "control character"},
		{name: "field twice", file: "d.deb", data: func(*testing.T) []byte { return control("Version: 2.0\n") },
			wantErr: ErrBadPackage, wantMsg: "given twice"},
		{name: "architecture that is a path", file: "a.deb", data: func(*testing.T) []byte {
			return debControl("Package: klp-evil\nVersion: 1.0\nArchitecture: ../../x\n")
		}, wantErr: ErrBadPackage, wantMsg: "Architecture"},
		{name: "no version", file: "v.deb", data: func(*testing.T) []byte { return debControl("Package: klp-evil\nArchitecture: amd64\n") },
			wantErr: ErrBadPackage, wantMsg: "no Version field"},
		{name: "FIFO", file: "fifo.deb", special: func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrBadPackage, wantMsg: "not a regular file"},
		{name: "symbolic link out of the repository", file: "link.deb", special: func(t *testing.T, p string) {
			out := filepath.Join(t.TempDir(), "real.deb")
			pkgB.writeDeb(t, out)
			if err := os.Symlink(out, p); err != nil {
				t.Fatal(err)
			}
		}, wantErr: ErrBadPackage, wantMsg: "not a regular file"},
		{name: "escape in the name", file: "bad\x1b[2Jname.deb", data: good, wantErr: ErrBadName, wantMsg: `\x1b`},
		{name: "newline in the name", file: "bad\nSize: 1.deb", data: good, wantErr: ErrBadName, wantMsg: `\n`},
		{name: "space in the name", file: "a b.deb", data: good, wantErr: ErrBadName, wantMsg: "a b.deb"},
		{name: "the same package twice", file: "copy.deb", data: func(t *testing.T) []byte {
			p := filepath.Join(t.TempDir(), "x.deb")
			pkgA1.writeDeb(t, p)
			b, _ := os.ReadFile(p)
			return b
		}, wantErr: ErrBadPackage, wantMsg: "is also pool/main/k/klp-test-a/klp-test-a_1.0-1_amd64.deb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := aptRepo(t, pkgA1)
			p := filepath.Join(dir, "pool", "zz", tt.file)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if tt.special != nil {
				tt.special(t, p)
			} else {
				writeAt(t, p, tt.data(t))
			}
			_, err := Apt(context.Background(), dir, AptOptions{Date: epoch})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Apt() = %v, want %v", err, tt.wantErr)
			}
			msg := err.Error()
			name := "pool/zz/" + tt.file
			if tt.wantErr == ErrBadName {
				name = strconv.Quote(name)
				if !strings.ContainsAny(tt.file, "\x1b\n") {
					name = "pool/zz/" + tt.file
				}
			}
			if !strings.Contains(msg, name) || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("Apt() = %q, want it to name %s and say %q", msg, name, tt.wantMsg)
			}
			if strings.ContainsAny(msg, "\x1b\n") {
				t.Errorf("Apt() error carries raw control characters: %q", msg)
			}
			mustNotExist(t, filepath.Join(dir, "dists"))
		})
	}
}

// TestAptDeterministic: the same packages give byte-identical indexes,
// whatever the files' times, the order they were written in, or a run
// before; signatures a later unsigned run does not make are removed.
func TestAptDeterministic(t *testing.T) {
	k := newKey(t, t.TempDir(), "repo")
	a := aptRepo(t, pkgA1, pkgA2, pkgB, pkgAll, pkgArm)
	b := aptRepo(t, pkgArm, pkgAll, pkgB, pkgA2, pkgA1)
	later := epoch.Add(1000 * time.Hour)
	filepath.WalkDir(b, func(p string, _ fs.DirEntry, _ error) error { return os.Chtimes(p, later, later) })
	ga, err := Apt(context.Background(), a, AptOptions{Date: epoch, Sign: k.sign})
	if err != nil {
		t.Fatal(err)
	}
	// b twice: the second run over the first's output.
	for range 2 {
		if _, err := Apt(context.Background(), b, AptOptions{Date: epoch}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range ga {
		if strings.HasSuffix(f, ".gpg") || strings.HasSuffix(f, "InRelease") {
			mustNotExist(t, filepath.Join(b, f))
			continue
		}
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, err := os.ReadFile(filepath.Join(b, f))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs over the same packages (%v)", f, err)
		}
	}
	// A signed run, then an unsigned one: no signature of the old
	// Release is left.
	if _, err := Apt(context.Background(), a, AptOptions{Date: epoch}); err != nil {
		t.Fatal(err)
	}
	mustNotExist(t, filepath.Join(a, "dists/stable/InRelease"))
	mustNotExist(t, filepath.Join(a, "dists/stable/Release.gpg"))
}
