package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
