package modsign_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klpack/klpack/elfscan"
	"github.com/klpack/klpack/internal/testutil"
	"github.com/klpack/klpack/pkg/modsign"
)

// newCert makes a self-signed module signing certificate like the kernel's
// certs/default_x509.genkey asks for.
func newCert(t *testing.T, key crypto.Signer, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(0x1234abcd5678),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"klpack tests"}},
		NotBefore:             time.Unix(1700000000, 0),
		NotAfter:              time.Unix(4000000000, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		SubjectKeyId:          []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func module(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.Root(), "testdata", "ko", "6.1.0-56-amd64", "lp_noreplace.ko"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendReadsBack(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mod := module(t)
	tests := []struct {
		name       string
		key        crypto.Signer
		opts       modsign.Options
		wantSigner string
		wantKeyID  string
		wantHash   string
	}{
		{"rsa sha256", rsaKey, modsign.Options{}, "klpack test signer", "12:34:AB:CD:56:78", "sha256"},
		{"rsa sha512", rsaKey, modsign.Options{Hash: "sha512"}, "klpack test signer", "12:34:AB:CD:56:78", "sha512"},
		{"rsa keyid", rsaKey, modsign.Options{KeyID: true}, "", "DE:AD:BE:EF:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10", "sha256"},
		{"ecdsa sha384", ecKey, modsign.Options{Hash: "sha384"}, "klpack test signer", "12:34:AB:CD:56:78", "sha384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert := newCert(t, tt.key, "klpack test signer")
			var buf bytes.Buffer
			if err := modsign.Append(&buf, mod, cert, tt.key, tt.opts); err != nil {
				t.Fatal(err)
			}
			signed := buf.Bytes()
			dir := t.TempDir()
			path := filepath.Join(dir, "lp_noreplace.ko")
			if err := os.WriteFile(path, signed, 0o644); err != nil {
				t.Fatal(err)
			}
			m, err := elfscan.Open(path, nil)
			if err != nil {
				t.Fatalf("elfscan.Open(signed) = %v", err)
			}
			s := m.Signature
			if s == nil || s.IDType != "PKCS#7" || s.Signer != tt.wantSigner || s.KeyID != tt.wantKeyID || s.HashAlgo != tt.wantHash {
				t.Errorf("scan of the signed module: signature %+v, want PKCS#7 %q %q %q", s, tt.wantSigner, tt.wantKeyID, tt.wantHash)
			}
			// Signing again replaces the signature instead of stacking one.
			var again bytes.Buffer
			if err := modsign.Append(&again, signed, cert, tt.key, tt.opts); err != nil {
				t.Fatal(err)
			}
			stripped, had, err := modsign.Strip(again.Bytes())
			if err != nil || !had || !bytes.Equal(stripped, mod) {
				t.Errorf("Strip(signed twice) = %d bytes, %v, %v; want the %d module bytes", len(stripped), had, err, len(mod))
			}
			opensslVerify(t, dir, mod, signed, cert)
		})
	}
}

// opensslVerify checks the signature with openssl cms -verify against the
// certificate as the only trust anchor, then that a changed module fails.
func opensslVerify(t *testing.T, dir string, mod, signed []byte, cert *x509.Certificate) {
	t.Helper()
	openssl := testutil.NeedTool(t, "openssl")
	end := len(signed) - len(modsign.Magic) - 12 // sizeof(struct module_signature)
	sig := signed[len(mod):end]
	files := map[string][]byte{
		"sig.p7":   sig,
		"mod.bin":  mod,
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		"bad.bin":  append(bytes.Clone(mod[:len(mod)-1]), mod[len(mod)-1]^1),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(content string) (string, error) {
		cmd := exec.Command(openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7",
			"-content", content, "-certfile", "cert.pem", "-CAfile", "cert.pem", "-purpose", "any", "-out", os.DevNull)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := verify("mod.bin"); err != nil || !strings.Contains(out, "Verification successful") {
		t.Errorf("openssl cms -verify: %v\n%s", err, out)
	}
	if out, err := verify("bad.bin"); err == nil {
		t.Errorf("openssl cms -verify of a changed module succeeded:\n%s", out)
	}
}

func TestAppendErrors(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	other, _ := rsa.GenerateKey(rand.Reader, 1024)
	cert := newCert(t, rsaKey, "x")
	mod := module(t)
	tests := []struct {
		name    string
		module  []byte
		key     crypto.Signer
		opts    modsign.Options
		wantErr error
	}{
		{"not elf", []byte("\xfd7zXZ\x00compressed"), rsaKey, modsign.Options{}, modsign.ErrNotModule},
		{"wrong key", mod, other, modsign.Options{}, modsign.ErrKeyMismatch},
		{"unknown hash", mod, rsaKey, modsign.Options{Hash: "md5"}, modsign.ErrUnknownHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := modsign.Append(&bytes.Buffer{}, tt.module, cert, tt.key, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Append() = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestLoadKey(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 1024)
	dir := t.TempDir()
	der := x509.MarshalPKCS1PrivateKey(key)
	//lint:ignore SA1019 testing the legacy format sign-file reads
	blk, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", der, []byte("s3cret"), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(dir, "enc.pem")
	os.WriteFile(enc, pem.EncodeToMemory(blk), 0o600)
	if _, err := modsign.LoadKey(enc, []byte("s3cret")); err != nil {
		t.Errorf("LoadKey(right passphrase) = %v", err)
	}
	for _, pass := range []string{"", "wrong"} {
		if _, err := modsign.LoadKey(enc, []byte(pass)); !errors.Is(err, modsign.ErrEncryptedKey) {
			t.Errorf("LoadKey(passphrase %q) = %v, want ErrEncryptedKey", pass, err)
		} else if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "BEGIN") {
			t.Errorf("LoadKey error quotes secrets: %v", err)
		}
	}
	if _, err := modsign.LoadKey(filepath.Join(dir, "missing.pem"), nil); err == nil {
		t.Error("LoadKey(missing file) succeeded")
	}
}

// TestLoadRefusesUnreadable: keys and certificates that are no regular
// file, or too big for one, are refused at once, naming the file, before
// anything is read: a FIFO would block, /dev/zero never ends, and a sparse
// 2 GiB file would be read whole.
func TestLoadRefusesUnreadable(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "key.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse.pem")
	if err := os.WriteFile(sparse, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, 2<<30); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{fifo, "not a regular file (a FIFO)"},
		{"/dev/zero", "not a regular file (a character device)"},
		{dir, "not a regular file (a directory)"},
		{sparse, "the file has 2147483648 bytes, the limit is 1048576"},
	}
	for _, tt := range tests {
		for name, load := range map[string]func(string) error{
			"LoadKey":  func(p string) error { _, err := modsign.LoadKey(p, nil); return err },
			"LoadCert": func(p string) error { _, err := modsign.LoadCert(p); return err },
		} {
			start := time.Now()
			err := load(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s(%s) = %v, want an error naming it and saying %q", name, tt.path, err, tt.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%s(%s) took %v", name, tt.path, d)
			}
		}
	}
}
