package repo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"github.com/klpack/klpack/pkg/pack"
)

// TestClearSigner: pack.OpenPGPClearSigner makes a clearsigned document
// gpgv verifies and whose text is the input; it refuses input the
// clear-signature would change, a wrong passphrase and a key file with no
// secret key. pack.OpenPGPPublicKey exports only the public key.
func TestClearSigner(t *testing.T) {
	dir := t.TempDir()
	k := newKey(t, dir, "repo")
	text := []byte("Origin: klpack\n-Dash: escaped\nLabel: x\n")
	doc, err := k.sign.Clear(text)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := clearsign.Decode(doc)
	if blk == nil || !bytes.Equal(blk.Plaintext, text) {
		t.Fatalf("clearsigned text = %q, want %q", blk.Plaintext, text)
	}
	p := filepath.Join(dir, "doc")
	writeAt(t, p, doc)
	if out, err := gpgv(t, k.public, p); err != nil {
		t.Errorf("gpgv: %v\n%s", err, out)
	}
	if _, err := k.sign.Clear([]byte("Label: x \n")); !errors.Is(err, pack.ErrBadSignature) {
		t.Errorf("Clear(trailing blank) = %v, want ErrBadSignature", err)
	}
	if _, err := pack.OpenPGPClearSigner(k.secret, []byte("wrong")); !errors.Is(err, pack.ErrBadPassphrase) {
		t.Errorf("OpenPGPClearSigner(wrong passphrase) = %v, want ErrBadPassphrase", err)
	}
	if _, err := pack.OpenPGPClearSigner(k.public, nil); err == nil || !strings.Contains(err.Error(), "no OpenPGP secret key") {
		t.Errorf("OpenPGPClearSigner(public key) = %v, want no secret key", err)
	}
	pub, _ := os.ReadFile(k.public)
	blkp, err := armor.Decode(bytes.NewReader(pub))
	if err != nil || blkp.Type != openpgp.PublicKeyType {
		t.Fatalf("public key file: %v, %v", blkp, err)
	}
	ents, err := openpgp.ReadKeyRing(blkp.Body)
	if err != nil || len(ents) != 1 || ents[0].PrivateKey != nil {
		t.Errorf("public key file holds %d keys (%v), secret: %v", len(ents), err, len(ents) == 1 && ents[0].PrivateKey != nil)
	}
}
