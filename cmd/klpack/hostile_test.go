package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klpack/klpack/internal/testutil"
)

// maxRSS is the bound on the peak memory of klpack refusing an
// input, whatever its size.
const maxRSS = 256 << 20

// TestHostileFiles gives every flag and argument that names a file a
// FIFO, a character device that never ends and a 2 GiB sparse file:
// klpack must refuse each promptly, name the file and stay under maxRSS.
// A hang is caught by the deadline, not timed: it would block forever.
func TestHostileFiles(t *testing.T) {
	klpack, td, ko, dir, key, cert, mod := fileArgFixture(t)

	inputs := map[string]string{
		"fifo":   filepath.Join(dir, "fifo"),
		"device": "/dev/zero",
		"sparse": filepath.Join(dir, "sparse"),
	}
	if err := syscall.Mkfifo(inputs["fifo"], 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inputs["sparse"], nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(inputs["sparse"], 2<<30); err != nil {
		t.Fatal(err)
	}

	// X stands for the hostile file.
	surfaces := [][]string{
		{"scan", "X"},
		{"scan", "--vmlinux-btf", "X", ko},
		{"check", "X"},
		{"check", "--deployed", "X", ko},
		{"check", "--ack", "X", ko},
		{"check", "--symbols", "X", ko},
		{"check", "--filter-functions", "X", ko},
		{"check", "--kernel-config", "X", ko},
		{"check", "--vmlinux-btf", "X", ko},
		{"plan", "--deployed", "X", ko},
		{"simulate", "X"},
		{"deploy", "show", "X"},
		{"sign", "--key", "X", "--cert", cert, "-o", filepath.Join(dir, "out.ko"), mod},
		{"sign", "--key", key, "--cert", "X", "-o", filepath.Join(dir, "out.ko"), mod},
		{"sign", "--key", key, "--cert", cert, "--passphrase-file", "X", "-o", filepath.Join(dir, "out.ko"), mod},
		{"sign", "--key", key, "--cert", cert, "-o", filepath.Join(dir, "out.ko"), "X"},
		{"package", "-o", filepath.Join(dir, "out"), "X"},
		{"release", "--snapshot", "-o", filepath.Join(dir, "out"), "-f", "X"},
		{"release", "-o", filepath.Join(dir, "out"), "--sign-key", "X", "-f", filepath.Join(td, "klpack.yaml")},
		{"check", "-f", "X"},
		{"package", "--sign-key", "X", "-o", filepath.Join(dir, "out"), filepath.Join(td, "release-6.1.yaml")},
		{"package", "--sign-key", key, "--passphrase-file", "X", "-o", filepath.Join(dir, "out"), filepath.Join(td, "release-6.1.yaml")},
		{"hooks", "attach", "--bpffs", dir, "X"},
	}
	for _, s := range surfaces {
		for kind, path := range inputs {
			args := withFile(s, path)
			name := strings.Join(s, " ") + " " + kind
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, klpack, args...)
				out, err := cmd.CombinedOutput()
				if ctx.Err() != nil {
					t.Fatalf("klpack %s: still running after 20 s (a hang)", strings.Join(args, " "))
				}
				if err == nil {
					t.Errorf("klpack %s: exit 0, want a refusal", strings.Join(args, " "))
				}
				if !strings.Contains(string(out), path) {
					t.Errorf("klpack %s: the error does not name %s:\n%s", strings.Join(args, " "), path, out)
				}
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss*1024 > maxRSS {
					t.Errorf("klpack %s: peak memory %d MiB, the bound is %d MiB", strings.Join(args, " "), ru.Maxrss>>10, maxRSS>>20)
				}
			})
		}
	}
}

// fileArgFixture is what the tests that give every file argument a bad
// file share: the installed klpack, the repository's testdata, a module,
// a scratch directory with a signing key and certificate, and a copy of
// the module in it.
func fileArgFixture(t *testing.T) (klpack, td, ko, dir, key, cert, mod string) {
	t.Helper()
	klpack, err := exec.LookPath("klpack") // installed by testscript.Main
	if err != nil {
		t.Fatal(err)
	}
	if td, err = filepath.Abs(filepath.Join(testutil.Root(), "testdata")); err != nil {
		t.Fatal(err)
	}
	ko = filepath.Join(td, "ko", "6.1.0-56-amd64", "lp_replace.ko")
	dir = t.TempDir()
	key, cert = writeKey(t, dir)
	mod = filepath.Join(dir, "mod.ko")
	copyFile(t, ko, mod)
	return klpack, td, ko, dir, key, cert, mod
}

// withFile is args with the placeholder X replaced by path.
func withFile(args []string, path string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		if a == "X" {
			out[i] = path
		}
	}
	return out
}

// writeKey writes a module signing key and its certificate.
func writeKey(t *testing.T, dir string) (key, cert string) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "klpack test"}, NotAfter: time.Now().Add(time.Hour)}
	cder, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	key, cert = filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cder}), 0o644); err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestErrorsEscaped: an error that carries a name from outside input
// reaches the terminal with its control characters escaped.
func TestErrorsEscaped(t *testing.T) {
	name := filepath.Join(t.TempDir(), "a\x1b[2J\x1b[31mred\u202e", "x.ko")
	var stdout, stderr strings.Builder
	if code := run(t.Context(), []string{"check", name}, &stdout, &stderr); code == 0 {
		t.Fatalf("check of a missing file exited 0")
	}
	if got := stderr.String(); strings.ContainsAny(got, "\x1b\u202e") || !strings.Contains(got, `a\x1b[2J\x1b[31mred\u202e`) {
		t.Errorf("stderr = %q, want the name with its escapes written out", got)
	}
}
