package pack

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// fixedConfig makes keys and signatures the same on every run (Ed25519
// is deterministic given the key, the time and the salt), so that a
// signature of other data fails the two-byte digest check every time,
// not all but once in 65,536.
func fixedConfig(seed uint64, h crypto.Hash) *packet.Config {
	return &packet.Config{
		Algorithm:   packet.PubKeyAlgoEdDSA,
		DefaultHash: h,
		Rand:        rand.NewChaCha8([32]byte{byte(seed)}),
		Time:        func() time.Time { return epoch },
	}
}

// edKey makes a quick Ed25519 OpenPGP key, the same for the same seed.
func edKey(t testing.TB, seed uint64) *openpgp.Entity {
	t.Helper()
	ent, err := openpgp.NewEntity("klpack test", "", "klpack-test@example.com", fixedConfig(seed, crypto.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	return ent
}

// weakSig signs data with ent's primary key and SHA-1, which DetachSign
// will not do.
func weakSig(t testing.TB, ent *openpgp.Entity, data []byte) []byte {
	t.Helper()
	sig := &packet.Signature{Version: 4, SigType: packet.SigTypeBinary, PubKeyAlgo: ent.PrivateKey.PubKeyAlgo, Hash: crypto.SHA1, CreationTime: time.Now(), IssuerKeyId: &ent.PrivateKey.KeyId}
	h, err := sig.PrepareSign(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.Write(data)
	off := false // the salt notation has no size for SHA-1
	if err := sig.Sign(h, ent.PrivateKey, &packet.Config{NonDeterministicSignaturesViaNotation: &off}); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	sig.Serialize(&b)
	return b.Bytes()
}

// detach signs data with ent, binary, with cfg's hash.
func detach(t testing.TB, ent *openpgp.Entity, data []byte, h crypto.Hash) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := openpgp.DetachSign(&b, ent, bytes.NewReader(data), fixedConfig(1, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func armored(t testing.TB, typ string, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := armor.Encode(&out, typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// TestVerifySignature feeds VerifySignature what a broken or hostile sign
// command could print.
func TestVerifySignature(t *testing.T) {
	data := []byte("the package header and payload")
	key, other := edKey(t, 1), edKey(t, 2)
	ring := openpgp.EntityList{key}
	good := detach(t, key, data, crypto.SHA256)
	var textSig, pubKey bytes.Buffer
	if err := openpgp.DetachSignText(&textSig, key, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	key.PrimaryKey.Serialize(&pubKey)
	tests := []struct {
		name    string
		sig     []byte
		keyring openpgp.EntityList
		wantErr string // "" accepts
	}{
		{"good", good, nil, ""},
		{"good, with the key", good, ring, ""},
		{"good, SHA-512", detach(t, key, data, crypto.SHA512), ring, ""},
		{"good, armored", armored(t, openpgp.SignatureType, good), ring, ""},
		{"empty", nil, nil, "empty"},
		{"garbage", []byte("hsm says hello\n"), nil, "not an OpenPGP packet"},
		{"huge garbage", bytes.Repeat([]byte{0xff}, 1<<20), nil, "not an OpenPGP packet"},
		{"truncated", good[:len(good)-10], nil, "not an OpenPGP packet"},
		{"trailing bytes", append(append([]byte{}, good...), 0x00), nil, "1 bytes after the signature"},
		{"two signatures", append(append([]byte{}, good...), good...), nil, "bytes after the signature"},
		{"other data", detach(t, key, []byte("other data"), crypto.SHA256), nil, "it signs other data"},
		{"other data, with the key", detach(t, key, []byte("other data"), crypto.SHA256), ring, "it signs other data"},
		{"other key, with the key", detach(t, other, data, crypto.SHA256), ring, "not a valid signature by the given keys"},
		{"text signature", textSig.Bytes(), nil, "signature type 0x01, want 0x00"},
		{"weak hash", weakSig(t, key, data), nil, "hash SHA-1, want SHA-256"},
		{"a public key", pubKey.Bytes(), nil, "an OpenPGP *packet.PublicKey, want a signature"},
		{"armored key", armored(t, openpgp.PublicKeyType, pubKey.Bytes()), nil, `armored "PGP PUBLIC KEY BLOCK"`},
		{"armored garbage", armored(t, openpgp.SignatureType, []byte("garbage")), nil, "not an OpenPGP packet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifySignature(data, tt.sig, tt.keyring)
			if tt.wantErr == "" {
				want := tt.sig
				if bytes.HasPrefix(want, []byte("-----BEGIN")) {
					want = good
				}
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("VerifySignature = %d bytes, %v, want the binary signature", len(got), err)
				}
				return
			}
			if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), tt.wantErr) || got != nil {
				t.Errorf("VerifySignature = %d bytes, %v, want ErrBadSignature saying %q", len(got), err, tt.wantErr)
			}
		})
	}
}

// TestCommandSigner: what a sign command prints is bounded and checked
// before a package gets it.
func TestCommandSigner(t *testing.T) {
	data := []byte("the package header and payload")
	key := edKey(t, 1)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	otherSig := write("other.sig", detach(t, key, []byte("other data"), crypto.SHA256))
	byOther := write("byother.sig", detach(t, edKey(t, 2), data, crypto.SHA256))
	ring := openpgp.EntityList{key}
	tests := []struct {
		name, command string
		keyring       openpgp.EntityList
		wantErr       string
	}{
		{"garbage", "cat >/dev/null; echo garbage", nil, "not an OpenPGP packet"},
		{"nothing", "cat >/dev/null", nil, "printed no signature"},
		{"endless", "yes", nil, "printed more than 65536 bytes"},
		{"other data", "cat " + otherSig, nil, "it signs other data"},
		{"other key", "cat " + byOther, ring, "not a valid signature by the given keys"},
		{"fails", "echo 'hsm \033[31moffline' >&2; exit 3", nil, `exit status 3: "hsm \x1b[31moffline"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			sig, err := CommandSigner(context.Background(), tt.command, tt.keyring)(bytes.NewReader(data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || sig != nil {
				t.Errorf("sign command %q = %d bytes, %v, want an error saying %q", tt.command, len(sig), err, tt.wantErr)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("sign command %q took %v", tt.command, d)
			}
		})
	}
	// The signature a command prints over what it read is accepted.
	good := write("good.sig", detach(t, key, data, crypto.SHA256))
	if sig, err := CommandSigner(context.Background(), "cat >/dev/null; cat "+good, ring)(bytes.NewReader(data)); err != nil || len(sig) == 0 {
		t.Errorf("sign command printing a good signature = %v", err)
	}
}
