package pack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/klpack/klpack/internal/testutil"
)

const testPassphrase = "correct horse battery staple"

// testKey makes an RSA OpenPGP key and writes its secret half, encrypted
// with testPassphrase, to key.asc, and its public half to pub.asc (armored)
// and pub.gpg (binary, a keyring for debsig-verify). It returns the dir
// and the long key id in uppercase hex.
func testKey(t *testing.T) (dir, keyID string) {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048}
	ent, err := openpgp.NewEntity("klpack test", "", "klpack-test@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	var pub, pubBin bytes.Buffer
	w, _ := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	ent.Serialize(w)
	w.Close()
	ent.Serialize(&pubBin)
	var sec bytes.Buffer
	if err := ent.EncryptPrivateKeys([]byte(testPassphrase), cfg); err != nil {
		t.Fatal(err)
	}
	w, _ = armor.Encode(&sec, openpgp.PrivateKeyType, nil)
	if err := ent.SerializePrivateWithoutSigning(w, cfg); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for name, b := range map[string][]byte{"key.asc": sec.Bytes(), "pub.asc": pub.Bytes(), "pub.gpg": pubBin.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, fmt.Sprintf("%016X", ent.PrimaryKey.KeyId)
}

func TestOpenPGPSignerErrors(t *testing.T) {
	dir, _ := testKey(t)
	key := filepath.Join(dir, "key.asc")
	if _, err := OpenPGPSigner(key, []byte("wrong")); !errors.Is(err, ErrBadPassphrase) || !strings.Contains(err.Error(), key) {
		t.Errorf("OpenPGPSigner(wrong passphrase) = %v, want ErrBadPassphrase naming the key", err)
	} else if strings.Contains(err.Error(), "wrong") && !strings.Contains(err.Error(), "wrong passphrase") {
		t.Errorf("error quotes the passphrase: %v", err)
	}
	if _, err := OpenPGPSigner(key, nil); err == nil || !strings.Contains(err.Error(), "no passphrase") {
		t.Errorf("OpenPGPSigner(no passphrase) = %v", err)
	}
	if _, err := OpenPGPSigner(filepath.Join(dir, "pub.asc"), nil); err == nil || !strings.Contains(err.Error(), "no OpenPGP secret key") {
		t.Errorf("OpenPGPSigner(public key) = %v", err)
	}
	if _, err := OpenPGPSigner(filepath.Join(dir, "missing"), nil); err == nil {
		t.Error("OpenPGPSigner(missing file) succeeded")
	}
}

// TestSignedRPM signs with the key file and checks with rpmkeys against
// the imported public key; a tampered payload is BAD.
func TestSignedRPM(t *testing.T) {
	rpmkeys := testutil.NeedTool(t, "rpmkeys")
	dir, keyID := testKey(t)
	sign, err := OpenPGPSigner(filepath.Join(dir, "key.asc"), []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := build(t, release(t, "release-6.1"), Options{Formats: []string{FormatRPM}, Sign: sign})
	pkg := pkgs["rpm:klp-patch-6.1.0-56-amd64-lp-noreplace"]
	root := t.TempDir()
	checksig := func(p string) (string, error) {
		out, err := exec.Command(rpmkeys, "--root", root, "--checksig", "-v", p).CombinedOutput()
		return string(out), err
	}
	if out, err := checksig(pkg); err == nil || !strings.Contains(out, "NOKEY") {
		t.Errorf("rpmkeys --checksig without the key: %v\n%s\nwant NOKEY", err, out)
	}
	if out, err := exec.Command(rpmkeys, "--root", root, "--import", filepath.Join(dir, "pub.asc")).CombinedOutput(); err != nil {
		t.Fatalf("rpmkeys --import: %v\n%s", err, out)
	}
	out, err := checksig(pkg)
	if err != nil || !strings.Contains(out, "key ID "+strings.ToLower(keyID[8:])+": OK") {
		t.Errorf("rpmkeys --checksig: %v\n%s\nwant an OK signature by %s", err, out, keyID)
	}
	b, _ := os.ReadFile(pkg)
	b[len(b)-100] ^= 0xff
	bad := filepath.Join(t.TempDir(), "tampered.rpm")
	os.WriteFile(bad, b, 0o644)
	if out, err := checksig(bad); err == nil || !strings.Contains(out, "BAD") {
		t.Errorf("rpmkeys --checksig of a tampered payload: %v\n%s\nwant BAD", err, out)
	}
}

// debsigTrust writes the policy and keyring debsig-verify needs for keyID.
func debsigTrust(t *testing.T, dir, keyID string) (policies, keyrings string) {
	t.Helper()
	policies, keyrings = filepath.Join(dir, "policies"), filepath.Join(dir, "keyrings")
	os.MkdirAll(filepath.Join(policies, keyID), 0o755)
	os.MkdirAll(filepath.Join(keyrings, keyID), 0o755)
	pol := `<?xml version="1.0"?>
<!DOCTYPE Policy SYSTEM "https://www.debian.org/debsig/1.0/policy.dtd">
<Policy xmlns="https://www.debian.org/debsig/1.0/">
  <Origin Name="klpack-test" id="` + keyID + `" Description="klpack test packages"/>
  <Selection>
    <Required Type="origin" File="debsig.gpg" id="` + keyID + `"/>
  </Selection>
  <Verification MinOptional="0">
    <Required Type="origin" File="debsig.gpg" id="` + keyID + `"/>
  </Verification>
</Policy>
`
	os.WriteFile(filepath.Join(policies, keyID, "klpack.pol"), []byte(pol), 0o644)
	pub, _ := os.ReadFile(filepath.Join(dir, "pub.gpg"))
	os.WriteFile(filepath.Join(keyrings, keyID, "debsig.gpg"), pub, 0o644)
	return policies, keyrings
}

func debsigVerify(t *testing.T, policies, keyrings, pkg string) (string, error) {
	t.Helper()
	tool := testutil.NeedTool(t, "debsig-verify")
	testutil.NeedTool(t, "gpg")
	out, err := exec.Command(tool, "--policies-dir", policies, "--keyrings-dir", keyrings, pkg).CombinedOutput()
	return string(out), err
}

// TestSignedDeb signs with debsig's origin signature and verifies it with
// debsig-verify; a tampered package fails.
func TestSignedDeb(t *testing.T) {
	dir, keyID := testKey(t)
	sign, err := OpenPGPSigner(filepath.Join(dir, "key.asc"), []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	pkgs := build(t, release(t, "release-6.1"), Options{Formats: []string{FormatDeb}, Sign: sign})
	pkg := pkgs["deb:klp-patch-6.1.0-56-amd64"]
	policies, keyrings := debsigTrust(t, dir, keyID)
	if out, err := debsigVerify(t, policies, keyrings, pkg); err != nil || !strings.Contains(out, "Verified package from 'klpack test packages'") {
		t.Errorf("debsig-verify: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(pkg)
	b[len(b)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "tampered.deb")
	os.WriteFile(bad, b, 0o644)
	if out, err := debsigVerify(t, policies, keyrings, bad); err == nil {
		t.Errorf("debsig-verify of a tampered package succeeded:\n%s", out)
	}
}

// TestSignCommand signs through an external command, as a KMS or HSM
// would: here gpg with the key in its own home, and the result verifies
// with rpmkeys and debsig-verify like a key-file signature.
func TestSignCommand(t *testing.T) {
	gpg := testutil.NeedTool(t, "gpg")
	rpmkeys := testutil.NeedTool(t, "rpmkeys")
	dir, keyID := testKey(t)
	home := filepath.Join(dir, "gnupg")
	os.Mkdir(home, 0o700)
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run() })
	passFile := filepath.Join(dir, "pass")
	os.WriteFile(passFile, []byte(testPassphrase+"\n"), 0o600)
	gpgArgs := fmt.Sprintf("%s --homedir %s --batch --pinentry-mode loopback --passphrase-file %s", gpg, home, passFile)
	if out, err := exec.Command("sh", "-c", gpgArgs+" --import "+filepath.Join(dir, "key.asc")).CombinedOutput(); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	pub, err := ReadPublicKeys(filepath.Join(dir, "pub.asc"))
	if err != nil {
		t.Fatal(err)
	}
	sign := CommandSigner(context.Background(), gpgArgs+" --digest-algo SHA256 --local-user "+keyID+" --detach-sign", pub)
	pkgs := build(t, release(t, "release-6.1"), Options{Sign: sign})
	root := t.TempDir()
	if out, err := exec.Command(rpmkeys, "--root", root, "--import", filepath.Join(dir, "pub.asc")).CombinedOutput(); err != nil {
		t.Fatalf("rpmkeys --import: %v\n%s", err, out)
	}
	out, err := exec.Command(rpmkeys, "--root", root, "--checksig", "-v", pkgs["rpm:klp-patch-6.1.0-56-amd64"]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Errorf("rpmkeys --checksig: %v\n%s", err, out)
	}
	policies, keyrings := debsigTrust(t, dir, keyID)
	if out, err := debsigVerify(t, policies, keyrings, pkgs["deb:klp-patch-6.1.0-56-amd64"]); err != nil {
		t.Errorf("debsig-verify: %v\n%s", err, out)
	}
	failing := CommandSigner(context.Background(), "echo hsm offline >&2; exit 3", nil)
	_, err = Build(context.Background(), release(t, "release-6.1"), t.TempDir(), Options{Sign: failing})
	if !errors.Is(err, ErrSign) || !strings.Contains(err.Error(), "hsm offline") {
		t.Errorf("Build with a failing sign command = %v, want ErrSign with its message", err)
	}
}
